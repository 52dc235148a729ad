"""Two-process torchrun (gloo) training on CPU: every stage with the real tasks logging to a real
MLflow server, and a rank killed with SIGKILL mid-stage, then resumed to the same losses."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import torch

from pdfgc.config import load_config, save_config
from pdfgc.errors import PdfgcError
from pdfgc.train.launch import launch_stage, train_all
from pdfgc.train.plan import StageLaunch, StageRequest, Topology, TrainPlan
from pdfgc.train.metrics import read_metrics_jsonl
from tests.e2e.conftest import BIN, free_port, serving
from tests.helpers.shards import write_test_shards

pytestmark = pytest.mark.e2e

KILL_TIMEOUT = 300
RESUME_STEPS = 12
CHECKPOINT_EVERY = 4
STAGE = "2"
"""Stage 2 needs no earlier export (its heads start from scratch) and takes ~0.2 s a step on CPU."""


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("ddp_shards")
    write_test_shards(out, n_clips=8, frames=12, crop_size=64, clips_per_shard=2)
    return str(out)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with a sqlite store and proxied artifacts; yields its URI."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}", "--artifacts-destination", str(home / "art")]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    uri = f"http://127.0.0.1:{port}"
    with serving(command, env, home, f"{uri}/health", "mlflow server"):
        yield uri


def test_all_stages_on_two_ranks_log_to_the_mlflow_server(shards: str, mlflow_server: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    cfg = load_config("tiny", [f"tracking.uri={mlflow_server}", "train.image_every=2", "train.checkpoint_every=2"])
    summary = train_all(cfg, TrainPlan(["critic", "1", "2", "3"], shards, tmp_path, Topology(nproc=2), max_steps=2))

    client = MlflowClient(mlflow_server)
    assert set(summary.child_run_ids) == {"critic", "1", "2", "3"}
    for stage, run_id in summary.child_run_ids.items():
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == summary.parent_run_id and run.info.status == "FINISHED"
        assert {"train/loss", "train/samples_per_s", "train/peak_memory_mb"} <= set(run.data.metrics), stage
        assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [1, 2]
        if stage != "critic":  # the critic task draws no picture
            assert any(f.path.endswith(".png") for f in client.list_artifacts(run_id, "images")), stage
    assert {"train/loss_mot", "train/loss_rec"} <= set(client.get_run(summary.child_run_ids["1"]).data.metrics)
    assert summary.registered_model_uri == f"models:/{cfg.tracking.registered_model}/1"
    version = client.get_model_version(cfg.tracking.registered_model, "1")
    assert version.tags["stage"] == "3" and "data_manifest_sha256" in version.tags
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    local = Path(mlflow.artifacts.download_artifacts(summary.registered_model_uri, dst_path=str(tmp_path / "dl"),
                                                     tracking_uri=mlflow_server))
    export = torch.load(local / "export.pt", weights_only=True)
    assert export["format"] == "pdfgc-export/1" and export["stage"] == "3" and export["step"] == 2
    assert (local / "config.yaml").exists()


def _rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The worker process torchrun started for ``rank`` (found by its RANK environment variable)."""
    for child in psutil.Process(launcher_pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank):
                return child.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _kill_rank_after_step(out: Path, step: int, rank: int) -> None:
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + KILL_TIMEOUT
    while time.monotonic() < deadline:
        if metrics.exists() and max(read_metrics_jsonl(metrics), default=0) >= step:
            launcher = next(p for p in psutil.process_iter(["cmdline"])
                            if "pdfgc.train.torchrun" in " ".join(p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"]))
            pid = _rank_pid(launcher.pid, rank)
            assert pid is not None, "rank process not found"
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)
    raise TimeoutError(f"step {step} never logged in {metrics}")


def test_a_killed_rank_resumes_to_the_uninterrupted_losses(shards: str, tmp_path: Path) -> None:
    cfg = load_config("tiny", ["train.deterministic=true", f"train.checkpoint_every={CHECKPOINT_EVERY}",
                               "train.image_every=0", "train.log_every=1"])
    config = save_config(cfg, tmp_path / "config.yaml")

    def launch(out: Path) -> StageLaunch:
        request = StageRequest(STAGE, shards, out, max_steps=RESUME_STEPS)
        return StageLaunch(cfg, config, request, Topology(nproc=2), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")

    launch_stage(launch(tmp_path / "straight"))
    straight = read_metrics_jsonl(tmp_path / "straight" / "metrics.jsonl")

    interrupted = tmp_path / "interrupted"
    killer = threading.Thread(target=_kill_rank_after_step, args=(interrupted, CHECKPOINT_EVERY + 1, 1))
    killer.start()
    with pytest.raises(PdfgcError, match=rf"stage {STAGE} failed .*rank 1"):
        launch_stage(launch(interrupted))
    killer.join()
    killed_at = max(read_metrics_jsonl(interrupted / "metrics.jsonl"))
    assert killed_at < RESUME_STEPS, "the kill came too late to interrupt the stage"

    result = launch_stage(launch(interrupted))
    resumed = read_metrics_jsonl(interrupted / "metrics.jsonl")
    assert result.steps == RESUME_STEPS and sorted(resumed) == list(range(1, RESUME_STEPS + 1))
    for step in range(1, RESUME_STEPS + 1):
        assert resumed[step]["loss"] == straight[step]["loss"], f"step {step}"
