"""`pdfgc evaluate` end to end: real talking-head footage nobody in the project made -> shards ->
a tiny model trained one step per stage through torchrun and MLflow -> `pdfgc evaluate` on the
registered model, with the real measuring code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pdfgc.config import PdfgcConfig, load_config
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards
from pdfgc.preprocess.shard_worker import process_video
from pdfgc.train.launch import train_all
from pdfgc.train.plan import Topology, TrainPlan
from tests.helpers.media import cut_clip

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
SECONDS = 3.0
OVERRIDES = ["data.chunk_frames=25", "data.crop_size=128", "train.image_every=0", "train.checkpoint_every=100"]
METHODS = {"model", "ground_truth", "source_repeated"}


def _config(tracking_uri: str) -> PdfgcConfig:
    return load_config("tiny", [*OVERRIDES, f"tracking.uri={tracking_uri}"])


@pytest.fixture(scope="module")
def real_shards(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample clips (two speakers), 3 s each at 256 px, as 1 s samples of 128 px crops."""
    videos = tmp_path_factory.mktemp("real_videos")
    for video in real_videos:
        cut_clip(video, videos / f"{video.stem}.mp4", seconds=SECONDS)
    out = tmp_path_factory.mktemp("real_shards")
    cfg = _config("sqlite:///unused.db")
    results = [process_video(spec, cfg, str(out)) for spec in discover_videos(str(videos))]
    assert all(r.ok for r in results), [(r.reason, r.error) for r in results]
    pack_shards(str(out), cfg.data, results)
    return out


@pytest.fixture(scope="module")
def trained(real_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[PdfgcConfig, object]:
    out = tmp_path_factory.mktemp("train")
    cfg = _config(f"sqlite:///{out / 'mlflow.db'}")
    summary = train_all(cfg, TrainPlan(["critic", "1", "2", "3"], str(real_shards), out, Topology(nproc=1), max_steps=1))
    return cfg, summary


@pytest.fixture(scope="module")
def evaluation(trained, real_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cfg, summary = trained
    out = tmp_path_factory.mktemp("evaluation")
    result = subprocess.run(
        [str(BIN / "pdfgc"), "evaluate", "--model", summary.registered_model_uri, "--shards", str(real_shards),
         "--split", "all", "--max-clips", "2", "--out", str(out), "--tracking-uri", summary.tracking_uri],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900,
    )
    return out, result


def _rows(document: dict) -> dict[tuple[str, str], dict]:
    return {(row["metric"], row["method"]): row for row in document["rows"]}


def test_metrics_json_has_three_rows_per_metric_and_the_crosstalk_matrix(evaluation) -> None:
    out, result = evaluation
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((out / "metrics.json").read_text())
    assert document["split"] == "all" and document["clips"] == 2 and document["model"].startswith("models:/")
    metrics = {row["metric"] for row in document["rows"]}
    assert {"self/psnr", "self/ssim", "self/m_lmd", "self/f_lmd", "self/pose_rotation_deg", "self/identity_similarity",
            "cross/pose_rotation_deg", "cross/sync_proxy", "self/lse_d"} <= metrics
    for metric in metrics:
        assert {row["method"] for row in document["rows"] if row["metric"] == metric} == METHODS, metric
    for row in document["rows"]:
        assert row["value"] is not None or row["reason"], row
    lse = _rows(document)[("self/lse_d", "model")]
    assert lse["value"] is None and "sync" in lse["reason"]
    crosstalk = document["crosstalk"]
    assert crosstalk["factors"] == ["lips", "pose", "eyes", "expression"]
    assert crosstalk["matrix"] is None and crosstalk["reason"] or len(crosstalk["matrix"]) == 4


def test_ground_truth_beats_the_repeated_source_on_lips_and_pose(evaluation) -> None:
    out, _ = evaluation
    rows = _rows(json.loads((out / "metrics.json").read_text()))
    for metric in ("self/m_lmd", "self/pose_rotation_deg"):
        truth, still = rows[(metric, "ground_truth")]["value"], rows[(metric, "source_repeated")]["value"]
        assert truth is not None and still is not None and truth < still, (metric, truth, still)


def test_report_has_tables_heat_map_and_frame_grids(evaluation) -> None:
    out, _ = evaluation
    page = (out / "report.html").read_text()
    assert "Self-driven reconstruction" in page and "Cross-driven" in page and "Cross-talk matrix" in page
    assert page.count("data:image/png;base64") >= 6


def test_mlflow_has_a_nested_evaluation_run_and_version_tags(trained, evaluation) -> None:
    from mlflow import MlflowClient

    cfg, summary = trained
    out, _ = evaluation
    document = json.loads((out / "metrics.json").read_text())
    client = MlflowClient(summary.tracking_uri)
    name, version = summary.registered_model_uri.removeprefix("models:/").split("/")
    tags = client.get_model_version(name, version).tags
    run = client.get_run(tags["eval.all.run_id"])
    assert run.data.tags["mlflow.parentRunId"] == summary.parent_run_id
    assert run.data.params["split"] == "all"
    truth = _rows(document)[("self/m_lmd", "ground_truth")]["value"]
    assert run.data.metrics["eval/self/m_lmd/ground_truth"] == pytest.approx(truth)
    assert "eval.all.self/psnr" in tags and tags["eval.all.clips"] == "2"
