"""Learned gaze: an ETH-XGaze-style ResNet-50 regressor loaded from a local weights-only file.

Model: ResNet-50 trunk (torchvision names under ``gaze_network.``) + ``gaze_fc.0`` Linear(2048, 2)
-> (pitch, yaw) in radians, ETH-XGaze signs: gaze vector (-cos p sin y, -sin p, -cos p cos y)
in an OpenCV camera, so +pitch looks up and +yaw looks toward the image left.
``to_project_gaze`` flips both to this project's convention (+yaw toward the subject's left =
image right, +pitch down; degrees), as in ``pdfgc.labels.eyes``.

File: ``gaze_resnet50.pth`` in ``labels.weights_dir``: a state dict (or ``{"model_state": ...}``
as ETH-XGaze's ``epoch_24_ckpt.pth.tar``, renamed) readable with ``torch.load(weights_only=True)``.
Input crop: the face scaled and rotated so the eye and mouth centres fit fixed spots of a
224 crop, ImageNet-normalised. ETH-XGaze also rotates to a virtual camera (its "data
normalisation"), which needs a calibrated camera and is not done here, so predictions are
approximate for faces far from the image centre. The estimate is camera-frame gaze, not
eye-in-head like the ``landmarks`` backend. Not run in tests (no weights here); the output
mapping and the missing-file error are tested.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from pdfgc.labels.backends.resnet import RESNET50_FEATURES, ResNet50Trunk
from pdfgc.labels.backends.weights import load_weights_only, require_file
from pdfgc.labels.eyes import GAZE_SPEC

_logger = logging.getLogger(__name__)

GAZE_WEIGHTS_FILE = "gaze_resnet50.pth"
HOW_TO_GET = (
    "download the ETH-XGaze ResNet-50 checkpoint (github.com/xucong-zhang/ETH-XGaze, 'pre-trained model'), "
    "re-save its 'model_state' with torch.save(state_dict) and name it gaze_resnet50.pth"
)
CROP_SIZE = 224
CROP_ANCHORS = np.array([[80.0, 90.0], [144.0, 90.0], [112.0, 160.0]])
"""Where the subject's right eye, left eye and inner-mouth centres go in the crop (pixels)."""
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def to_project_gaze(pitch_yaw_rad: np.ndarray) -> np.ndarray:
    """ETH-XGaze (pitch, yaw) radians (T, 2) -> this project's (yaw, pitch) degrees (T, 2)."""
    pitch_yaw = np.degrees(np.asarray(pitch_yaw_rad, dtype=np.float64))
    return np.stack([-pitch_yaw[:, 1], -pitch_yaw[:, 0]], axis=-1)


def crop_transform(landmarks: np.ndarray) -> np.ndarray:
    """Similarity (2, 3) mapping eye centres and the inner-mouth centre onto ``CROP_ANCHORS``."""
    centres = np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[60:68].mean(0)])
    matrix, _ = cv2.estimateAffinePartial2D(centres.astype(np.float32), CROP_ANCHORS.astype(np.float32))
    return matrix


class GazeNet(torch.nn.Module):
    """ETH-XGaze baseline: ResNet-50 features -> Linear(2048, 2) (pitch, yaw) radians."""

    def __init__(self) -> None:
        super().__init__()
        self.gaze_network = ResNet50Trunk()
        self.gaze_fc = torch.nn.Sequential(torch.nn.Linear(RESNET50_FEATURES, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gaze_fc(self.gaze_network(x).flatten(1))  # (B, 2)


def load_gaze_net(path: Path, device: str) -> GazeNet:
    return load_weights_only(GazeNet(), path, "model_state", device)


class LearnedGazeLabeler:
    """Gaze from the learned regressor (blink is not produced: use ``EyeLabeler`` for it).

    Args:
        weights_dir: folder holding ``gaze_resnet50.pth``.
        device: torch device.
    """

    name = "eth-xgaze"
    version = "resnet50"
    specs = (GAZE_SPEC,)

    def __init__(self, weights_dir: str | None, device: str = "cpu") -> None:
        path = require_file("gaze", GAZE_WEIGHTS_FILE, [weights_dir], HOW_TO_GET)
        self._device = device
        self._net = load_gaze_net(path, device)

    def _batch(self, frames: np.ndarray, landmarks: np.ndarray) -> torch.Tensor:
        crops = np.stack([
            cv2.warpAffine(frame, crop_transform(points), (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
            for frame, points in zip(frames, landmarks)
        ]).astype(np.float64) / 255.0  # (T, 224, 224, 3)
        normalised = (crops - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(normalised).permute(0, 3, 1, 2).float().to(self._device)

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
        gaze = np.full((len(face_ok), 2), np.nan, dtype=np.float32)  # (T, 2)
        ok = np.flatnonzero(face_ok)
        if ok.size:
            with torch.no_grad():
                raw = self._net(self._batch(frames[ok], landmarks[ok])).cpu().numpy()  # (N, 2)
            gaze[ok] = to_project_gaze(raw)
        return {"gaze": gaze}
