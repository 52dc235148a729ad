"""`pdfgc train` as a user runs it: a finished stage is not trained again, counts below one are
refused, every socket of a 2-rank job listens on loopback only, and a killed `pdfgc train`
takes its torchrun job with it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import BIN
from tests.helpers.shards import write_test_shards

pytestmark = pytest.mark.e2e

LOOPBACK = ("127.0.0.1", "::1")
SOCKET_POLL_S = 0.2
JOB_TIMEOUT = 600


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("lifecycle_shards")
    write_test_shards(out, n_clips=4, frames=8, crop_size=64, clips_per_shard=2)
    return str(out)


def _train_command(shards: str, out: Path, *extra: str) -> list[str]:
    return [str(BIN / "pdfgc"), "train", "--shards", shards, "--stage", "critic", "--preset", "tiny",
            "--out", str(out), *extra]


def _run(command: list[str], timeout: float = JOB_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _checkpoints(out: Path) -> dict[str, float]:
    folder = out / "stage_critic" / "checkpoints"
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_a_finished_stage_is_complete_on_the_next_run(shards: str, tmp_path: Path) -> None:
    first = _run(_train_command(shards, tmp_path, "--nproc", "1", "--max-steps", "3"))
    assert first.returncode == 0, first.stderr[-2000:]
    before = _checkpoints(tmp_path)
    start = time.monotonic()
    again = _run(_train_command(shards, tmp_path, "--nproc", "1", "--max-steps", "3", "-v"), timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "stage critic is complete (step 3)" in again.stdout + again.stderr
    assert _checkpoints(tmp_path) == before, "the finished stage's checkpoints were rewritten"
    assert time.monotonic() - start < 120


@pytest.mark.parametrize("extra", [("--max-steps", "0"), ("--max-steps", "-1"), ("--nproc", "0"),
                                   ("--set", "train.critic.steps=-1")])
def test_counts_below_one_are_one_line_errors(shards: str, tmp_path: Path, extra: tuple[str, ...]) -> None:
    result = _run(_train_command(shards, tmp_path, *extra), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert "Traceback" not in result.stderr, result.stderr
    assert last.startswith("pdfgc") and ("positive integer" in last or "steps" in last), last
    assert not (tmp_path / "stage_critic").exists()


def _listening(root: psutil.Process) -> set[tuple[str, int, str]]:
    """(address, port, process name) of every listening TCP socket of ``root`` and its children."""
    found = set()
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for process in processes:
        try:
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port, " ".join(process.cmdline()[:4])))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_every_socket_of_a_two_rank_job_listens_on_loopback(shards: str, tmp_path: Path) -> None:
    command = _train_command(shards, tmp_path, "--nproc", "2", "--max-steps", "4")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    root, sockets = psutil.Process(process.pid), set()
    while process.poll() is None:
        sockets |= _listening(root)
        time.sleep(SOCKET_POLL_S)
    assert process.returncode == 0, process.stderr.read()[-2000:]
    ranks = [s for s in sockets if "pdfgc.train" in s[2]]
    assert ranks, f"no listening socket of the training job was seen: {sockets}"
    assert all(address in LOOPBACK for address, _, _ in sockets), sorted(sockets)


def _job_pids(root: psutil.Process) -> list[int]:
    return [child.pid for child in root.children(recursive=True) if "pdfgc.train" in " ".join(child.cmdline())]


def test_a_killed_train_command_takes_its_ranks_with_it(shards: str, tmp_path: Path) -> None:
    command = _train_command(shards, tmp_path, "--nproc", "2", "--max-steps", "100000")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    deadline = time.monotonic() + JOB_TIMEOUT
    while not (tmp_path / "stage_critic" / "metrics.jsonl").exists():
        assert time.monotonic() < deadline and process.poll() is None, "training never started"
        time.sleep(0.2)
    job = _job_pids(root)
    assert len(job) >= 3, "expected torchrun and two ranks"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in job if psutil.pid_exists(pid)], timeout=60)
    assert not alive, f"still running after the parent was killed: {[p.pid for p in alive]}"
