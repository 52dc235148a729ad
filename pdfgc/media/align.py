"""Face alignment: one similarity transform per chunk, frame pixels -> crop pixels.

``pdfgc`` (the release, PC-AVS style): the eye centres (points 36-41, 42-47) and the inner-mouth
centre (60-67), averaged over the chunk's face frames, are mapped by a least-squares similarity
transform to (87, 59), (137, 59), (112, 120) of a 224 crop; PD-FGC then keeps
``img[0:192, 16:208]`` and resizes it back to 224. Here the crop-and-resize is folded into the
same affine matrix, so each frame is resampled once, and the template scales with ``crop_size``.

``box``: a square around the chunk's mean landmark bounding box, grown by ``box_scale``.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

_logger = logging.getLogger(__name__)

TEMPLATE_POINTS = np.array([[87.0, 59.0], [137.0, 59.0], [112.0, 120.0]])  # (3, 2) in a 224 crop
RELEASE_CROP = (16.0, 0.0, 192.0)
"""(x0, y0, side) of the sub-window ``img[0:192, 16:208]`` that PD-FGC resizes back to full size."""
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
INNER_MOUTH = slice(60, 68)


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres and inner-mouth centre (3, 2) of 68 landmarks (68, 2)."""
    return np.stack([landmarks[part].mean(axis=0) for part in (LEFT_EYE, RIGHT_EYE, INNER_MOUTH)])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation (2, 3) taking src (K, 2) to dst (K, 2).

    Solves ``x' = a x - b y + tx, y' = b x + a y + ty`` for (a, b, tx, ty).
    """
    n_points = src.shape[0]
    system = np.zeros((2 * n_points, 4))
    system[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n_points), np.zeros(n_points)])
    system[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n_points), np.ones(n_points)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(system, dst.reshape(-1).astype(np.float64), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def release_template(crop_size: int) -> np.ndarray:
    """Template points (3, 2) in a ``crop_size`` crop after the release's crop-and-resize."""
    x0, y0, side = RELEASE_CROP
    return (TEMPLATE_POINTS - [x0, y0]) * (crop_size / side)


def pdfgc_transform(landmarks: np.ndarray, face_ok: np.ndarray, crop_size: int) -> np.ndarray:
    """Frame -> crop matrix (2, 3) from landmarks (T, 68, 2) averaged over the face_ok frames."""
    mean_landmarks = landmarks[face_ok].mean(axis=0)  # (68, 2)
    return similarity_transform(anchor_points(mean_landmarks), release_template(crop_size))


def box_transform(landmarks: np.ndarray, face_ok: np.ndarray, crop_size: int, box_scale: float) -> np.ndarray:
    """Frame -> crop matrix (2, 3) of a square box around the chunk's mean landmark bounds."""
    valid = landmarks[face_ok]  # (F, 68, 2)
    low, high = valid.min(axis=1).mean(axis=0), valid.max(axis=1).mean(axis=0)
    centre = (low + high) / 2
    side = float((high - low).max()) * box_scale
    scale = crop_size / side
    return np.array([[scale, 0.0, crop_size / 2 - scale * centre[0]], [0.0, scale, crop_size / 2 - scale * centre[1]]])


def chunk_transform(landmarks: np.ndarray, face_ok: np.ndarray, crop_size: int, method: str, box_scale: float) -> np.ndarray:
    """The chunk's frame -> crop matrix (2, 3) for ``DataConfig.alignment``."""
    if method == "box":
        return box_transform(landmarks, face_ok, crop_size, box_scale)
    return pdfgc_transform(landmarks, face_ok, crop_size)


def warp_crop(frame: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """Aligned crop (crop_size, crop_size, 3) with a black border outside the frame."""
    return cv2.warpAffine(
        frame, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to points (..., 2); NaN stays NaN."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
