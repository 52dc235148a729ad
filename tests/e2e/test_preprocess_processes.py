"""`pdfgc preprocess` as a process: loopback-only sockets, a quiet console with a log file, an
early exit when nothing is new, and no orphan after kill -9 (defect 8 of the reliability issue:
Prefect's temporary server outlived the command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.processes import cmdline, family, listening, survivors

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
SETTINGS = ["--config", "tiny", "--set", "compute.n_workers=1"]
LOOPBACK = ("127.0.0.1", "::1")


def test_sockets_console_no_op_and_orphans(sample_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [str(BIN / "pdfgc"), "preprocess", str(sample_set), "--out", str(out), *SETTINGS]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sockets: set[tuple[str, int]] = set()
    while proc.poll() is None:
        sockets |= listening({p.pid for p in family(proc.pid)})
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert sockets and all(ip in LOOPBACK for ip, _ in sockets), sockets
    assert "preprocess summary" in stdout and "pdfgc: log file" in stderr
    assert " INFO distributed" not in stderr and "INFO prefect" not in stderr and "Task run" not in stderr
    (log,) = (out / "logs").glob("preprocess-*.log")
    assert "INFO distributed.scheduler" in log.read_text() and "INFO prefect" in log.read_text()

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert "Starting temporary server" not in (again.stdout + again.stderr)

    killed_out = tmp_path / "killed"
    victim = subprocess.Popen([*command[:4], str(killed_out), *SETTINGS], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    server = None
    while time.monotonic() < deadline and victim.poll() is None and server is None:
        server = next((p.pid for p in family(victim.pid) if "uvicorn" in " ".join(cmdline(p))), None)
        time.sleep(0.2)
    assert server is not None, "Prefect's temporary server never started"
    time.sleep(2)
    children = [p.pid for p in family(victim.pid)[1:]]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    left = survivors(children, 20)
    assert not left, f"still running after kill -9 of pdfgc preprocess: {left} (server {server})"
