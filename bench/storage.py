"""Shard bytes per sample at a preset, for storage sizing (docs/OPERATIONS.md).

Re-encodes the real sample clips at ``--side`` x ``--side`` (224: VoxCeleb2-like), runs
``process_video`` on each and ``pack_shards`` on the result, then prints, as Markdown, the
shard bytes per sample, per frame and per hour of video, beside the raw input bytes per hour
(so the shards-to-source ratio shows side by side), plus the frames per CPU-second of this run.

    .venv/bin/python bench/storage.py --config paper --side 224
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preprocess import SAMPLES, cpu_seconds, scaled_copies  # noqa: E402 - bench/ is not a package

from pdfgc.config import load_config  # noqa: E402
from pdfgc.preprocess.discover import VideoSpec  # noqa: E402
from pdfgc.preprocess.pack import pack_shards  # noqa: E402
from pdfgc.preprocess.shard_worker import process_video  # noqa: E402

SECONDS_PER_HOUR = 3600.0


def measure(clips: list[Path], config: str, out: Path) -> dict[str, float]:
    cfg = load_config(config)
    wall, cpu = time.perf_counter(), cpu_seconds()
    results = [process_video(VideoSpec(str(c), f"s{i}", c.stem, "0", {}), cfg, str(out)) for i, c in enumerate(clips)]
    cpu = cpu_seconds() - cpu
    pack_shards(str(out), cfg.data, results)
    shard_bytes = sum(p.stat().st_size for p in out.glob("*.tar"))
    samples = sum(r.n_samples for r in results if r.ok)
    frames = sum(r.n_frames for r in results if r.ok)
    hours = frames / cfg.data.fps / SECONDS_PER_HOUR
    return {"videos": len(clips), "samples": samples, "frames": frames, "shard_bytes": shard_bytes,
            "input_bytes": sum(c.stat().st_size for c in clips), "hours": hours, "cpu_s": cpu,
            "wall_s": time.perf_counter() - wall}


def report(m: dict[str, float], config: str, side: int | None) -> str:
    rows = [
        ("preset / input side", f"{config} / {side or 'as is'}"),
        ("videos, samples, frames", f"{m['videos']:.0f}, {m['samples']:.0f}, {m['frames']:.0f}"),
        ("shard bytes per sample", f"{m['shard_bytes'] / max(m['samples'], 1) / 1e6:.3f} MB"),
        ("shard bytes per frame", f"{m['shard_bytes'] / max(m['frames'], 1) / 1e3:.1f} kB"),
        ("shard bytes per hour of video", f"{m['shard_bytes'] / max(m['hours'], 1e-9) / 1e9:.2f} GB"),
        ("input bytes per hour of video", f"{m['input_bytes'] / max(m['hours'], 1e-9) / 1e9:.2f} GB"),
        ("frames per CPU-second (this run, models loaded in it)", f"{m['frames'] / max(m['cpu_s'], 1e-9):.1f}"),
    ]
    return "\n".join(["| measure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="preset name or YAML path")
    parser.add_argument("--side", type=int, default=224, help="re-encode the clips at SIDE x SIDE first (0: as is)")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="folder of real .mp4 clips")
    args = parser.parse_args()
    clips = sorted(args.samples.glob("*.mp4"))
    with tempfile.TemporaryDirectory(prefix="pdfgc-bench-") as tmp:
        if args.side:
            clips = scaled_copies(clips, args.side, Path(tmp))
        print(report(measure(clips, args.config, Path(tmp) / "out"), args.config, args.side))


if __name__ == "__main__":
    main()
