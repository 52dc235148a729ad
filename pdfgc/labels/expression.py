"""A pose-normalised expression code from 68 landmarks (``landmarks`` backend).

This is a geometric stand-in for EMOCA's expression/jaw codes, NOT EMOCA: it measures how the
mouth, jaw, brows and eyes are shaped, nothing about texture or wrinkles.

Steps per frame:
1. A 2D similarity (Procrustes) transform maps the rigid points (eye corners and nose, which
   expressions barely move) onto the frontal projection of ``pose.FACE_TEMPLATE_MM``. This
   removes in-plane rotation, scale and translation; the aligned points are in template
   millimetres with y pointing DOWN (image axes). Out-of-plane rotation (yaw, pitch) is not
   removed: strong head turns foreshorten the measures.
2. ``EXPRESSION_MEASURES``: a fixed, named list of distances (mm) between aligned points.
   "left"/"right" are the subject's sides (subject's left eye = points 42-47).

The code width ``EXPRESSION_DIM`` is the width of the shard's ``expression.npy``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from pdfgc.labels.base import LabelSpec
from pdfgc.labels.pose import FACE_TEMPLATE_MM, TEMPLATE_INDICES

_logger = logging.getLogger(__name__)

RIGID_INDICES = np.array([27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
_rigid_rows = np.searchsorted(TEMPLATE_INDICES, RIGID_INDICES)
FRONTAL_TEMPLATE_2D = FACE_TEMPLATE_MM[_rigid_rows, :2] * np.array([1.0, -1.0])  # (K, 2), y down

Measure = Callable[[np.ndarray], np.ndarray]


def _dist(points: np.ndarray, a: int, b: int) -> np.ndarray:
    """Distance between landmarks a and b, (T,) for points (T, 68, 2)."""
    return np.linalg.norm(points[:, a] - points[:, b], axis=-1)


def _height_above(points: np.ndarray, index: int, reference: list[int]) -> np.ndarray:
    """How far landmark ``index`` lies above the mean of ``reference`` (mm, + = higher)."""
    return points[:, reference, 1].mean(axis=1) - points[:, index, 1]


def _brow_raise(points: np.ndarray, brow: slice, eye: slice) -> np.ndarray:
    return points[:, eye, 1].mean(axis=1) - points[:, brow, 1].mean(axis=1)


EXPRESSION_MEASURES: tuple[tuple[str, str, Measure], ...] = (
    ("mouth_open", "inner lip gap, mean of 61-67, 62-66, 63-65",
     lambda p: (_dist(p, 61, 67) + _dist(p, 62, 66) + _dist(p, 63, 65)) / 3),
    ("mouth_width", "outer mouth corners 48-54", lambda p: _dist(p, 48, 54)),
    ("lip_corner_raise_left", "corner 54 above the outer lip centre (51, 57)",
     lambda p: _height_above(p, 54, [51, 57])),
    ("lip_corner_raise_right", "corner 48 above the outer lip centre (51, 57)",
     lambda p: _height_above(p, 48, [51, 57])),
    ("smile_curvature", "mean corner height above the inner mouth centre (62, 66)",
     lambda p: (_height_above(p, 48, [62, 66]) + _height_above(p, 54, [62, 66])) / 2),
    ("upper_lip_raise", "subnasale 33 to upper lip 51", lambda p: _dist(p, 33, 51)),
    ("lip_thickness", "outer lip height 51-57 minus the inner gap 62-66",
     lambda p: _dist(p, 51, 57) - _dist(p, 62, 66)),
    ("jaw_drop", "subnasale 33 to chin 8", lambda p: _dist(p, 33, 8)),
    ("mouth_shift", "mouth centre (48, 54) right of the nose line (27, 33), + toward the subject's left",
     lambda p: p[:, [48, 54], 0].mean(axis=1) - p[:, [27, 33], 0].mean(axis=1)),
    ("brow_raise_left", "brow 22-26 above eye 42-47", lambda p: _brow_raise(p, slice(22, 27), slice(42, 48))),
    ("brow_raise_right", "brow 17-21 above eye 36-41", lambda p: _brow_raise(p, slice(17, 22), slice(36, 42))),
    ("brow_furrow", "inner brow ends 21-22", lambda p: _dist(p, 21, 22)),
    ("eye_open_left", "lid gap, mean of 43-47 and 44-46", lambda p: (_dist(p, 43, 47) + _dist(p, 44, 46)) / 2),
    ("eye_open_right", "lid gap, mean of 37-41 and 38-40", lambda p: (_dist(p, 37, 41) + _dist(p, 38, 40)) / 2),
)
EXPRESSION_NAMES = tuple(name for name, _, _ in EXPRESSION_MEASURES)
EXPRESSION_DIM = len(EXPRESSION_MEASURES)

EXPRESSION_SPEC = LabelSpec(
    name="expression",
    dtype="float32",
    shape=(EXPRESSION_DIM,),
    unit="mm (template face)",
    convention="geometric stand-in for EMOCA codes: " + ", ".join(EXPRESSION_NAMES),
)


def align_to_template(landmarks: np.ndarray) -> np.ndarray:
    """Similarity-align (T, 68, 2) landmarks so their rigid points best fit the frontal template.

    Least squares over rotation, uniform scale and translation, solved in closed form with
    complex numbers: ``z -> a (z - mean_src) + mean_dst`` with
    ``a = sum(conj(src_c) dst_c) / sum(|src_c|^2)``.
    """
    points = landmarks[..., 0].astype(np.float64) + 1j * landmarks[..., 1]  # (T, 68)
    target = FRONTAL_TEMPLATE_2D[:, 0] + 1j * FRONTAL_TEMPLATE_2D[:, 1]  # (K,)
    source = points[:, RIGID_INDICES]  # (T, K)
    source_mean = source.mean(axis=1, keepdims=True)
    target_centred = target - target.mean()
    source_centred = source - source_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_rot = (np.conj(source_centred) * target_centred).sum(axis=1, keepdims=True) / (
            np.abs(source_centred) ** 2
        ).sum(axis=1, keepdims=True)  # (T, 1)
    aligned = scale_rot * (points - source_mean) + target.mean()  # (T, 68)
    return np.stack([aligned.real, aligned.imag], axis=-1)


def expression_code(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) pixel landmarks -> (T, EXPRESSION_DIM) measures in template mm."""
    aligned = align_to_template(landmarks)
    return np.stack([measure(aligned) for _, _, measure in EXPRESSION_MEASURES], axis=-1)


class ExpressionLabeler:
    """Geometric expression code per frame; see the module docstring."""

    name = "landmarks"
    version = "1"
    specs = (EXPRESSION_SPEC,)

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
        code = np.full((len(face_ok), EXPRESSION_DIM), np.nan, dtype=np.float32)  # (T, E)
        ok = np.flatnonzero(face_ok)
        if ok.size:
            code[ok] = expression_code(landmarks[ok])
        return {"expression": code}
