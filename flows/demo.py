"""The demo flow: the whole pipeline on the bundled sample set, on one machine, no servers.

Steps:
1. generate the sample set (real photograph + espeak-ng speech, known motion) in WORKDIR/sample;
2. preprocess it into shards on a Dask LocalCluster (the preprocessing flow);
3. train the critic and stages 1-3 with torchrun (2 processes, gloo), tracked in MLflow on a
   local SQLite store (the training flow);
4. synthesize a talking-head mp4 from one portrait and another speaker's audio with the
   registered model;
5. write an HTML report and WORKDIR/summary.json, and print a short summary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.preprocess import preprocess
from flows.report import write_report
from flows.runners import share_ephemeral_api
from flows.sample import load_sample_generator
from flows.train import train
from pdfgc.config import PdfgcConfig
from pdfgc.io import atomic_write_json
from pdfgc.synth.synthesize import SynthesisInputs, synthesize

_logger = logging.getLogger(__name__)

@task(cache_policy=NO_CACHE)
def make_sample_set(out: Path, speakers: int, clips: int, seconds: float) -> list[Path]:
    generator = load_sample_generator()
    return generator.generate_sample_set(out, speakers=speakers, clips_per_speaker=clips, seconds=seconds)


@task(cache_policy=NO_CACHE)
def make_video(model_uri: str, tracking_uri: str, clips: list[Path], out: Path) -> Path:
    """The first clip's speaker is the portrait; the last clip (another speaker) gives audio,
    pose, eyes and expression."""
    portrait = _first_frame_png(clips[0], out.parent / "portrait.png")
    driver = clips[-1]
    inputs = SynthesisInputs(portrait=portrait, audio=driver, pose=driver, eyes=driver, expression=driver)
    return synthesize(model_uri, inputs, out, tracking_uri=tracking_uri)


def _first_frame_png(video: Path, out: Path) -> Path:
    from pdfgc.media.decode import read_first_frame

    import cv2

    frame = read_first_frame(str(video))
    cv2.imwrite(str(out), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return out


def print_summary(summary: dict[str, Any]) -> None:
    print("\npdfgc demo finished")
    for key in ("shards", "manifest", "tracking_uri", "registered_model", "video", "report", "flow_run_id"):
        print(f"  {key:17s} {summary.get(key)}")


@flow(name="demo", log_prints=True)
def demo_flow(workdir: Path, cfg: PdfgcConfig, speakers: int = 3, clips: int = 2, seconds: float = 6.0) -> dict[str, Any]:
    workdir = workdir.resolve()
    clip_paths = make_sample_set(workdir / "sample", speakers, clips, seconds)
    shards = workdir / "shards"
    prep = preprocess(str(workdir / "sample"), str(shards), cfg)
    trained = train(str(shards), workdir / "runs", cfg, stage="all")
    video = make_video(trained["registered_model_uri"], trained["tracking_uri"], clip_paths, workdir / "demo.mp4")
    report = write_report(shards, workdir / "report.html", trained)
    summary = {
        "workdir": str(workdir),
        "sample": str(workdir / "sample"),
        "shards": str(shards),
        "shard_files": sorted(str(p) for p in shards.glob("*.tar")),
        "manifest": prep["manifest"],
        "quarantine": prep["quarantine"],
        "tracking_uri": trained["tracking_uri"],
        "parent_run_id": trained["parent_run_id"],
        "stage_run_ids": trained["stage_run_ids"],
        "registered_model": trained["registered_model_uri"],
        "video": str(video),
        "report": str(report),
        "flow_run_id": str(flow_run.get_id()),
    }
    atomic_write_json(workdir / "summary.json", summary)
    _logger.info("demo summary: %s", summary)
    return summary


def demo(
    workdir: Path, cfg: PdfgcConfig, speakers: int = 3, clips: int = 2, seconds: float = 6.0, steps: int | None = None
) -> dict[str, Any]:
    """Run the demo flow; ``steps`` (when given) replaces every stage's step count."""
    if steps is not None:
        for stage in (cfg.train.critic, cfg.train.stage1, cfg.train.stage2, cfg.train.stage3):
            stage.steps = steps
    if cfg.tracking.uri is None:
        cfg.tracking.uri = f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db')}"
    share_ephemeral_api()
    return demo_flow(Path(workdir), cfg, speakers, clips, seconds)

