"""dlib's face-recognition ResNet: a 128-d identity embedding of a face given its landmarks.

Weights: ``dlib_face_recognition_resnet_model_v1.dat`` inside the installed
``face_recognition_models`` package (CC0; found with ``importlib.util.find_spec`` because
importing that package fails without ``pkg_resources``). dlib aligns a 150 x 150 face chip from
the landmarks (``get_face_chip``, which accepts the 68-point shape) and embeds it; two faces
closer than 0.6 are the same person by dlib's rule. This is NOT ArcFace.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from pdfgc.errors import MissingWeightsError
from pdfgc.labels.landmarks import MODELS_PACKAGE, _import_dlib, predictor_path

_logger = logging.getLogger(__name__)

RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"


def recognition_model_path() -> Path:
    """The face-recognition model file beside the 68-point predictor in ``face_recognition_models``."""
    path = predictor_path().parent / RECOGNITION_FILE
    if not path.is_file():
        raise MissingWeightsError(f"{path} is missing: reinstall {MODELS_PACKAGE}")
    return path


@functools.cache
def _recognition_model():
    path = recognition_model_path()
    _logger.info("loading dlib face recognition model from %s", path)
    return _import_dlib().face_recognition_model_v1(str(path))


class FaceEmbedder:
    """128-d dlib embeddings of faces whose 68 landmarks are known."""

    def __init__(self) -> None:
        self._model = _recognition_model()

    def embed(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """frame (H, W, 3) uint8 RGB, landmarks (68, 2) in its pixels -> (128,) float32."""
        dlib = _import_dlib()
        low, high = np.floor(landmarks.min(axis=0)), np.ceil(landmarks.max(axis=0))
        box = dlib.rectangle(int(low[0]), int(low[1]), int(high[0]), int(high[1]))
        parts = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in landmarks])
        shape = dlib.full_object_detection(box, parts)
        descriptor = self._model.compute_face_descriptor(np.ascontiguousarray(frame), shape)
        return np.asarray(descriptor, dtype=np.float32)
