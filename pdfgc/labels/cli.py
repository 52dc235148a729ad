"""``pdfgc label FILE [--backend NAME] [--out F.jsonl]``: labels of one image or video as JSON lines.

An image gives one line; a video gives one line per frame, decoded at ``LABEL_FPS`` by
``pdfgc.media.decode.iter_frames`` and labelled frame by frame, so any length streams. Each
line holds the frame index, whether a face was found, and for a face: its box, the 68
landmarks and the pose, blink, gaze and expression labels (conventions in docs/LABELS.md).
NaN values (e.g. gaze with both eyes closed) are written as null.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from pdfgc.config import LabelsConfig
from pdfgc.errors import ConfigError, InputError, MediaError
from pdfgc.io import atomic_path
from pdfgc.labels.base import FaceLandmarker, Labeler
from pdfgc.labels.registry import build_labelers, build_landmarker
from pdfgc.media.decode import iter_frames
from pdfgc.media.image import IMAGE_SUFFIXES, read_image
from pdfgc.media.probe import probe_video

_logger = logging.getLogger(__name__)

LABEL_FPS = 25
POSE_KEYS = ("pitch", "yaw", "roll", "tx", "ty", "tz")
BACKEND_FIELDS = {"dlib": "landmarks", "dlib-subpixel": "landmarks", "fan": "landmarks", "pnp": "pose", "deep3d": "pose", "emoca": "expression", "learned": "eyes"}
"""``--backend NAME`` -> the LabelsConfig field it selects."""


def with_backend(cfg: LabelsConfig, backend: str | None) -> LabelsConfig:
    """A copy of ``cfg`` with the named backend selected (``None`` keeps ``cfg``)."""
    if backend is None:
        return cfg
    if backend not in BACKEND_FIELDS:
        raise ConfigError(f"--backend {backend!r}: unknown (allowed: {', '.join(BACKEND_FIELDS)})")
    return cfg.model_copy(update={BACKEND_FIELDS[backend]: backend})


def _finite(values: np.ndarray) -> list[Any]:
    return [None if not math.isfinite(v) else round(float(v), 4) for v in np.ravel(values)]


def frame_record(
    index: int, frame: np.ndarray, landmarker: FaceLandmarker, labelers: list[Labeler]
) -> dict[str, Any]:
    """One JSON-ready record for one RGB frame (H, W, 3)."""
    boxes = landmarker.detect(frame)
    if not boxes:
        return {"frame": index, "face": False}
    points, confidence = landmarker.landmarks(frame, boxes[0])
    labels: dict[str, np.ndarray] = {}
    for labeler in labelers:
        labels.update(labeler(frame[None], points[None], np.array([True])))
    return {
        "frame": index,
        "face": True,
        "box": _finite(np.array([boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1])),
        "confidence": round(confidence, 4),
        "landmarks": np.round(points.astype(np.float64), 2).tolist(),
        "pose": dict(zip(POSE_KEYS, _finite(labels["pose"][0]))),
        "blink": _finite(labels["blink"][0]),
        "gaze": _finite(labels["gaze"][0]),
        "expression": _finite(labels["expression"][0]),
    }


def iter_video(path: Path) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) at LABEL_FPS and the displayed size, one at a time."""
    try:
        info = probe_video(str(path), audio_required=False)
        yield from iter_frames(str(path), info, LABEL_FPS, max(info.display_size))
    except MediaError as exc:
        raise InputError(f"{path}: not a readable image or video ({exc.reason})") from None


def iter_input(path: Path) -> Iterator[np.ndarray]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        yield read_image(path)
    else:
        yield from iter_video(path)


@contextmanager
def _output(out: Path | None) -> Iterator[IO[str]]:
    if out is None:
        yield sys.stdout
        return
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        yield handle


def label_file(path: Path, cfg: LabelsConfig, out: Path | None = None) -> int:
    """Write one JSON line per frame of ``path`` to ``out`` (stdout when None); return exit code 0.

    Raises InputError for a missing or unreadable file and MissingWeightsError when a licensed
    backend's files are absent.
    """
    path = Path(path)
    frames = iter_input(path)
    first = next(frames, None)
    if first is None:
        raise InputError(f"{path}: no frames could be decoded")
    landmarker, labelers = build_landmarker(cfg), build_labelers(cfg)
    with _output(out) as handle:
        count = 0
        for index, frame in enumerate(itertools.chain([first], frames)):
            handle.write(json.dumps(frame_record(index, frame, landmarker, labelers)) + "\n")
            count += 1
    _logger.info("labelled %d frame(s) of %s", count, path)
    return 0
