"""Benchmark the per-video preprocessing worker on the real sample clips.

Prints, as Markdown: end-to-end frames/s of ``process_video`` (wall and per CPU-second, ffmpeg
children included), ffmpeg decode-only frames/s on the same clips, the per-stage time breakdown
from ``VideoResult.timings`` and the peak RSS. The clips are repeated until about
``--seconds`` of video have been processed.

    .venv/bin/python bench/preprocess.py --config paper --seconds 30
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from pdfgc.config import load_config
from pdfgc.data.decode import iter_frames
from pdfgc.data.discover import VideoSpec
from pdfgc.data.probe import probe_video
from pdfgc.data.shard_worker import VideoResult, process_video

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


def run_workers(clips: list[Path], config: str, out_dir: str) -> tuple[list[VideoResult], float, float]:
    cfg = load_config(config)
    process_video(VideoSpec(str(clips[0]), "warmup", "w", "0", {}), cfg, out_dir)  # loads the models
    wall, cpu = time.perf_counter(), cpu_seconds()
    results = [process_video(VideoSpec(str(c), f"s{i}", c.stem, "0", {}), cfg, out_dir) for i, c in enumerate(clips)]
    return results, time.perf_counter() - wall, cpu_seconds() - cpu


def run_decode_only(clips: list[Path], max_side: int) -> tuple[int, float, float]:
    wall, cpu, frames = time.perf_counter(), cpu_seconds(), 0
    for clip in clips:
        frames += sum(1 for _ in iter_frames(str(clip), probe_video(str(clip)), 25, max_side))
    return frames, time.perf_counter() - wall, cpu_seconds() - cpu


def report(results: list[VideoResult], wall: float, cpu: float, decode: tuple[int, float, float]) -> str:
    frames = sum(r.n_frames for r in results)
    failed = [f"{r.spec.source}: {r.reason}" for r in results if not r.ok]
    lines = [
        f"videos {len(results)} ({len(failed)} failed{': ' + '; '.join(failed) if failed else ''}), "
        f"frames {frames} ({frames / 25:.1f} s of video), samples {sum(r.n_samples for r in results)}",
        "",
        "| measure | value |", "| --- | --- |",
        f"| process_video, frames/s (wall, 1 process) | {frames / wall:.1f} |",
        f"| process_video, frames per CPU-second (incl. ffmpeg) | {frames / cpu:.1f} |",
        f"| ffmpeg decode only, frames/s (wall) | {decode[0] / decode[1]:.1f} |",
        f"| ffmpeg decode only, frames per CPU-second | {decode[0] / decode[2]:.1f} |",
        f"| peak RSS, this process | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB |",
        "", "| stage | seconds | ms/frame | share |", "| --- | --- | --- | --- |",
    ]
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
        out_dir = str(Path(tmp) / "out")
        results, wall, cpu = run_workers(clips, args.config, out_dir)
        decode = run_decode_only(clips, load_config(args.config).data.max_decode_side)
    print(report(results, wall, cpu, decode))


if __name__ == "__main__":
    main()
