"""Milliseconds per frame of the evaluation's measuring code and of each metric function.

    .venv/bin/python bench/eval_metrics.py [--samples DIR] [--frames N]

Decodes the first N frames (25 fps) of the first real sample video, scaled to 224 x 224 (the
paper model's output size) and to 64 x 64 (the tiny preset's), and times per frame:
``FaceMeasurer.measure`` with identity and emotion off, the emotion network's share, the identity
embedding's share (on every frame), then each metric on the 224 px frames (the 64 px copy upscaled
back stands in for a generated clip). Prints Markdown tables of wall-clock and CPU milliseconds
per frame. Single process, one torch thread.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from pdfgc.config import LabelsConfig
from pdfgc.eval.measure import FaceMeasurer, MeasureOptions
from pdfgc.eval.metrics import crosstalk, expression, eyes, identity, image, lips, pose
from pdfgc.eval.metrics.perceptual import PerceptualDistance
from pdfgc.media.decode import decode_audio

REPO_ROOT = Path(__file__).resolve().parents[1]


def decode(path: Path, frames: int, side: int) -> np.ndarray:
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf", f"fps=25,scale={side}:{side}",
               "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, side, side, 3)


def per_frame_ms(run: Callable[[], object], frames: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds per frame of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - wall) * 1000 / frames, (time.process_time() - cpu) * 1000 / frames


def measure_rows(real: np.ndarray, small: np.ndarray) -> list[tuple[str, float, float]]:
    base = FaceMeasurer(LabelsConfig(), MeasureOptions(identity=False, emotion=False))
    with_emotion = FaceMeasurer(LabelsConfig(), MeasureOptions(identity=False))
    with_identity = FaceMeasurer(LabelsConfig(), MeasureOptions(identity_every=1, emotion=False))
    base.measure(real[:2]), with_emotion.measure(real[:2]), with_identity.measure(real[:2])  # warm-up
    rows = []
    for name, frames in (("224 px", real), ("64 px (upscaled to 192)", small)):
        plain = per_frame_ms(lambda: base.measure(frames), len(frames))
        emotion = per_frame_ms(lambda: with_emotion.measure(frames), len(frames))
        ident = per_frame_ms(lambda: with_identity.measure(frames), len(frames))
        rows.append((f"measure, {name}: landmarks + labels", *plain))
        rows.append((f"measure, {name}: + emotion net", emotion[0] - plain[0], emotion[1] - plain[1]))
        rows.append((f"measure, {name}: + identity (every frame)", ident[0] - plain[0], ident[1] - plain[1]))
    return rows


def metric_rows(real: np.ndarray, fake: np.ndarray, wave: np.ndarray) -> list[tuple[str, float, float]]:
    measurer = FaceMeasurer(LabelsConfig(), MeasureOptions(identity_every=1))
    real_m, fake_m = measurer.measure(real), measurer.measure(fake)
    perceptual = PerceptualDistance()
    perceptual(real[:1], fake[:1])
    n = len(real)
    reference = real_m.identity[0]
    labels = crosstalk.factor_labels(real_m)
    swapped = {f: crosstalk.factor_labels(fake_m) for f in crosstalk.FACTORS}
    cases: dict[str, Callable[[], object]] = {
        "psnr": lambda: image.psnr(real, fake),
        "ssim": lambda: image.ssim(real, fake),
        "cpbd": lambda: image.cpbd_mean(fake),
        "st-lpips (vgg16, every frame)": lambda: perceptual(real, fake),
        "identity (cosine + distance)": lambda: (identity.identity_similarity(fake_m.identity, reference),
                                                 identity.mean_face_distance(fake_m.identity, reference)),
        "m-lmd + f-lmd": lambda: (lips.m_lmd(real_m.landmarks, fake_m.landmarks),
                                  lips.f_lmd(real_m.landmarks, fake_m.landmarks)),
        "loudness + sync proxy (+-15)": lambda: lips.sync_proxy(fake_m.mouth_opening, lips.loudness_per_frame(wave, n)),
        "pose error": lambda: pose.pose_error(real_m.pose, fake_m.pose),
        "blink f1 + gaze error": lambda: (eyes.blink_f1(real_m.blink, fake_m.blink), eyes.gaze_error(real_m.gaze, fake_m.gaze)),
        "expression distance + emotion agreement": lambda: (
            expression.expression_distance(real_m.expression, fake_m.expression),
            expression.emotion_agreement(real_m.emotion, fake_m.emotion)),
        "crosstalk matrix (4 swaps)": lambda: crosstalk.crosstalk_matrix(labels, swapped),
    }
    return [(name, *per_frame_ms(run, n)) for name, run in cases.items()]


def table(rows: list[tuple[str, float, float]]) -> str:
    lines = ["| what | wall ms/frame | CPU ms/frame |", "|---|---|---|"]
    lines += [f"| {name} | {wall:.2f} | {cpu:.2f} |" for name, wall, cpu in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO_ROOT.parent / "shared" / "samples")
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = sorted((args.samples / "videos").glob("*.mp4"))[0]
    real = decode(video, args.frames, 224)
    small = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in real])
    fake = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_CUBIC) for f in small])
    print(f"{video.name}, {len(real)} frames\n")
    print(table(measure_rows(real, small)) + "\n")
    print(table(metric_rows(real, fake, decode_audio(str(video), 16000))))


if __name__ == "__main__":
    main()
