"""Head pose: exact recovery on a projected template, sign conventions, and real portraits."""

from __future__ import annotations

import numpy as np
import pytest

from pdfgc.labels.pose import (
    FACE_TEMPLATE_MM,
    TEMPLATE_INDICES,
    PoseLabeler,
    camera_matrix,
    euler_to_rotation,
    pose_from_landmarks,
    rotation_to_euler,
)
from tests.unit.labels.conftest import decode_frames, mirror, rotate

IMAGE_SIDE = 224
ROLL_TOLERANCE_DEG = 2.0


def project_template(pitch: float, yaw: float, roll: float, translation_mm: tuple[float, float, float]) -> np.ndarray:
    """Project the template with the documented camera; returns 68 points (unused ones NaN)."""
    rotation = euler_to_rotation(*np.radians([pitch, yaw, roll]))
    tx, ty, distance = translation_mm
    camera_points = FACE_TEMPLATE_MM @ rotation.T + np.array([tx, ty, 0.0])  # x right, y up
    focal, centre = camera_matrix(IMAGE_SIDE, IMAGE_SIDE)[0, 0], IMAGE_SIDE / 2
    depth = distance - camera_points[:, 2]  # the camera looks toward -z from z = distance
    points = np.full((68, 2), np.nan)
    points[TEMPLATE_INDICES, 0] = centre + focal * camera_points[:, 0] / depth
    points[TEMPLATE_INDICES, 1] = centre - focal * camera_points[:, 1] / depth  # image y points down
    return points


def test_euler_round_trip_and_composition_order():
    angles = np.radians([10.0, -25.0, 40.0])
    rotation = euler_to_rotation(*angles)
    np.testing.assert_allclose(rotation_to_euler(rotation), angles, atol=1e-12)
    # R = Rz(roll) Ry(yaw) Rx(pitch): with only roll = 90 deg, +x goes to +y.
    np.testing.assert_allclose(euler_to_rotation(0, 0, np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("pose", [(0, 0, 0, 0, 0, 1000), (10, -20, 15, 12, -8, 800), (-15, 30, -25, -20, 10, 1500)])
def test_projected_template_pose_is_recovered(pose):
    points = project_template(*pose[:3], pose[3:])
    np.testing.assert_allclose(pose_from_landmarks(points, IMAGE_SIDE, IMAGE_SIDE), pose, atol=0.05)


def test_signs_as_seen_in_the_image():
    frontal = project_template(0, 0, 0, (0, 0, 1000))
    nose_x = lambda pts: pts[30, 0] - pts[[39, 42], 0].mean()  # noqa: E731
    assert nose_x(project_template(0, 20, 0, (0, 0, 1000))) > nose_x(frontal) + 5, "+yaw: nose to image right"
    nose_y = lambda pts: pts[30, 1] - pts[[39, 42], 1].mean()  # noqa: E731
    assert nose_y(project_template(20, 0, 0, (0, 0, 1000))) > nose_y(frontal) + 5, "+pitch: nose down"
    tilted = project_template(0, 0, 20, (0, 0, 1000))
    assert tilted[45, 1] < tilted[36, 1], "+roll: counter-clockwise, image-right eye goes up"


@pytest.mark.parametrize("angle", [-30, -20, -10, 10, 20, 30])
def test_in_plane_rotation_changes_roll_by_the_angle(portraits, find_landmarks, angle):
    for name, image in portraits.items():
        height, width = image.shape[:2]
        base = pose_from_landmarks(find_landmarks(image), width, height)
        turned = pose_from_landmarks(find_landmarks(rotate(image, angle)), width, height)
        assert abs(turned[2] - base[2] - angle) < ROLL_TOLERANCE_DEG, f"{name}: {base[2]:.1f} -> {turned[2]:.1f}"


def test_mirroring_flips_roll_on_portraits(portraits, find_landmarks):
    for name, image in portraits.items():
        height, width = image.shape[:2]
        tilted = rotate(image, 20)
        roll = pose_from_landmarks(find_landmarks(tilted), width, height)[2]
        mirrored_roll = pose_from_landmarks(find_landmarks(mirror(tilted)), width, height)[2]
        assert roll > 15 and abs(roll + mirrored_roll) < 2 * ROLL_TOLERANCE_DEG, name


def test_mirroring_flips_yaw_on_turned_video_frames(real_videos, find_landmarks, landmarker):
    frames = decode_frames(real_videos[0], 5, 256)
    turned = []
    for frame in frames:
        boxes = landmarker.detect(frame)
        if boxes:
            yaw = pose_from_landmarks(landmarker.landmarks(frame, boxes[0])[0], 256, 256)[1]
            if abs(yaw) > 5:
                turned.append((frame, yaw))
    assert len(turned) >= 3, "the sample video should contain turned heads"
    for frame, yaw in turned[:5]:
        mirrored_yaw = pose_from_landmarks(find_landmarks(mirror(frame)), 256, 256)[1]
        assert np.sign(mirrored_yaw) == -np.sign(yaw) and abs(yaw + mirrored_yaw) < 4, (yaw, mirrored_yaw)


def test_labeler_gives_nan_without_a_face_and_float32(portraits, find_landmarks):
    image = next(iter(portraits.values()))
    points = find_landmarks(image)
    frames = np.stack([image, image])
    pose = PoseLabeler()(frames, np.stack([points, np.full_like(points, np.nan)]), np.array([True, False]))["pose"]
    assert pose.shape == (2, 6) and pose.dtype == np.float32
    assert np.isfinite(pose[0]).all() and np.isnan(pose[1]).all()
    assert 500 < pose[0, 5] < 3000, "tz is a plausible camera distance in mm"
