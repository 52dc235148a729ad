"""The demo's acceptance numbers, measured on a finished demo folder (or any mp4 + portrait).

    python bench/demo_quality.py [--workdir demo-work] [--video F.mp4 --portrait P.png --audio A]
        [--ceiling SIZE ...] [--write-summary]

Prints ``face_found_ratio``, ``face_distance`` and ``mouth_loudness_corr`` (see
``flows/demo_quality.py``); goals: >= 0.9, < 0.6, >= 0.5. ``--write-summary`` stores them as
``demo_quality`` in WORKDIR/summary.json (the demo flow does this itself).

``--ceiling SIZE`` measures the same numbers on the driving clip's own aligned face crops drawn
at SIZE px (what a perfect model of that size would score), beside the demo video.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.demo_quality import measure_demo_quality  # noqa: E402
from pdfgc.config import load_config  # noqa: E402
from pdfgc.io import atomic_write_json  # noqa: E402

GOALS = {"face_found_ratio": (">=", 0.9), "face_distance": ("<", 0.6), "mouth_loudness_corr": (">=", 0.5)}


def ceiling_video(driver: Path, size: int, out: Path) -> Path:
    """The driver clip's aligned crops (as synthesis makes them) resized to ``size`` px, with its audio."""
    from pdfgc.labels.registry import build_landmarker
    from pdfgc.media.probe import probe_video
    from pdfgc.synth.synthesize import to_tensor, video_crops, write_mp4

    cfg = load_config("tiny")
    n_frames = round(probe_video(str(driver)).duration * cfg.data.fps)
    crops = video_crops(driver, n_frames, build_landmarker(cfg.labels), cfg)
    images = ((to_tensor(crops, size).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return write_mp4(images, driver, cfg.data.fps, out)


def print_row(name: str, numbers: dict) -> None:
    cells = []
    for key, (op, goal) in GOALS.items():
        value = numbers.get(key)
        cells.append(f"{key}={'absent' if value is None else f'{value:.3f}'} (goal {op} {goal})")
    print(f"{name:24s} " + "  ".join(cells) + f"  offset={numbers.get('mouth_loudness_offset')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("demo-work"))
    parser.add_argument("--video", type=Path, default=None, help="default: WORKDIR/demo.mp4")
    parser.add_argument("--portrait", type=Path, default=None, help="default: WORKDIR/portrait.png")
    parser.add_argument("--audio", type=Path, default=None, help="default: summary.json's driver, else the video's track")
    parser.add_argument("--ceiling", type=int, nargs="*", default=[], help="also score the driver's crops at these sizes")
    parser.add_argument("--write-summary", action="store_true")
    args = parser.parse_args(argv)
    summary_path = args.workdir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    video = args.video or args.workdir / "demo.mp4"
    portrait = args.portrait or Path(summary.get("portrait", args.workdir / "portrait.png"))
    audio = args.audio or (Path(summary["driver"]) if "driver" in summary else None)
    started = time.perf_counter()
    numbers = measure_demo_quality(video, portrait, audio)
    print_row(str(video.name), numbers)
    print(f"  measured {numbers['frames']} frames in {time.perf_counter() - started:.1f} s")
    for size in args.ceiling:
        if audio is None:
            parser.error("--ceiling needs the driver clip (--audio or summary.json's driver)")
        with tempfile.TemporaryDirectory() as tmp:
            print_row(f"driver crops at {size} px", measure_demo_quality(ceiling_video(audio, size, Path(tmp) / "c.mp4"), portrait, audio))
    print(json.dumps(numbers, indent=1))
    if args.write_summary:
        summary["demo_quality"] = numbers
        atomic_write_json(summary_path, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
