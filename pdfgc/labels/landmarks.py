"""Face detection and 68-point landmarks with dlib (the default, licence-free backend).

Detector: dlib's HOG + linear SVM frontal face detector. Landmarks: the 68-point shape predictor
(iBUG 300-W scheme, ensemble of regression trees) bundled by the ``face_recognition_models``
wheel. The shape predictor is loaded once per process and shared by every ``DlibLandmarker`` and
thread. The HOG detector is NOT thread-safe (concurrent calls on one detector corrupt memory
and abort the process, measured with dlib 20.0.1), so each thread gets its own, built on first
use (about 0.8 s); dlib releases the GIL, so threads do run in parallel.

The predictor file was trained on iBUG 300-W, whose licence excludes commercial use; check it
before shipping a product built on these labels.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import threading
from pathlib import Path

import cv2
import numpy as np

from pdfgc.errors import MissingWeightsError
from pdfgc.labels.base import FaceBox

_logger = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
MODELS_PACKAGE = "face_recognition_models"
SUBPIXEL_FACE_PX = 256
"""With ``DlibSubpixelLandmarker``, faces (box side in pixels) below this are located on an
upscaled patch; larger ones are precise enough already."""
NEIGHBOURHOOD_MARGIN = 0.4
"""The upscaled patch spans the box plus this fraction of its size on every side: all the
pixels the predictor samples (a pixel outside the patch but inside the frame would read 0).
On the sample videos 0.25 already gave the frame's shape to within the 1/3 px rounding."""
HOG_SCORE_SCALE = 1.0
"""Confidence = sigmoid(score / scale); the SVM score is 0 at dlib's decision threshold."""


def _import_dlib():
    try:
        import dlib
    except ImportError:
        raise MissingWeightsError(
            "python package 'dlib' is not installed: pip install dlib-bin face_recognition_models"
        ) from None
    return dlib


def predictor_path() -> Path:
    """Where the 68-point predictor lives inside the installed ``face_recognition_models``."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            f"{PREDICTOR_FILE} not found: package '{MODELS_PACKAGE}' is not installed "
            f"(pip install {MODELS_PACKAGE})"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise MissingWeightsError(f"{path} is missing: reinstall {MODELS_PACKAGE}")
    return path


_per_thread = threading.local()


def _face_detector():
    """This thread's HOG detector (see the module docstring for why not one per process)."""
    if not hasattr(_per_thread, "detector"):
        _per_thread.detector = _import_dlib().get_frontal_face_detector()
    return _per_thread.detector


@functools.cache
def _shape_predictor():
    path = predictor_path()
    _logger.info("loading dlib shape predictor from %s", path)
    return _import_dlib().shape_predictor(str(path))


def _dlib_version() -> str:
    spec = importlib.util.find_spec("dlib")
    if spec is None:
        return "missing"
    return getattr(_import_dlib(), "__version__", "unknown")


def to_gray(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) or gray (H, W) -> contiguous gray uint8 (H, W)."""
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def score_to_confidence(score: float) -> float:
    """Map a HOG-SVM margin (0 at the threshold, about 2-3 for a clear frontal face) to [0, 1]."""
    return 1.0 / (1.0 + math.exp(-score / HOG_SCORE_SCALE))


class DlibLandmarker:
    """dlib HOG face detector + 68-point shape predictor.

    Args:
        upsample: how many times dlib doubles the image before detecting. 0 finds faces of about
            80 px and larger; use 1 for small faces (4x slower).
        min_confidence: boxes whose confidence (see ``score_to_confidence``) is below this are
            dropped.

    The predictor gives no per-point score, so ``landmarks`` returns the box confidence.
    """

    name = "dlib"
    version = f"{_dlib_version()}+sp68"
    subpixel_scale = 1

    def __init__(self, upsample: int = 0, min_confidence: float = 0.5) -> None:
        self.upsample = upsample
        self.min_confidence = min_confidence
        self._predictor = _shape_predictor()

    def detect(self, frame: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB uint8 frame (H, W, 3), best (highest score) first."""
        rects, scores, _ = _face_detector().run(to_gray(frame), self.upsample, 0.0)
        boxes = [
            FaceBox(r.left(), r.top(), r.right(), r.bottom(), score_to_confidence(s))
            for r, s in zip(rects, scores)
        ]
        boxes = [b for b in boxes if b.score >= self.min_confidence]
        return sorted(boxes, key=lambda b: b.score, reverse=True)

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> tuple[np.ndarray, float]:
        """68 (x, y) points in frame pixels, float32 (68, 2), and ``box.score`` as confidence
        (the detector confidence, or whatever a caller-made box carries: 1.0 by default).

        dlib rounds its points to whole pixels, which on a 100 px face is jitter as large as the
        motion of an eyelid. With ``subpixel_scale`` s > 1 (``DlibSubpixelLandmarker``), faces
        smaller than ``SUBPIXEL_FACE_PX`` are located on the box's neighbourhood upscaled s times
        by pixel replication, with the box mapped by ``u = s x + (s - 1) / 2`` (pixel centres
        onto pixel centres; s odd keeps the box corners whole). Every pixel the predictor
        samples is then the same pixel it samples in the frame, so it takes the same path
        through its trees and returns the same shape, rounded to 1/s of a pixel instead of 1."""
        dlib = _import_dlib()
        gray = to_gray(frame)
        corners = [int(round(v)) for v in (box.x0, box.y0, box.x1, box.y1)]
        scale = self.subpixel_scale if max(box.width, box.height) < SUBPIXEL_FACE_PX else 1
        (x0, y0), patch = _neighbourhood(gray, corners, scale)
        offset = (scale - 1) // 2
        left, top, right, bottom = (scale * (v - o) + offset for v, o in zip(corners, (x0, y0, x0, y0)))
        shape = self._predictor(patch, dlib.rectangle(left, top, right, bottom))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)  # (68, 2)
        return (points - offset) / scale + np.array([x0, y0], dtype=np.float32), float(box.score)


def _neighbourhood(gray: np.ndarray, corners: list[int], scale: int) -> tuple[tuple[int, int], np.ndarray]:
    """The box grown by ``NEIGHBOURHOOD_MARGIN`` per side (clipped to the frame) and repeated
    ``scale`` times along both axes (nearest-neighbour resize), with its top-left corner in frame pixels; scale 1 returns
    the whole frame."""
    if scale == 1:
        return (0, 0), gray
    x0, y0, x1, y1 = corners
    margin_x, margin_y = int(NEIGHBOURHOOD_MARGIN * (x1 - x0)), int(NEIGHBOURHOOD_MARGIN * (y1 - y0))
    height, width = gray.shape
    left, top = max(0, x0 - margin_x), max(0, y0 - margin_y)
    patch = gray[top:min(height, y1 + margin_y + 1), left:min(width, x1 + margin_x + 1)]
    return (left, top), cv2.resize(patch, (patch.shape[1] * scale, patch.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


class DlibSubpixelLandmarker(DlibLandmarker):
    """``DlibLandmarker`` whose points are located to 1/3 pixel (see ``landmarks``).

    Measured on the sample videos at 224 px (bench/landmark_backends.py): landmark jitter
    0.95 -> 0.63 and 1.08 -> 0.61 % of the inter-ocular distance, roll error at +-10 deg
    0.41 -> 0.30 deg; the predictor costs about 0.7 ms more per frame (a 9x larger image).
    """

    name = "dlib-subpixel"
    subpixel_scale = 3
    """Odd, so that box corners stay whole pixels after the upscale."""
