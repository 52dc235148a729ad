"""Head pose from Deep3DFaceRecon (Deng et al. 2019, PyTorch release ``sicxu/Deep3DFaceRecon_pytorch``).

The network is a ResNet-50 that regresses 257 coefficients from a 224 x 224 crop:
id 80, exp 64, tex 80, angle 3 (radians, x=pitch, y=yaw, z=roll), gamma 27 (SH lighting),
trans 3 (BFM units = decimetres, camera at z = 10 looking toward -z). ``coefficients_to_labels``
maps them to this project's schema (same axes and signs as ``pdfgc.labels.pose``, see
docs/LABELS.md): pose in degrees and millimetres, and the 64 expression coefficients.

Files, all in ``labels.weights_dir``:
- ``epoch_20.pth``: the released checkpoint (link in the Deep3DFaceRecon_pytorch README);
- ``similarity_Lm3D_all.mat``: the standard 3D landmarks used to crop (in that repo's ``BFM/``).
``BFM_model_front.mat`` (built from BFM09, which needs registration at
https://faces.dmi.unibas.ch/bfm/) is only needed to rebuild meshes, not for pose.

The crop follows the release's ``align_img`` (5 points fitted to the standard landmarks with
scale and translation, rescale factor 102) but fits scale and translation by least squares
instead of the release's POS solver. Not run in this repository's tests (no weights here);
the coefficient mapping and the missing-file errors are tested.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from pdfgc.labels.backends.resnet import RESNET50_FEATURES, ResNet50Trunk
from pdfgc.labels.backends.weights import load_weights_only, require_file
from pdfgc.labels.pose import POSE_DIM, POSE_SPEC

_logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "epoch_20.pth"
STANDARD_LANDMARKS_FILE = "similarity_Lm3D_all.mat"
HOW_TO_GET = (
    "get epoch_20.pth from the Deep3DFaceRecon_pytorch README (github.com/sicxu/Deep3DFaceRecon_pytorch, "
    "'Prepare prerequisite models') and similarity_Lm3D_all.mat from that repository's BFM/ folder"
)
COEFF_SLICES = {
    "id": slice(0, 80),
    "exp": slice(80, 144),
    "tex": slice(144, 224),
    "angle": slice(224, 227),
    "gamma": slice(227, 254),
    "trans": slice(254, 257),
}
COEFF_DIM = 257
FINAL_LAYER_SIZES = (80, 64, 80, 3, 27, 2, 1)
MM_PER_BFM_UNIT = 100.0
"""Deep3DFaceRecon divides BFM09 micrometres by 1e5: one unit is a decimetre."""
CAMERA_DISTANCE = 10.0
CROP_SIZE = 224
RESCALE_FACTOR = 102.0

def coefficients_to_labels(coeffs: np.ndarray) -> dict[str, np.ndarray]:
    """Deep3DFaceRecon coefficients (T, 257) -> {"pose": (T, 6), "expression": (T, 64)}.

    pose = (pitch, yaw, roll) in degrees, tx and ty in mm (right, up), tz = distance from the
    camera in mm: the release's camera sits at z = 10 units, so tz = 100 * (10 - trans_z).
    """
    coeffs = np.asarray(coeffs, dtype=np.float64)
    angles = np.degrees(coeffs[:, COEFF_SLICES["angle"]])  # (T, 3)
    trans = coeffs[:, COEFF_SLICES["trans"]]  # (T, 3)
    translation = np.stack(
        [trans[:, 0], trans[:, 1], CAMERA_DISTANCE - trans[:, 2]], axis=-1
    ) * MM_PER_BFM_UNIT  # (T, 3)
    return {
        "pose": np.concatenate([angles, translation], axis=-1),
        "expression": coeffs[:, COEFF_SLICES["exp"]].copy(),
    }


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """68 points (68, D) -> the release's 5: image-left eye, image-right eye, nose, mouth corners."""
    return np.stack([
        landmarks[[36, 39]].mean(axis=0), landmarks[[42, 45]].mean(axis=0),
        landmarks[30], landmarks[48], landmarks[54],
    ])


def crop_transform(landmarks: np.ndarray, standard_5: np.ndarray, height: int) -> np.ndarray:
    """Affine (2, 3) from frame pixels to the 224 crop, as the release's ``align_img``.

    The standard landmarks' (x, y) (y up, BFM units) are fitted to the 5 image points (y flipped
    up) with one scale and a translation; the frame is scaled by RESCALE_FACTOR / scale and
    cropped so that the fitted origin lands at the crop's centre.
    """
    points = five_points(landmarks).astype(np.float64)
    points[:, 1] = height - 1 - points[:, 1]
    model = standard_5[:, :2] - standard_5[:, :2].mean(axis=0)
    scale = float((model * (points - points.mean(axis=0))).sum() / (model**2).sum())
    origin = points.mean(axis=0) - scale * standard_5[:, :2].mean(axis=0)  # fitted (0, 0), y up
    zoom = RESCALE_FACTOR / scale
    left = CROP_SIZE / 2 - origin[0] * zoom
    up = CROP_SIZE / 2 - (height - origin[1]) * zoom
    return np.array([[zoom, 0.0, left], [0.0, zoom, up]])


class ReconNet(torch.nn.Module):
    """ResNet-50 trunk + one 1x1 conv per coefficient group (the release's ReconNetWrapper)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet50Trunk()
        self.final_layers = torch.nn.ModuleList(
            torch.nn.Conv2d(RESNET50_FEATURES, size, 1) for size in FINAL_LAYER_SIZES
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)  # (B, 2048, 1, 1)
        return torch.cat([layer(features) for layer in self.final_layers], dim=1).flatten(1)  # (B, 257)


def load_recon_net(checkpoint: Path, device: str) -> ReconNet:
    """The release checkpoint's ``net_recon`` weights, loaded without unpickling objects."""
    return load_weights_only(ReconNet(), checkpoint, "net_recon", device)


class Deep3DPoseLabeler:
    """Pose from Deep3DFaceRecon's coefficients; see the module docstring.

    Args:
        weights_dir: folder holding ``epoch_20.pth`` and ``similarity_Lm3D_all.mat``.
        device: torch device.
    """

    name = "deep3d"
    version = "epoch_20"
    specs = (POSE_SPEC,)

    def __init__(self, weights_dir: str | None, device: str = "cpu") -> None:
        checkpoint = require_file("deep3d", CHECKPOINT_FILE, [weights_dir], HOW_TO_GET)
        standard = require_file("deep3d", STANDARD_LANDMARKS_FILE, [weights_dir], HOW_TO_GET)
        from scipy.io import loadmat

        self._standard_5 = five_points(loadmat(str(standard))["lm"].astype(np.float64))  # (5, 3)
        self._device = device
        self._net = load_recon_net(checkpoint, device)

    def coefficients(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 frames + (T, 68, 2) landmarks -> (T, 257) coefficients."""
        height = frames.shape[1]
        crops = np.stack([
            cv2.warpAffine(frame, crop_transform(points, self._standard_5, height), (CROP_SIZE, CROP_SIZE),
                           flags=cv2.INTER_CUBIC)
            for frame, points in zip(frames, landmarks)
        ])  # (T, 224, 224, 3)
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0).to(self._device)
        with torch.no_grad():
            return self._net(batch).cpu().numpy()

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
        pose = np.full((len(face_ok), POSE_DIM), np.nan, dtype=np.float32)  # (T, 6)
        ok = np.flatnonzero(face_ok)
        if ok.size:
            pose[ok] = coefficients_to_labels(self.coefficients(frames[ok], landmarks[ok]))["pose"]
        return {"pose": pose}
