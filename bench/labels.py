"""Milliseconds per frame of each label stage on the real sample videos.

    .venv/bin/python bench/labels.py [--samples DIR] [--frames N]

For each video under DIR/videos (default ../shared/samples), decodes N frames at 25 fps and
times, per frame: detection (dlib HOG, upsample 0), landmarks (68-point predictor), pose (PnP),
eyes (EAR + pupil gaze) and expression (Procrustes + measures). Two inputs per video: the full
frame, and a 224 x 224 face crop (the first frame's detector box grown 1.6x, resized), which
is what the preprocessing labels. Prints a Markdown table. Single process, one thread.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pdfgc.labels.expression import ExpressionLabeler
from pdfgc.labels.eyes import EyeLabeler
from pdfgc.labels.landmarks import DlibLandmarker
from pdfgc.labels.pose import PoseLabeler

REPO_ROOT = Path(__file__).resolve().parents[1]
CROP_SIDE = 224
CROP_GROWTH = 1.6
STAGES = ("detect", "landmarks", "pose", "eyes", "expression")


def decode(path: Path, frames: int) -> np.ndarray:
    """The first ``frames`` frames at 25 fps, RGB (N, H, W, 3)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                           check=True)
    width, height = (int(v) for v in probe.stdout.strip().split(",")[:2])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", "fps=25", "-frames:v", str(frames),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def face_crops(frames: np.ndarray, landmarker: DlibLandmarker) -> np.ndarray:
    box = landmarker.detect(frames[0])[0]
    half = CROP_GROWTH * max(box.width, box.height) / 2
    cx, cy = box.center
    scale = CROP_SIDE / (2 * half)
    matrix = np.array([[scale, 0, CROP_SIDE / 2 - cx * scale], [0, scale, CROP_SIDE / 2 - cy * scale]])
    return np.stack([cv2.warpAffine(frame, matrix, (CROP_SIDE, CROP_SIDE)) for frame in frames])


def timed(step: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``step(*args)`` and its wall time in milliseconds."""
    start = time.perf_counter()
    result = step(*args)
    return result, (time.perf_counter() - start) * 1000


def time_stages(frames: np.ndarray, landmarker: DlibLandmarker) -> dict[str, float]:
    """Mean ms per frame of each stage; labelers run on the whole batch, as in preprocessing."""
    totals = dict.fromkeys(STAGES, 0.0)
    points = []
    for frame in frames:
        boxes, ms = timed(landmarker.detect, frame)
        totals["detect"] += ms
        (found, _), ms = timed(landmarker.landmarks, frame, boxes[0])
        totals["landmarks"] += ms
        points.append(found)
    landmarks, face_ok = np.stack(points), np.ones(len(frames), bool)
    for stage, labeler in zip(STAGES[2:], (PoseLabeler(), EyeLabeler(), ExpressionLabeler())):
        totals[stage] += timed(labeler, frames, landmarks, face_ok)[1]
    return {stage: total / len(frames) for stage, total in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO_ROOT.parent / "shared" / "samples")
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    landmarker = DlibLandmarker()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print("| video | input | " + " | ".join(STAGES) + " | total |")
    print("|---|---|" + "---|" * (len(STAGES) + 1))
    for video in sorted((args.samples / "videos").glob("*.mp4")):
        frames = decode(video, args.frames)
        for label, batch in ((f"full {frames.shape[2]}x{frames.shape[1]}", frames),
                             (f"crop {CROP_SIDE}", face_crops(frames, landmarker))):
            ms = time_stages(batch, landmarker)
            cells = " | ".join(f"{ms[s]:.2f}" for s in STAGES)
            print(f"| {video.name} | {label} | {cells} | {sum(ms.values()):.2f} |")


if __name__ == "__main__":
    main()
