"""Eye state from landmarks and pixels: blink (eye aspect ratio) and gaze (pupil offset).

Sides are the SUBJECT's: the subject's right eye is points 36-41, which appears on the image
left in a frontal view; the subject's left eye is points 42-47. Both labels are ordered
(left, right) of the subject for blink, and (yaw, pitch) for gaze.

Blink: eye aspect ratio (Soukupova & Cech, 2016), ``EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|)``
with p1..p6 the six eye points; about 0.25-0.35 open, below about 0.15 closed.

Gaze is an image-based stand-in for a learned gaze estimator, not one: the pupil is the
darkness-weighted centroid of the pixels inside the eye polygon that are darker than a
percentile of that eye's intensities; its offset from the midpoint of the two eye corners is
measured along and across the corner-to-corner axis (so head roll cancels), divided by the eye
width, and turned into angles with a linear eyeball model: the pupil moves on a sphere of
``EYEBALL_RADIUS_MM`` behind an eye opening ``EYE_WIDTH_MM`` wide. Angles are relative to the
head (eye-in-head), with the head pose signs: +yaw looks toward the subject's left (image
right), +pitch looks down. Frames where both eyes are closed (EAR below ``CLOSED_EAR``) or no
dark blob is found get NaN gaze even when the face was found.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pdfgc.labels.base import LabelSpec

_logger = logging.getLogger(__name__)

SUBJECT_LEFT_EYE = np.arange(42, 48)
SUBJECT_RIGHT_EYE = np.arange(36, 42)
EYES_LEFT_RIGHT = np.stack([SUBJECT_LEFT_EYE, SUBJECT_RIGHT_EYE])  # (2, 6) landmark indices
EYEBALL_RADIUS_MM = 12.0
EYE_WIDTH_MM = 30.0
CLOSED_EAR = 0.15
PUPIL_PERCENTILE = 30.0
"""Pixels darker than this percentile of the eye's intensities count as iris/pupil."""
EYE_MARGIN_PX = 2
PUPIL_REST_ACROSS = -0.16
"""Pupil offset across the corner axis (eye widths, negative = up) when looking straight ahead:
the iris centre sits above the corner line. Measured as the mean on two real portraits whose
subjects look into the camera (the test footage's ``images``)."""

BLINK_SPEC = LabelSpec(
    name="blink",
    dtype="float32",
    shape=(2,),
    unit="ratio",
    convention="eye aspect ratio of the subject's (left, right) eye = points (42-47, 36-41)",
)
GAZE_SPEC = LabelSpec(
    name="gaze",
    dtype="float32",
    shape=(2,),
    unit="deg",
    convention="eye-in-head yaw (+ toward the subject's left), pitch (+ down); pupil-offset "
    "stand-in; NaN when both eyes are closed",
)


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (T, 68, 2) -> EAR (T, 2) of the subject's (left, right) eye."""
    eyes = landmarks[:, EYES_LEFT_RIGHT].astype(np.float64)  # (T, 2, 6, 2)
    vertical = np.linalg.norm(eyes[..., 1, :] - eyes[..., 5, :], axis=-1) + np.linalg.norm(
        eyes[..., 2, :] - eyes[..., 4, :], axis=-1
    )  # (T, 2)
    horizontal = np.linalg.norm(eyes[..., 0, :] - eyes[..., 3, :], axis=-1)  # (T, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return vertical / (2.0 * horizontal)


def pupil_centre(gray: np.ndarray, eye: np.ndarray) -> np.ndarray | None:
    """Darkness-weighted centroid (x, y) of one eye's iris in frame pixels, or None.

    gray (H, W) uint8; eye (6, 2) the eye's landmarks in the same pixels.
    """
    x0, y0 = np.floor(eye.min(axis=0)).astype(int) - EYE_MARGIN_PX
    x1, y1 = np.ceil(eye.max(axis=0)).astype(int) + EYE_MARGIN_PX
    x0, y0 = max(x0, 0), max(y0, 0)
    patch = gray[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    if patch.size == 0:
        return None
    mask = np.zeros(patch.shape, dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(eye - (x0, y0)).astype(np.int32)], 1)
    inside = patch[mask > 0]
    if inside.size < 4:
        return None
    weight = np.clip(np.percentile(inside, PUPIL_PERCENTILE) - patch, 0.0, None) * mask
    total = weight.sum()
    if total <= 0:
        return None
    ys, xs = np.indices(patch.shape)
    return np.array([(weight * xs).sum() / total + x0, (weight * ys).sum() / total + y0])


def gaze_from_offset(along: float, across: float) -> tuple[float, float]:
    """Pupil offset in eye widths (along the corner axis to image right, across it downward)
    -> (yaw, pitch) in degrees under the linear eyeball model, pitch from the rest offset."""
    scale = EYE_WIDTH_MM / EYEBALL_RADIUS_MM
    yaw = np.degrees(np.arcsin(np.clip(along * scale, -1.0, 1.0)))
    pitch = np.degrees(np.arcsin(np.clip((across - PUPIL_REST_ACROSS) * scale, -1.0, 1.0)))
    return float(yaw), float(pitch)


def eye_gaze(gray: np.ndarray, eye: np.ndarray) -> tuple[float, float] | None:
    """(yaw, pitch) degrees of one eye, or None when no pupil is found."""
    pupil = pupil_centre(gray, eye)
    if pupil is None:
        return None
    axis = eye[3] - eye[0]  # image-left corner -> image-right corner
    width = float(np.linalg.norm(axis))
    if width < 1.0:
        return None
    along_unit = axis / width
    across_unit = np.array([-along_unit[1], along_unit[0]])  # image down when the eye is level
    offset = pupil - (eye[0] + eye[3]) / 2.0
    return gaze_from_offset(float(offset @ along_unit) / width, float(offset @ across_unit) / width)


def frame_gaze(gray: np.ndarray, landmarks: np.ndarray, ear: np.ndarray) -> np.ndarray:
    """Mean (yaw, pitch) of the open eyes of one frame, (2,); NaN when none is usable."""
    estimates = [
        eye_gaze(gray, landmarks[indices].astype(np.float64))
        for indices, ratio in zip(EYES_LEFT_RIGHT, ear)
        if ratio >= CLOSED_EAR
    ]
    estimates = [e for e in estimates if e is not None]
    if not estimates:
        return np.full(2, np.nan)
    return np.mean(estimates, axis=0)


class EyeLabeler:
    """Blink (EAR) and gaze (pupil offset stand-in) per frame; see the module docstring."""

    name = "landmarks"
    version = "1"
    specs = (BLINK_SPEC, GAZE_SPEC)

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
        blink = np.full((len(face_ok), 2), np.nan, dtype=np.float32)  # (T, 2)
        gaze = np.full((len(face_ok), 2), np.nan, dtype=np.float32)  # (T, 2)
        ok = np.flatnonzero(face_ok)
        if ok.size:
            blink[ok] = eye_aspect_ratio(landmarks[ok])
        for t in ok:
            gray = cv2.cvtColor(np.ascontiguousarray(frames[t]), cv2.COLOR_RGB2GRAY)
            gaze[t] = frame_gaze(gray, landmarks[t], blink[t])
        return {"blink": blink, "gaze": gaze}
