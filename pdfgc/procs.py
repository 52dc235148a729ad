"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

Two tools, for the two ways a child comes to exist:

- ``die_with_parent``: a ``preexec_fn`` for ``subprocess.Popen`` of a child we start ourselves
  (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere it does nothing);
- ``kill_with_parent(pid)``: a small watchdog process for a child someone else started (Prefect's
  temporary API server): it polls every ``WATCH_INTERVAL_S`` and, once this process is gone,
  sends SIGTERM and then SIGKILL to ``pid`` and its process group if that group is the child's own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5
TERM_GRACE_S = 3.0

_WATCHDOG = r"""
import os, signal, sys, time
parent, target, interval, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True

def send(sig):
    try:
        group = os.getpgid(target)
        if group == target:
            os.killpg(group, sig)
        else:
            os.kill(target, sig)
    except (ProcessLookupError, PermissionError):
        pass

while alive(target):
    if os.getppid() != parent:
        send(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(target) and time.monotonic() < deadline:
            time.sleep(0.1)
        send(signal.SIGKILL)
        break
    time.sleep(interval)
"""


def die_with_parent() -> None:
    """``preexec_fn``: the kernel sends SIGKILL to this child when its parent thread exits."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_with_parent(pid: int) -> subprocess.Popen:
    """Start a watchdog that ends ``pid`` (and its own process group) when this process dies
    (for any reason, SIGKILL included); the watchdog exits by itself once ``pid`` is gone."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(pid), str(WATCH_INTERVAL_S), str(TERM_GRACE_S)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
    )
