"""Alignment: a known similarity transform is recovered and the eyes land on the template."""

from __future__ import annotations

import numpy as np
import pytest

from pdfgc.media.align import (
    anchor_points, box_transform, pdfgc_transform, release_template, similarity_transform, transform_points, warp_crop,
)


def rotation_scale(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.deg2rad(angle_deg)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def face_landmarks_from_template(frame_from_crop: np.ndarray, crop_size: int) -> np.ndarray:
    """68 points whose eye and inner-mouth centres are the template pushed through ``frame_from_crop``."""
    template = release_template(crop_size)
    points = np.zeros((68, 2))
    rng = np.random.default_rng(0)
    for part, centre in zip((slice(36, 42), slice(42, 48), slice(60, 68)), template):
        offsets = rng.normal(0, 3, size=(part.stop - part.start, 2))
        points[part] = centre + offsets - offsets.mean(axis=0)
    return transform_points(points, frame_from_crop).astype(np.float64)


def test_release_template_for_224_is_the_cropped_and_resized_one() -> None:
    # (87, 59) in the 224 canvas -> minus (16, 0) -> times 224 / 192
    assert release_template(224)[0] == pytest.approx([(87 - 16) * 224 / 192, 59 * 224 / 192])
    assert release_template(112) == pytest.approx(release_template(224) / 2)


def test_similarity_transform_recovers_a_known_one() -> None:
    truth = rotation_scale(17.0, 1.7, (30.0, -12.0))
    src = np.array([[10.0, 20.0], [60.0, 25.0], [40.0, 80.0], [5.0, 5.0]])
    dst = transform_points(src, truth)
    assert similarity_transform(src, dst) == pytest.approx(truth, abs=1e-4)


@pytest.mark.parametrize("crop_size", [224, 128])
def test_eyes_and_mouth_land_on_the_template(crop_size: int) -> None:
    frame_from_crop = rotation_scale(-12.0, 2.5, (300.0, 140.0))
    landmarks = face_landmarks_from_template(frame_from_crop, crop_size)
    frames_landmarks = np.stack([landmarks, landmarks + 0.5, landmarks - 0.5])  # (3, 68, 2), mean = landmarks
    matrix = pdfgc_transform(frames_landmarks, np.array([True, True, True]), crop_size)
    anchors = transform_points(anchor_points(landmarks), matrix)
    assert anchors == pytest.approx(release_template(crop_size), abs=1e-3)


def test_frames_without_face_are_ignored_in_the_average() -> None:
    landmarks = face_landmarks_from_template(rotation_scale(0, 2.0, (50, 50)), 224)
    stack = np.stack([landmarks, np.full((68, 2), np.nan)])
    matrix = pdfgc_transform(stack, np.array([True, False]), 224)
    assert np.isfinite(matrix).all()


def test_warp_moves_a_frame_pixel_to_its_crop_position_with_black_border() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[100, 150] = (255, 128, 0)
    matrix = np.array([[1.0, 0.0, -100.0], [0.0, 1.0, -60.0]])
    crop = warp_crop(frame, matrix, 64)
    assert crop.shape == (64, 64, 3)
    assert tuple(crop[40, 50]) == (255, 128, 0)
    outside = warp_crop(frame, np.array([[1.0, 0.0, 400.0], [0.0, 1.0, 0.0]]), 64)
    assert outside.max() == 0


def test_box_alignment_centres_a_square_grown_box() -> None:
    landmarks = np.zeros((1, 68, 2))
    landmarks[0, :, 0] = np.linspace(100, 200, 68)  # width 100
    landmarks[0, :, 1] = np.linspace(50, 130, 68)  # height 80
    matrix = box_transform(landmarks, np.array([True]), 160, box_scale=1.6)
    corners = transform_points(np.array([[150 - 80.0, 90 - 80.0], [150 + 80.0, 90 + 80.0]]), matrix)
    assert corners == pytest.approx(np.array([[0.0, 0.0], [160.0, 160.0]]), abs=1e-4)


def test_nan_landmarks_stay_nan() -> None:
    points = np.full((2, 68, 2), np.nan, np.float32)
    assert np.isnan(transform_points(points, rotation_scale(10, 1.0, (1, 2)))).all()
