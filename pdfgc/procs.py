"""Child processes that die with their parent.

A ``kill -9`` of ``pdfgc train`` or ``pdfgc preprocess`` gives the parent no chance to stop its
children, so each child asks the kernel for SIGTERM when its parent dies (Linux
``PR_SET_PDEATHSIG``; a no-op elsewhere). The signal follows the thread that started the child,
so start children from a thread that outlives them (``subprocess.run``/``Popen.wait`` in it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


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
