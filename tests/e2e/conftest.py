"""Real engines on loopback for the end-to-end tests: a Prefect server, a Dask scheduler with
worker processes, and the generated sample set. Each starts once per test session."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.sample import load_sample_generator
from pdfgc.train.launch import free_port

BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 120


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], home: Path, health_url: str, what: str) -> Iterator[None]:
    """Run a server from ``home`` (its log in home/server.log) until it answers ``health_url``;
    stop it on exit."""
    with open(home / "server.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
        try:
            wait_until(lambda: http_ok(health_url), SERVER_START_TIMEOUT, what, process)
            yield
        finally:
            stop(process)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME; yields the API URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    api = f"http://127.0.0.1:{port}/api"
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, env, home, f"{api}/health", "prefect server"):
        yield api


def start_dask_cluster(logs: Path, prefect_api: str, n_workers: int = 2) -> dict:
    """A `dask scheduler` and single-threaded `dask worker` processes on loopback; the workers
    report task runs to the Prefect server."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "OMP_NUM_THREADS": "1"}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=env, stdout=open(logs / "scheduler.log", "wb"), stderr=subprocess.STDOUT)
    cluster = {"address": address, "workers": [], "scheduler": scheduler}
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, 60, "dask scheduler", scheduler)
        for index in range(n_workers):
            cluster["workers"].append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                 "--name", f"w{index}"], env=env, stdout=open(logs / f"worker{index}.log", "wb"), stderr=subprocess.STDOUT))
        wait_until(lambda: _n_workers(address) == n_workers, 90, "dask workers")
    except BaseException:
        for process in [*cluster["workers"], scheduler]:
            stop(process)
        raise
    return cluster


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory, prefect_server: str) -> Iterator[dict]:
    cluster = start_dask_cluster(tmp_path_factory.mktemp("dask"), prefect_server)
    try:
        yield cluster
    finally:
        for process in [*cluster["workers"], cluster["scheduler"]]:
            stop(process)


def _n_workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=5) as client:
        return len(client.scheduler_info()["workers"])


@pytest.fixture(scope="session")
def sample_set(tmp_path_factory) -> Path:
    """The bundled sample set at reduced size: 3 speakers x 1 clip x 5 s."""
    root = tmp_path_factory.mktemp("sample")
    load_sample_generator().generate_sample_set(root, speakers=3, clips_per_speaker=1, seconds=5.0)
    return root
