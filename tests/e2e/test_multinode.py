"""Two nodes on loopback, as two machines would run them: two `pdfgc train --nnodes 2 --node-rank R
--rdzv-endpoint 127.0.0.1:PORT` launchers meeting at a c10d rendezvous, one process each. They
give the losses of one node with two processes, step for step, and when one node's rank is
killed mid-stage, running both launchers again resumes from the last checkpoint to those same
losses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from pdfgc.train.launch import free_port
from pdfgc.train.metrics import read_metrics_jsonl
from tests.e2e.conftest import BIN
from tests.helpers.shards import write_test_shards

pytestmark = pytest.mark.e2e

STEPS = 8
CHECKPOINT_EVERY = 4
LAUNCH_TIMEOUT = 300
KILL_TIMEOUT = 240
CONFIG = ["--config", "tiny", "--set", "train.deterministic=true", "--set", f"train.checkpoint_every={CHECKPOINT_EVERY}",
          "--set", "train.image_every=0", "--set", "train.log_every=1"]


def _train(shards: str, out: Path, *topology: str) -> list[str]:
    return [str(BIN / "pdfgc"), "train", "--shards", shards, "--out", str(out), "--stage", "2",
            "--max-steps", str(STEPS), *CONFIG, *topology]


def _two_nodes(shards: str, out: Path, env: dict[str, str], logs: Path) -> list[subprocess.Popen]:
    """Both launchers, node 0 first; each one's output goes to its own log."""
    endpoint = f"127.0.0.1:{free_port()}"
    launchers = []
    for node in (0, 1):
        command = _train(shards, out, "--nnodes", "2", "--nproc", "1", "--node-rank", str(node),
                         "--rdzv-endpoint", endpoint)
        with open(logs / f"node{node}-{time.monotonic_ns()}.log", "wb") as log:
            launchers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return launchers


def _wait(launchers: list[subprocess.Popen]) -> list[int]:
    try:
        return [launcher.wait(timeout=LAUNCH_TIMEOUT) for launcher in launchers]
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                launcher.kill()


def _rank_process(launcher: subprocess.Popen) -> psutil.Process | None:
    """The training process (``-m pdfgc.train``) that a launcher's torchrun started."""
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if "RANK" in child.environ() and "pdfgc.train" in child.cmdline():
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _kill_node_after_step(metrics: Path, step: int, launcher: subprocess.Popen) -> None:
    deadline = time.monotonic() + KILL_TIMEOUT
    while time.monotonic() < deadline:
        if metrics.exists() and max(read_metrics_jsonl(metrics), default=0) >= step:
            rank = _rank_process(launcher)
            assert rank is not None, "node 1's rank process not found"
            os.kill(rank.pid, signal.SIGKILL)
            return
        time.sleep(0.05)
    raise TimeoutError(f"step {step} never logged in {metrics}")


def test_two_nodes_match_one_node_and_a_killed_node_resumes(prefect_server: str, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    write_test_shards(shards, n_clips=8, frames=12, crop_size=64, clips_per_shard=2)
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "WDS_SECURE": "1"}
    logs = tmp_path / "logs"
    logs.mkdir()

    one_node = subprocess.run(_train(str(shards), tmp_path / "one-node", "--nproc", "2"), env=env,
                              capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert one_node.returncode == 0, one_node.stdout[-3000:] + one_node.stderr[-3000:]
    expected = read_metrics_jsonl(tmp_path / "one-node" / "stage_2" / "metrics.jsonl")
    assert sorted(expected) == list(range(1, STEPS + 1))

    out = tmp_path / "two-nodes"
    launchers = _two_nodes(str(shards), out, env, logs)
    killer = threading.Thread(target=_kill_node_after_step,
                              args=(out / "stage_2" / "metrics.jsonl", CHECKPOINT_EVERY + 1, launchers[1]))
    killer.start()
    codes = _wait(launchers)
    killer.join()
    killed_at = max(read_metrics_jsonl(out / "stage_2" / "metrics.jsonl"))
    assert codes[1] != 0 and killed_at < STEPS, f"the kill came too late (exit codes {codes}, step {killed_at})"

    assert _wait(_two_nodes(str(shards), out, env, logs)) == [0, 0]
    resumed_log = "".join(p.read_text() for p in [*logs.glob("node*.log"), *(out / "logs").glob("*.log")])
    assert f"at step {CHECKPOINT_EVERY}" in resumed_log, "the stage did not resume from its checkpoint"
    two_nodes = read_metrics_jsonl(out / "stage_2" / "metrics.jsonl")
    assert sorted(two_nodes) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert two_nodes[step]["loss"] == expected[step]["loss"], f"step {step}"
        assert two_nodes[step]["loss_a2v"] == expected[step]["loss_a2v"], f"step {step}"

    from mlflow import MlflowClient  # node 0 owns the parent run, whichever node global rank 0 landed on

    summary = json.loads((out / "summary.json").read_text())
    client = MlflowClient(summary["tracking_uri"])
    child = client.get_run(summary["child_run_ids"]["2"])  # the resumed stage logs into its first run,
    parent = client.get_run(child.data.tags["mlflow.parentRunId"])  # under the first attempt's parent
    assert parent.info.run_name == "train-two-nodes" and child.data.metrics["train/loss"] == expected[STEPS]["loss"]
