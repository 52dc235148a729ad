"""The Dask task runner, chosen by config alone: a scheduler address, a cluster class
(dask-jobqueue, Kubernetes) or, by default, a LocalCluster on this machine."""

from __future__ import annotations

import importlib
import os

import dask
from distributed.deploy.cluster import Cluster

from prefect_dask import DaskTaskRunner

from pdfgc.config import DASK_CLUSTER_MODULES, ComputeConfig
from pdfgc.errors import ConfigError
from pdfgc.procs import kill_with_parent


def share_ephemeral_api() -> None:
    """Let process workers report to the flow's own API in embedded mode.

    With no ``PREFECT_API_URL``, Prefect starts a temporary API server for the flow's process;
    a Dask worker process would start another one on the same SQLite file (slow, and
    "database is locked"). Starting that same server now and exporting its URL makes the
    workers, which inherit the environment, talk to it instead. A watchdog ends the server when
    this process dies, even by SIGKILL (``pdfgc.procs.kill_with_parent``).
    """
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    start_process = server._run_uvicorn_command

    def start_watched_process():  # the watchdog starts with the server, before its health check
        process = start_process()
        kill_with_parent(process.pid)
        return process

    server._run_uvicorn_command = start_watched_process
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url


def worker_environment(compute: ComputeConfig) -> dict[str, str]:
    """Dask's pre-spawn environment for LocalCluster workers, with ``compute.worker_env`` on top."""
    return {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **compute.worker_env}


NANNY_ADDED_ENV = ("PYTHONHASHSEED",)
"""What Dask's nanny sets in its own process besides the pre-spawn environment."""


class LocalDaskTaskRunner(DaskTaskRunner):
    """A LocalCluster's task runner that gives the flow's process its environment back on exit.

    Dask's nanny lives in the process that hosts the LocalCluster and, before it spawns a
    worker, writes the pre-spawn environment into that process's own ``os.environ``
    (``MALLOC_TRIM_THRESHOLD_=65536``, one OpenMP/MKL/OpenBLAS thread, ``PYTHONHASHSEED``), so
    every later subprocess inherited it. Under ``pdfgc demo`` the training ranks then had glibc
    hand their freed heap back to the kernel after every step: 130k page faults a second per
    rank, a third of their time in the kernel, stage 3 at 3.7 steps/s instead of 7.1.
    """

    def __enter__(self) -> "LocalDaskTaskRunner":
        keys = (*dask.config.get("distributed.nanny.pre-spawn-environ", {}), *NANNY_ADDED_ENV)
        self._environ_before = {key: os.environ.get(key) for key in keys}
        return super().__enter__()

    def __exit__(self, *args: object) -> None:
        try:
            super().__exit__(*args)
        finally:
            for key, value in self._environ_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def dask_cluster_class(dotted: str) -> type[Cluster]:
    """Import ``compute.cluster_class`` and accept it only if it is a Dask ``Cluster`` subclass
    from an allowed module: config must never name an arbitrary callable (``os.system``)."""
    module_name, _, name = dotted.rpartition(".")
    if not dotted.startswith(DASK_CLUSTER_MODULES) or not module_name:
        raise ConfigError(f"compute.cluster_class {dotted!r}: not in a Dask cluster module ({', '.join(DASK_CLUSTER_MODULES)})")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"compute.cluster_class {dotted!r}: cannot import ({exc})") from None
    if not (isinstance(found, type) and issubclass(found, Cluster)):
        raise ConfigError(f"compute.cluster_class {dotted!r}: not a Dask Cluster class")
    return found


def build_task_runner(compute: ComputeConfig) -> DaskTaskRunner:
    if compute.dask_address:
        return DaskTaskRunner(address=compute.dask_address)
    if compute.cluster_class:
        adapt = {"minimum": 1, "maximum": compute.adapt_max} if compute.adapt_max else None
        return DaskTaskRunner(
            cluster_class=dask_cluster_class(compute.cluster_class), cluster_kwargs=dict(compute.cluster_kwargs), adapt_kwargs=adapt
        )
    dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(compute)})
    kwargs = {
        "n_workers": compute.n_workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": compute.processes,
        "dashboard_address": None,
    }
    if compute.processes:
        kwargs["host"] = "127.0.0.1"
        share_ephemeral_api()
    return LocalDaskTaskRunner(cluster_kwargs=kwargs)
