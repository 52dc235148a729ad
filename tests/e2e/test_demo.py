"""The README's first command at reduced size (the demo preset, 4 steps per stage, 5 s clips):
`pdfgc demo` through every real engine. The full demo's quality is measured by hand
(docs/TRAINING.md, "The demo"), not here: it trains for minutes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import webdataset as wds

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    workdir = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PREFECT_HOME": str(workdir / ".prefect")}
    result = subprocess.run(
        [str(BIN / "pdfgc"), "demo", "--workdir", str(workdir), "--speakers", "3", "--clips", "1", "--seconds", "5", "--steps", "4"],
        capture_output=True, text=True, env=env, timeout=1500,
    )
    return workdir, result


def test_demo_exits_zero_and_prints_a_summary(demo_run):
    _, result = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pdfgc demo finished" in result.stdout + result.stderr


def test_summary_points_at_existing_outputs(demo_run):
    workdir, _ = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    for key in ("manifest", "video", "report"):
        assert Path(summary[key]).is_file(), key
    assert summary["shard_files"] and all(Path(p).is_file() for p in summary["shard_files"])
    assert summary["flow_run_id"] and summary["registered_model"].startswith("models:/")


def test_shards_open_with_plain_webdataset(demo_run):
    workdir, _ = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    samples = list(wds.WebDataset(summary["shard_files"], shardshuffle=False))
    assert len(samples) >= 3
    for sample in samples:
        assert {"frames.mjpeg", "frame_offsets.npy", "mel.npy", "pose.npy", "meta.json"} <= set(sample)


def test_mlflow_has_a_parent_run_with_a_child_per_stage_and_a_registered_model(demo_run):
    from mlflow.tracking import MlflowClient

    workdir, _ = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    stage_runs = summary["stage_run_ids"]
    assert set(stage_runs) == {"critic", "1", "2", "3"}
    for stage, run_id in stage_runs.items():
        run = client.get_run(run_id)
        assert run.data.tags.get("mlflow.parentRunId") == summary["parent_run_id"]
        assert "train/loss" in run.data.metrics, stage
    critic_metrics = client.get_run(stage_runs["critic"]).data.metrics
    assert "val/mae_pose_deg" in critic_metrics  # held-out accuracy of the label critic
    name, version = summary["registered_model"].removeprefix("models:/").split("/")
    assert client.get_model_version(name, version).status == "READY"


def test_mp4_has_video_and_audio_streams(demo_run):
    workdir, _ = demo_run
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
                            str(workdir / "demo.mp4")], capture_output=True, text=True, check=True)
    kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
    assert kinds == ["audio", "video"]


def test_report_has_plots(demo_run):
    workdir, _ = demo_run
    page = (workdir / "report.html").read_text()
    assert page.count("data:image/png;base64") >= 3 and "Head pose" in page
    assert "Demo video quality" in page and "mouth_loudness_corr" in page


def test_summary_has_the_demo_quality_numbers_or_says_why_not(demo_run):
    """A 4-step model draws no face yet: the plumbing must still give each number or its reason."""
    workdir, _ = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    quality = summary["demo_quality"]
    assert 120 <= quality["frames"] <= 130 and 0.0 <= quality["face_found_ratio"] <= 1.0
    skipped = {item["metric"] for item in quality["skipped"]}
    for metric in ("face_distance", "mouth_loudness_corr"):
        assert (metric in quality) != (metric in skipped), metric
    assert Path(summary["portrait"]).is_file() and Path(summary["driver"]).is_file()
    assert set(summary["seconds"]) == {"sample", "preprocess", "train", "synthesize", "measure", "report"}
