"""Expression code: exact similarity invariance, robustness on real faces, response to a warped mouth."""

from __future__ import annotations

import numpy as np
import pytest

from pdfgc.labels.expression import (
    EXPRESSION_DIM,
    EXPRESSION_NAMES,
    FRONTAL_TEMPLATE_2D,
    RIGID_INDICES,
    ExpressionLabeler,
    align_to_template,
    expression_code,
)
from tests.unit.labels.conftest import rotate

REAL_INVARIANCE_MM = 3.0


def open_mouth(image: np.ndarray, points: np.ndarray, gap: int) -> np.ndarray:
    """Shift everything below the lips' meeting line down by ``gap`` px and paint the gap dark."""
    out = image.copy()
    lips_y = int(round(points[[62, 66], 1].mean()))
    x0, x1 = int(points[:, 0].min()), int(points[:, 0].max()) + 1
    out[lips_y + gap :, x0:x1] = image[lips_y : image.shape[0] - gap, x0:x1]
    out[lips_y : lips_y + gap, int(points[48, 0]) : int(points[54, 0])] = (50, 20, 20)
    return out


def test_dimension_and_names_agree():
    assert EXPRESSION_DIM == len(EXPRESSION_NAMES) == len(set(EXPRESSION_NAMES)) == 14


def test_alignment_undoes_a_similarity_exactly():
    rng = np.random.default_rng(1)
    points = rng.normal(0, 30, (68, 2))
    points[RIGID_INDICES] = FRONTAL_TEMPLATE_2D
    angle = np.radians(35.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 2.7 * points @ rotation.T + [100.0, -40.0]
    np.testing.assert_allclose(align_to_template(moved[None])[0], points, atol=1e-9)


def test_hand_measured_mouth_width_and_opening():
    points = np.zeros((1, 68, 2))
    points[0, RIGID_INDICES] = FRONTAL_TEMPLATE_2D  # already aligned: measures are in template mm
    points[0, 48], points[0, 54] = (-25, 67), (25, 67)
    points[0, 61:64] = [(-5, 66), (0, 66), (5, 66)]
    points[0, 65:68] = [(5, 70), (0, 72), (-5, 70)]
    code = dict(zip(EXPRESSION_NAMES, expression_code(points)[0]))
    assert code["mouth_width"] == pytest.approx(50.0)
    assert code["mouth_open"] == pytest.approx((4 + 6 + 4) / 3)


def test_real_face_code_is_stable_under_rotation_and_scale(portraits, find_landmarks):
    for name, image in portraits.items():
        base = expression_code(find_landmarks(image)[None])[0]
        for angle, scale in [(20, 1.0), (-25, 0.8), (0, 1.3)]:
            moved = expression_code(find_landmarks(rotate(image, angle, scale))[None])[0]
            assert np.abs(moved - base).max() < REAL_INVARIANCE_MM, (name, angle, scale, moved - base)


def test_real_face_code_responds_to_an_opened_mouth(portraits, find_landmarks):
    opening = EXPRESSION_NAMES.index("mouth_open")
    jaw = EXPRESSION_NAMES.index("jaw_drop")
    for name, image in portraits.items():
        points = find_landmarks(image)
        base = expression_code(points[None])[0]
        opened = expression_code(find_landmarks(open_mouth(image, points, image.shape[0] // 20))[None])[0]
        assert opened[opening] > base[opening] + 3 * REAL_INVARIANCE_MM, name
        assert opened[jaw] > base[jaw] + REAL_INVARIANCE_MM, name


def test_labeler_nan_rows_and_dtype(portraits, find_landmarks):
    image = portraits["SadTalker__people_0"]
    points = find_landmarks(image)
    out = ExpressionLabeler()(np.stack([image, image]), np.stack([np.full_like(points, np.nan), points]),
                              np.array([False, True]))["expression"]
    assert out.shape == (2, EXPRESSION_DIM) and out.dtype == np.float32
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
