"""Benchmark the per-video preprocessing worker on the real sample clips.

Prints, as Markdown: end-to-end frames/s of ``process_video`` (wall and per CPU-second, ffmpeg
children included), ffmpeg decode-only frames/s on the same clips, the per-stage time breakdown
from ``VideoResult.timings`` and the peak RSS. The clips are repeated until about
``--seconds`` of video have been processed. ``process_video`` runs in a spawned worker process
started with the LocalCluster's environment (``compute.worker_env``: malloc on huge pages), and
once more with a plain environment, so the effect of that setting shows side by side.

    .venv/bin/python bench/preprocess.py --config paper --seconds 30
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pdfgc.config import load_config
from pdfgc.media.decode import iter_frames
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.media.probe import probe_video
from pdfgc.preprocess.shard_worker import VideoResult, process_video

T = TypeVar("T")
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "videos"
STAGES = ("hash", "probe", "audio", "setup", "decode", "detect", "landmarks", "align", "labels", "mel", "encode", "write")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def playlist(clips: list[Path], seconds: float) -> list[Path]:
    """The clips repeated in turn until their total duration reaches ``seconds``."""
    chosen, total = [], 0.0
    while total < seconds:
        clip = clips[len(chosen) % len(clips)]
        chosen.append(clip)
        total += probe_video(str(clip)).duration
    return chosen


def _worker_loop(clips: list[Path], config: str, out_dir: str) -> tuple[list[VideoResult], float, float, float]:
    """In the worker process: warm up, then process every clip; (results, wall, cpu, peak RSS MiB)."""
    cfg = load_config(config)
    process_video(VideoSpec(str(clips[0]), "warmup", "w", "0", {}), cfg, out_dir)  # loads the models
    wall, cpu = time.perf_counter(), cpu_seconds()
    results = [process_video(VideoSpec(str(c), f"s{i}", c.stem, "0", {}), cfg, out_dir) for i, c in enumerate(clips)]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results, time.perf_counter() - wall, cpu_seconds() - cpu, peak_mib


def in_spawned_process(env: dict[str, str], function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a fresh spawned process whose environment is ours plus ``env``
    (set before the interpreter starts, as Dask's pre-spawn environment is)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(function, *args).result()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_worker(clips: list[Path], config: str, out_dir: str, env: dict[str, str]) -> tuple[list[VideoResult], float, float, float]:
    return in_spawned_process(env, _worker_loop, clips, config, out_dir)


def run_decode_only(clips: list[Path], max_side: int) -> tuple[int, float, float]:
    wall, cpu, frames = time.perf_counter(), cpu_seconds(), 0
    for clip in clips:
        frames += sum(1 for _ in iter_frames(str(clip), probe_video(str(clip)), 25, max_side))
    return frames, time.perf_counter() - wall, cpu_seconds() - cpu


def report(runs: dict[str, tuple[list[VideoResult], float, float, float]], decode: tuple[int, float, float]) -> str:
    """Markdown: one column per worker environment, then the stage breakdown of the first."""
    results = next(iter(runs.values()))[0]
    frames = sum(r.n_frames for r in results)
    failed = [f"{r.spec.source}: {r.reason}" for r in results if not r.ok]
    header = " | ".join(runs)
    lines = [
        f"videos {len(results)} ({len(failed)} failed{': ' + '; '.join(failed) if failed else ''}), "
        f"frames {frames} ({frames / 25:.1f} s of video), samples {sum(r.n_samples for r in results)}",
        "",
        f"| measure | {header} |", "| --- |" + " --- |" * len(runs),
        "| process_video, frames/s (wall, 1 worker process) | " + " | ".join(f"{frames / w:.1f}" for _, w, _, _ in runs.values()) + " |",
        "| process_video, frames per CPU-second (incl. ffmpeg) | " + " | ".join(f"{frames / c:.1f}" for _, _, c, _ in runs.values()) + " |",
        "| pipeline / decode alone (CPU-seconds) | " + " | ".join(f"{decode[2] / c * frames / decode[0]:.2f}" for _, _, c, _ in runs.values()) + " |",
        "| landmarks, ms per frame | " + " | ".join(f"{1000 * sum(r.timings.get('landmarks', 0.0) for r in res) / frames:.2f}" for res, *_ in runs.values()) + " |",
        "| peak RSS of the worker | " + " | ".join(f"{rss:.0f} MiB" for *_, rss in runs.values()) + " |",
        "",
        f"ffmpeg decode alone, same clips: {decode[0] / decode[1]:.1f} frames/s wall, {decode[0] / decode[2]:.1f} frames per CPU-second",
        "", f"Per stage ({next(iter(runs))}):", "", "| stage | seconds | ms/frame | share |", "| --- | --- | --- | --- |",
    ]
    wall = next(iter(runs.values()))[1]
    totals = {stage: sum(r.timings.get(stage, 0.0) for r in results) for stage in STAGES}
    for stage, seconds in totals.items():
        lines.append(f"| {stage} | {seconds:.2f} | {1000 * seconds / max(frames, 1):.2f} | {seconds / wall:.0%} |")
    return "\n".join(lines)


def scaled_copies(clips: list[Path], side: int, folder: Path) -> list[Path]:
    """VoxCeleb2-like input: each clip re-encoded at side x side (h264, AAC kept)."""
    copies = []
    for clip in dict.fromkeys(clips):
        target = folder / clip.name
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip), "-vf", f"scale={side}:{side}",
                        "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(target)], check=True)
        copies.append(target)
    mapping = dict(zip(dict.fromkeys(clips), copies))
    return [mapping[clip] for clip in clips]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="preset name or YAML path")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of video to process")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="folder of real .mp4 clips")
    parser.add_argument("--side", type=int, default=None, help="re-encode the clips at SIDE x SIDE first (224: VoxCeleb2-like)")
    args = parser.parse_args()
    clips = playlist(sorted(args.samples.glob("*.mp4")), args.seconds)
    with tempfile.TemporaryDirectory(prefix="pdfgc-bench-") as tmp:
        if args.side:
            clips = scaled_copies(clips, args.side, Path(tmp))
        cfg = load_config(args.config)
        environments = {"worker_env": cfg.compute.worker_env, "plain env": {}}
        runs = {name: run_worker(clips, args.config, str(Path(tmp) / f"out{i}"), env)
                for i, (name, env) in enumerate(environments.items())}
        decode = run_decode_only(clips, cfg.data.max_decode_side)
    print(report(runs, decode))


if __name__ == "__main__":
    main()
