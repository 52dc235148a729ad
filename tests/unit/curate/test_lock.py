"""The retrain lock: a second holder is refused at once, in this process or another."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pdfgc.retrain.lock import RetrainBusyError, lock_path, registry_lock

URI, MODEL = "sqlite:////tmp/x/mlflow.db", "pdfgc-generator"


def test_second_retrain_on_the_same_registry_is_refused(tmp_path):
    with registry_lock(URI, MODEL, tmp_path):
        with pytest.raises(RetrainBusyError, match="another retrain"):
            with registry_lock(URI, MODEL, tmp_path):
                pass
        with registry_lock(URI, "other-model", tmp_path):
            pass  # another registry is independent
    with registry_lock(URI, MODEL, tmp_path):
        pass  # released


def test_lock_is_seen_by_another_process_and_dies_with_it(tmp_path):
    code = ("import sys, time\nfrom pdfgc.retrain.lock import registry_lock\n"
            f"with registry_lock({URI!r}, {MODEL!r}, {str(tmp_path)!r}):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RetrainBusyError, match=f"pid {holder.pid}"):
            with registry_lock(URI, MODEL, tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with registry_lock(URI, MODEL, tmp_path) as path:
        assert path == lock_path(URI, MODEL, tmp_path)
