"""Defect 8 of the reliability issue: children die with their parent, even after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from tests.helpers.processes import alive

PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from pdfgc.procs import die_with_parent, kill_with_parent
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    own = subprocess.Popen(sleeper, preexec_fn=die_with_parent)
    foreign = subprocess.Popen(sleeper, start_new_session=True)
    kill_with_parent(foreign.pid)
    print(own.pid, foreign.pid, flush=True)
    time.sleep(600)
""")



def test_children_die_after_kill_9_of_the_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    own, foreign = (int(pid) for pid in parent.stdout.readline().split())
    assert alive(own) and alive(foreign)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while (alive(own) or alive(foreign)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(own) and not alive(foreign)
