"""The demo flow: the whole pipeline on the bundled sample set, on one machine, no servers.

Steps:
1. generate the sample set (real photograph + espeak-ng speech, known motion) in WORKDIR/sample;
2. preprocess it into shards on a Dask LocalCluster (the preprocessing flow);
3. train the critic and stages 1-3 with torchrun (2 processes, gloo), tracked in MLflow on a
   local SQLite store (the training flow);
4. synthesize a talking-head mp4 from one portrait and another speaker's audio with the
   registered model;
5. measure the mp4 (flows/demo_quality.py: is a face found, is it the portrait's person, does
   the mouth follow the audio's loudness);
6. write an HTML report and WORKDIR/summary.json, and print a short summary.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.demo_quality import measure_demo_quality
from flows.preprocess import preprocess
from flows.report import write_report
from flows.runners import share_ephemeral_api
from flows.sample import load_sample_generator
from flows.train import train
from pdfgc.config import PdfgcConfig
from pdfgc.io import atomic_write_json
from pdfgc.synth.synthesize import SynthesisInputs, synthesize

_logger = logging.getLogger(__name__)

DEFAULT_SPEAKERS = 6
"""The speaker-disjoint split (seed 4) puts 4 of them in train, 1 in val, 1 in test."""


@task(cache_policy=NO_CACHE)
def make_sample_set(out: Path, speakers: int, clips: int, seconds: float) -> list[Path]:
    generator = load_sample_generator()
    return generator.generate_sample_set(out, speakers=speakers, clips_per_speaker=clips, seconds=seconds)


@task(cache_policy=NO_CACHE)
def make_video(model_uri: str, tracking_uri: str, portrait: Path, driver: Path, out: Path) -> Path:
    """``driver`` gives audio, pose, eyes and expression to the face of ``portrait``."""
    inputs = SynthesisInputs(portrait=portrait, audio=driver, pose=driver, eyes=driver, expression=driver)
    return synthesize(model_uri, inputs, out, tracking_uri=tracking_uri)


@task(cache_policy=NO_CACHE)
def measure_video(video: Path, portrait: Path, driver: Path) -> dict[str, Any]:
    return measure_demo_quality(video, portrait, driver)


QUALITY_ROWS = (
    ("face_found_ratio", "share of frames with a face (dlib HOG, frames upscaled)", ">= 0.9"),
    ("face_distance", "dlib face-recognition distance to the portrait (mean over frames)", "< 0.6"),
    ("mouth_loudness_corr", "Pearson of mouth opening and audio RMS per frame (best offset)", ">= 0.5"),
    ("mouth_loudness_offset", "that offset in frames (+ = mouth after audio)", ""),
)


def quality_html(quality: dict[str, Any]) -> str:
    """The demo's acceptance numbers as an HTML table for the report."""
    rows = "".join(
        f"<tr><td>{name}</td><td>{html.escape(what)}</td><td>{_cell(quality.get(name))}</td><td>{html.escape(goal)}</td></tr>"
        for name, what, goal in QUALITY_ROWS
    )
    skipped = "".join(f"<li>{html.escape(item['metric'])}: {html.escape(item['reason'])}</li>" for item in quality["skipped"])
    return (f"<table><tr><th>metric</th><th>what</th><th>value</th><th>goal</th></tr>{rows}</table>"
            + (f"<p>not computed:</p><ul>{skipped}</ul>" if skipped else ""))


def evaluation_html(evaluation: dict[str, Any] | None) -> str:
    """The evaluation that training ran (``pdfgc evaluate`` on the test split) as a table:
    one row per metric, its ``model``, ``ground_truth`` and ``source_repeated`` values."""
    if not evaluation or "rows" not in evaluation:
        reason = (evaluation or {}).get("error", "evaluation.after_training is off")
        return f"<p>No evaluation: {html.escape(str(reason))}</p>"
    table: dict[str, dict[str, Any]] = {}
    for row in evaluation["rows"]:
        table.setdefault(row["metric"], {})[row["method"]] = row.get("value")
    methods = ("model", "ground_truth", "source_repeated")
    body = "".join(f"<tr><td>{html.escape(metric)}</td>" + "".join(f"<td>{_cell(values.get(m))}</td>" for m in methods)
                   + "</tr>" for metric, values in table.items())
    link = evaluation.get("paths", {}).get("report")
    return (f"<p>{evaluation['clips']} clips of the {html.escape(evaluation['split'])} split"
            + (f"; full report: {html.escape(link)}" if link else "") + "</p>"
            + "<table><tr><th>metric</th>" + "".join(f"<th>{m}</th>" for m in methods) + f"</tr>{body}</table>")


def _cell(value: Any) -> str:
    if value is None:
        return "absent"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


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
    quality = summary["demo_quality"]
    for name, _, goal in QUALITY_ROWS:
        print(f"  {name:17s} {_cell(quality.get(name))} {goal}")
    print(f"  {'seconds':17s} {summary['seconds']}")


@flow(name="demo", log_prints=True)
def demo_flow(workdir: Path, cfg: PdfgcConfig, speakers: int = DEFAULT_SPEAKERS, clips: int = 2, seconds: float = 6.0) -> dict[str, Any]:
    """The first clip's speaker gives the portrait; the last clip (another speaker) drives it."""
    workdir = workdir.resolve()
    seconds_taken: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds_taken[name] = round(now - clock, 1)
        clock = now

    clip_paths = make_sample_set(workdir / "sample", speakers, clips, seconds)
    lap("sample")
    shards = workdir / "shards"
    prep = preprocess(str(workdir / "sample"), str(shards), cfg)
    lap("preprocess")
    trained = train(str(shards), workdir / "runs", cfg, stage="all")
    lap("train")
    portrait, driver = _first_frame_png(clip_paths[0], workdir / "portrait.png"), clip_paths[-1]
    video = make_video(trained["registered_model_uri"], trained["tracking_uri"], portrait, driver, workdir / "demo.mp4")
    lap("synthesize")
    quality = measure_video(video, portrait, driver)
    lap("measure")
    sections = {"Demo video quality": quality_html(quality), "Evaluation": evaluation_html(trained.get("evaluation"))}
    report = write_report(shards, workdir / "report.html", trained, sections)
    lap("report")
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
        "portrait": str(portrait),
        "driver": str(driver),
        "demo_quality": quality,
        "evaluation": trained.get("evaluation"),
        "report": str(report),
        "flow_run_id": str(flow_run.get_id()),
        "seconds": seconds_taken,
    }
    atomic_write_json(workdir / "summary.json", summary)
    _logger.info("demo summary: %s", summary)
    return summary


def demo(
    workdir: Path, cfg: PdfgcConfig, speakers: int = DEFAULT_SPEAKERS, clips: int = 2, seconds: float = 6.0, steps: int | None = None
) -> dict[str, Any]:
    """Run the demo flow; ``steps`` (when given) replaces every stage's step count."""
    if steps is not None:
        for stage in (cfg.train.critic, cfg.train.stage1, cfg.train.stage2, cfg.train.stage3):
            stage.steps = steps
    if cfg.tracking.uri is None:
        cfg.tracking.uri = f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db')}"
    share_ephemeral_api()
    return demo_flow(Path(workdir), cfg, speakers, clips, seconds)

