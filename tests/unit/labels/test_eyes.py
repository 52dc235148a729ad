"""Blink (EAR) and the pupil-offset gaze stand-in."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pdfgc.labels.eyes import (
    EYE_WIDTH_MM,
    EYEBALL_RADIUS_MM,
    PUPIL_REST_ACROSS,
    EyeLabeler,
    eye_aspect_ratio,
    eye_gaze,
    gaze_from_offset,
    pupil_centre,
)

# A level eye 40 px wide: corners (10, 20), (50, 20); upper lid y = 14, lower lid y = 26.
HAND_EYE = np.array([[10, 20], [22, 14], [38, 14], [50, 20], [38, 26], [22, 26]], dtype=np.float64)


def synthetic_eye(pupil_xy: tuple[float, float]) -> np.ndarray:
    """A bright eye with a dark iris disc of radius 5 px at pupil_xy, gray (40, 60)."""
    gray = np.full((40, 60), 220, np.uint8)
    cv2.circle(gray, (int(pupil_xy[0] * 16), int(pupil_xy[1] * 16)), 5 * 16, 30, -1, cv2.LINE_AA, shift=4)
    return gray


def close_eyes(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Paint both eyes shut: fill each eye (grown 35 %) with cheek colour, draw a lash line."""
    out = image.copy()
    for eye in (points[36:42], points[42:48]):
        centre, width = eye.mean(axis=0), np.linalg.norm(eye[3] - eye[0])
        cheek = np.round(centre + [0, 0.8 * width]).astype(int)
        skin = image[cheek[1] - 2 : cheek[1] + 3, cheek[0] - 2 : cheek[0] + 3].reshape(-1, 3).mean(axis=0)
        cv2.fillPoly(out, [np.round((eye - centre) * 1.35 + centre).astype(np.int32)], skin.tolist())
        cv2.line(out, tuple(np.round(eye[0]).astype(int).tolist()), tuple(np.round(eye[3]).astype(int).tolist()),
                 (40, 30, 30), 2)
    return out


def test_ear_of_a_hand_made_eye():
    landmarks = np.zeros((1, 68, 2))
    landmarks[0, 36:42] = HAND_EYE  # subject's right eye: column 1
    landmarks[0, 42:48] = HAND_EYE * [1, 0.5]  # half as tall: column 0
    ear = eye_aspect_ratio(landmarks)
    # (|p2-p6| + |p3-p5|) / (2 |p1-p4|) = (12 + 12) / 80 = 0.3; the flattened eye: 6 + 6 over 80.
    np.testing.assert_allclose(ear, [[0.15, 0.3]])


def test_pupil_centre_finds_a_dark_disc():
    for pupil in [(30.0, 20.0), (36.5, 19.0), (24.0, 21.5)]:
        np.testing.assert_allclose(pupil_centre(synthetic_eye(pupil), HAND_EYE), pupil, atol=0.6)


def test_gaze_model_by_hand():
    # along = 0.2 eye widths = 6 mm on a 12 mm eyeball: asin(0.5) = 30 deg.
    yaw, pitch = gaze_from_offset(0.2, PUPIL_REST_ACROSS)
    assert yaw == pytest.approx(30.0) and pitch == pytest.approx(0.0, abs=1e-9)
    assert EYE_WIDTH_MM / EYEBALL_RADIUS_MM == pytest.approx(2.5)
    assert gaze_from_offset(0.0, PUPIL_REST_ACROSS + 0.1)[1] == pytest.approx(np.degrees(np.arcsin(0.25)))


def test_gaze_signs_follow_the_pupil():
    centre_yaw, centre_pitch = eye_gaze(synthetic_eye((30, 20)), HAND_EYE)
    right_yaw, _ = eye_gaze(synthetic_eye((36, 20)), HAND_EYE)
    _, down_pitch = eye_gaze(synthetic_eye((30, 23)), HAND_EYE)
    assert abs(centre_yaw) < 1.5
    assert right_yaw > centre_yaw + 10, "pupil toward image right = +yaw (subject's left)"
    assert down_pitch > centre_pitch + 5, "pupil lower = +pitch (looking down)"


def test_ear_drops_when_real_eyes_are_painted_shut(portraits, find_landmarks):
    for name, image in portraits.items():
        points = find_landmarks(image)
        open_ear = eye_aspect_ratio(points[None])[0]
        shut_ear = eye_aspect_ratio(find_landmarks(close_eyes(image, points))[None])[0]
        assert (open_ear > 0.28).all() and (shut_ear < 0.7 * open_ear).all(), (name, open_ear, shut_ear)


def test_labeler_on_a_real_portrait_and_a_missing_face(portraits, find_landmarks):
    image = portraits["PD-FGC-inference__anne"]
    points = find_landmarks(image)
    out = EyeLabeler()(np.stack([image, image]), np.stack([points, np.full_like(points, np.nan)]),
                       np.array([True, False]))
    assert out["blink"].shape == (2, 2) and out["gaze"].dtype == np.float32
    assert np.isnan(out["blink"][1]).all() and np.isnan(out["gaze"][1]).all()
    assert (np.abs(out["gaze"][0]) < 15).all(), "the subject looks into the camera"
    np.testing.assert_allclose(out["blink"][0], eye_aspect_ratio(points[None])[0], rtol=1e-6)
