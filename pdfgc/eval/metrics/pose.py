"""Pose error: how far the output's measured head pose is from the pose driver's labels.

Both sides are ``pose`` labels (T, 6) = pitch, yaw, roll (degrees), tx, ty, tz (mm) in the
project's convention (docs/LABELS.md), measured by the same labeler. The driver's labels come
from its real frames, the output's from the generated frames; frames where either side has no
face (NaN) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROTATION = slice(0, 3)
TRANSLATION = slice(3, 6)


@dataclass(frozen=True)
class PoseError:
    rotation_deg: float
    """Mean over frames and the three angles of |driver - output| (degrees)."""
    translation_mm: float
    """Mean over frames and tx, ty, tz of |driver - output| (millimetres)."""
    frames: int
    """Frames with a face on both sides."""


def pose_error(driver: np.ndarray, measured: np.ndarray) -> PoseError:
    """Mean absolute rotation (deg) and translation (mm) error over frames with a face on both sides.

    Args:
        driver: (T, 6) labels of the pose driver's frames.
        measured: (T, 6) labels measured on the generated frames.
    """
    driver, measured = np.asarray(driver, np.float64), np.asarray(measured, np.float64)
    if driver.shape != measured.shape or driver.ndim != 2 or driver.shape[1] != 6:
        raise ValueError(f"expected two (T, 6) pose arrays, got {driver.shape} and {measured.shape}")
    ok = np.isfinite(driver).all(axis=1) & np.isfinite(measured).all(axis=1)
    if not ok.any():
        return PoseError(float("nan"), float("nan"), 0)
    error = np.abs(driver[ok] - measured[ok])  # (N, 6)
    return PoseError(float(error[:, ROTATION].mean()), float(error[:, TRANSLATION].mean()), int(ok.sum()))
