"""6D head pose from 68 2D landmarks: a canonical 3D face fitted with PnP (``pnp`` backend).

Conventions (the same as Deep3DFaceRecon, see docs/LABELS.md):

- Face frame, millimetres: x toward the subject's LEFT (image right in a frontal view), y up,
  z out of the face toward the camera. The origin is the centroid of ``FACE_TEMPLATE_MM``.
- Rotation ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` maps face points into a camera frame with x to
  the image right, y to the image up, and the camera on the +z side looking toward -z.
  Seen in the image: positive pitch = the face looks down; positive yaw = the face turns to the
  subject's left (nose toward image right); positive roll = the face turns counter-clockwise.
- Translation (mm): tx to the image right, ty up, tz = distance from the camera to the face
  origin along the optical axis (always > 0).
- Camera: pinhole, focal ``FOCAL_PER_WIDTH * image width`` px (Deep3DFaceRecon's 1015 px for a
  224 px crop), principal point at the image centre.

This is a rigid fit of a mean face: absolute depth (tz) is only as good as the assumption that
the subject has the template's size, and pitch zero is the template's, which is a few degrees
from BFM's. Contour points slide with yaw and the lower lip and chin move with speech, so the
fit uses only the eye corners, the nose and the upper mouth.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pdfgc.labels.base import LabelSpec

_logger = logging.getLogger(__name__)

FOCAL_PER_WIDTH = 1015.0 / 224.0
POSE_DIM = 6

# Anthropometric mean face (adult, mm) for the 68-point scheme. Image-left points of a frontal
# face (e.g. 36-41, the subject's right eye) have x < 0. Built from typical adult distances:
# biocular width ~90 mm, intercanthal ~32 mm, nasion-subnasale ~53 mm, mouth width ~50 mm,
# nose tip ~32 mm in front of the inner eye corners, outer corners ~18 mm behind them.
_TEMPLATE_RAW_MM: dict[int, tuple[float, float, float]] = {
    27: (0.0, 8.0, 8.0),  # nasion / top of the nose bridge
    28: (0.0, -9.0, 15.0),
    29: (0.0, -24.0, 23.0),
    30: (0.0, -40.0, 32.0),  # nose tip (pronasale)
    31: (-11.0, -41.0, 14.0),  # subject's right nostril, lower edge
    33: (0.0, -45.0, 17.0),  # subnasale
    35: (11.0, -41.0, 14.0),
    36: (-45.0, 0.0, -18.0),  # subject's right eye, outer corner
    39: (-16.0, 0.0, 0.0),  # subject's right eye, inner corner
    42: (16.0, 0.0, 0.0),
    45: (45.0, 0.0, -18.0),
    48: (-25.0, -67.0, 0.0),  # mouth corner, subject's right
    51: (0.0, -58.0, 15.0),  # upper lip, top
    54: (25.0, -67.0, 0.0),
}
TEMPLATE_INDICES = np.array(sorted(_TEMPLATE_RAW_MM), dtype=np.int64)
_raw = np.array([_TEMPLATE_RAW_MM[i] for i in TEMPLATE_INDICES], dtype=np.float64)
FACE_TEMPLATE_MM = _raw - _raw.mean(axis=0)  # (K, 3), centred on its centroid

# Face frame (x left-of-subject, y up, z to camera) -> OpenCV camera (x right, y down, z forward).
_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
_FRONTAL_RVEC = cv2.Rodrigues(_TO_OPENCV)[0]  # the face looking straight at the camera

POSE_SPEC = LabelSpec(
    name="pose",
    dtype="float32",
    shape=(POSE_DIM,),
    unit="deg, deg, deg, mm, mm, mm",
    convention="pitch, yaw, roll (R = Rz Ry Rx, Deep3DFaceRecon axes: +pitch looks down, "
    "+yaw turns to the subject's left, +roll counter-clockwise in the image); tx right, ty up, "
    "tz distance; pinhole focal 1015/224 * width, centre principal point",
)


def euler_to_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Angles in radians -> R = Rz(roll) @ Ry(yaw) @ Rx(pitch), (3, 3)."""
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def rotation_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of ``euler_to_rotation``: (pitch, yaw, roll) in radians, yaw in [-pi/2, pi/2]."""
    yaw = float(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = float(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = float(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return pitch, yaw, roll


def camera_matrix(width: int, height: int) -> np.ndarray:
    """The documented pinhole camera (3, 3) for an image of this size."""
    focal = FOCAL_PER_WIDTH * width
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def _initial_translation(points: np.ndarray, focal: float, centre: np.ndarray) -> np.ndarray:
    """OpenCV-frame translation that puts a frontal template over the landmarks' extent."""
    template_span = np.ptp(FACE_TEMPLATE_MM[:, :2], axis=0).max()
    image_span = max(np.ptp(points, axis=0).max(), 1.0)
    depth = focal * template_span / image_span
    offset = (points.mean(axis=0) - centre) * depth / focal
    return np.array([offset[0], offset[1], depth])


def pose_from_landmarks(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """68 (x, y) pixel landmarks (68, 2) -> pose (6,) float64: pitch, yaw, roll (deg), tx, ty, tz (mm)."""
    points = landmarks[TEMPLATE_INDICES].astype(np.float64)  # (K, 2)
    camera = camera_matrix(width, height)
    tvec = _initial_translation(points, camera[0, 0], camera[:2, 2])
    ok, rvec, tvec = cv2.solvePnP(
        FACE_TEMPLATE_MM, points, camera, None, _FRONTAL_RVEC.copy(), tvec.reshape(3, 1),
        useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or tvec[2, 0] <= 0:
        return np.full(POSE_DIM, np.nan)
    rotation = _TO_OPENCV @ cv2.Rodrigues(rvec)[0]
    angles = np.degrees(rotation_to_euler(rotation))
    translation = tvec[:, 0] * np.array([1.0, -1.0, 1.0])  # OpenCV y points down; ours up
    return np.concatenate([angles, translation])


class PoseLabeler:
    """Head pose from landmarks by PnP against ``FACE_TEMPLATE_MM`` (see the module docstring)."""

    name = "pnp"
    version = "1"
    specs = (POSE_SPEC,)

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
        height, width = frames.shape[1:3]
        pose = np.full((len(face_ok), POSE_DIM), np.nan, dtype=np.float32)  # (T, 6)
        for t in np.flatnonzero(face_ok):
            pose[t] = pose_from_landmarks(landmarks[t], width, height)
        return {"pose": pose}
