"""Peak RSS of one preprocessing worker against video length (720p, 1 vs 10 minutes).

    .venv/bin/python bench/memory.py [--minutes 1 10] [--height 720]

A real sample clip (with its audio) is looped, padded to 16:9 and encoded at HEIGHT p for each
length; each video is then processed by ``process_video`` in a fresh spawned worker process
(the flows' worker environment), which reports its own peak RSS. Memory is bounded by design
(frames stream from ffmpeg; at most one chunk of ``data.chunk_frames`` frames is held; the
16 kHz audio, 64 kB per second, is the only thing that grows with length), so the peak should
barely move between the lengths. Goal (issue #3): < 1.5 GB for a 10-minute 720p video.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from preprocess import in_spawned_process

from pdfgc.config import load_config
from pdfgc.media.decode import ffmpeg_binary
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.preprocess.shard_worker import process_video

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "videos" / "video-retalking__2.mp4"


def looped_video(source: Path, minutes: float, height: int, target: Path) -> Path:
    """``source`` looped to ``minutes``, scaled and padded to a 16:9 frame of ``height`` lines."""
    width = height * 16 // 9
    subprocess.run([
        ffmpeg_binary(), "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
        "-t", str(minutes * 60), "-vf", f"scale=-2:{height},pad={width}:{height}:(ow-iw)/2:0",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac", str(target),
    ], check=True)
    return target


def _process_and_measure(path: str, out_dir: str) -> tuple[int, int, float, float]:
    """In the worker: (frames, samples, seconds, peak RSS in MiB)."""
    started = time.perf_counter()
    result = process_video(VideoSpec(path, "s", Path(path).stem, "0", {}), load_config("paper"), out_dir)
    if not result.ok:
        raise RuntimeError(f"{path}: {result.reason} {result.error}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result.n_frames, result.n_samples, time.perf_counter() - started, peak_mib


def measure(path: Path, out_dir: Path) -> tuple[int, int, float, float]:
    """``_process_and_measure`` in a fresh spawned process with the LocalCluster worker environment."""
    return in_spawned_process(load_config("paper").compute.worker_env, _process_and_measure, str(path), str(out_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="real clip to loop")
    args = parser.parse_args()
    print("| video | frames | samples | frames/s | peak RSS of the worker |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="pdfgc-bench-") as tmp:
        for minutes in args.minutes:
            video = looped_video(args.sample, minutes, args.height, Path(tmp) / f"loop-{minutes:g}min.mp4")
            frames, samples, seconds, peak = measure(video, Path(tmp) / f"out-{minutes:g}")
            print(f"| {minutes:g} min {args.height}p | {frames} | {samples} | {frames / seconds:.1f} | {peak:.0f} MiB |")
            video.unlink()


if __name__ == "__main__":
    main()
