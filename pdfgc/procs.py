"""Child processes that die with their parent.

A ``kill -9`` of ``pdfgc train`` or ``pdfgc preprocess`` gives the parent no chance to stop its
children, so each child asks the kernel for SIGTERM when its parent dies (Linux
``PR_SET_PDEATHSIG``; a no-op elsewhere). The signal follows the thread that started the child,
so start children from a thread that outlives them (``subprocess.run``/``Popen.wait`` in it).

A child someone else starts (Prefect's temporary API server) cannot be given a ``preexec_fn``;
``kill_with_parent(pid)`` starts a small watchdog process for it instead: it polls every
``WATCH_INTERVAL_S`` and, once this process is gone, sends SIGTERM and then SIGKILL to ``pid``
(and to its process group when that group is the child's own).
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


def die_with_parent(parent_pid: int | None = None) -> None:
    """Run in the child (``Popen(preexec_fn=...)``): SIGTERM when the parent dies. If the parent
    ``parent_pid`` died before the request took effect, stop at once."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def child_of_this_process() -> dict[str, object]:
    """``Popen`` keyword arguments that tie the child's life to this process."""
    parent = os.getpid()
    return {"preexec_fn": lambda: die_with_parent(parent)}


def kill_with_parent(pid: int) -> subprocess.Popen:
    """Start a watchdog that ends ``pid`` when this process dies (for any reason, SIGKILL
    included); the watchdog exits by itself once ``pid`` is gone."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(pid), str(WATCH_INTERVAL_S), str(TERM_GRACE_S)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
    )
