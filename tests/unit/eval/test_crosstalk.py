"""The cross-talk matrix of a stand-in model that leaks a known fraction of one factor into another."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdfgc.eval.metrics.crosstalk import FACTORS, crosstalk_matrix, movement

DIMS = {"lips": 1, "pose": 3, "eyes": 4, "expression": 10}
POSE_INTO_LIPS = 0.3


def _drivers(seed: int, frames: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {factor: rng.normal(size=(frames, dims)) for factor, dims in DIMS.items()}


def _stand_in_model(drivers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Output labels = driver labels, except that lips also follow POSE_INTO_LIPS x the pose yaw."""
    labels = {factor: value.copy() for factor, value in drivers.items()}
    labels["lips"] = drivers["lips"] + POSE_INTO_LIPS * drivers["pose"][:, 1:2]
    return labels


def test_stand_in_leak_shows_in_the_matrix() -> None:
    own, other = _drivers(0), _drivers(1)
    baseline = _stand_in_model(own)
    swapped = {factor: _stand_in_model({**own, factor: other[factor]}) for factor in FACTORS}
    spreads = {factor: np.ones(dims) for factor, dims in DIMS.items()}
    factors, matrix = crosstalk_matrix(baseline, swapped, spreads)
    m = np.array(matrix)
    assert factors == list(FACTORS)
    assert np.diag(m) == pytest.approx(np.ones(4))
    pose, lips = factors.index("pose"), factors.index("lips")
    # Swapping pose moves the yaw by |dyaw| and lips by 0.3 |dyaw|; pose movement averages 3 dims.
    yaw_change = np.abs(other["pose"][:, 1] - own["pose"][:, 1]).mean()
    pose_change = np.abs(other["pose"] - own["pose"]).mean()
    assert m[pose, lips] == pytest.approx(POSE_INTO_LIPS * yaw_change / pose_change)
    off_diagonal = m.copy()
    off_diagonal[pose, lips] = 0
    np.fill_diagonal(off_diagonal, 0)
    assert np.abs(off_diagonal).max() == 0


def test_default_spreads_make_units_cancel() -> None:
    """Scaling a factor's labels (e.g. degrees -> radians) leaves the matrix unchanged."""
    own, other = _drivers(2), _drivers(3)
    baseline = _stand_in_model(own)
    swapped = {factor: _stand_in_model({**own, factor: other[factor]}) for factor in FACTORS}
    _, matrix = crosstalk_matrix(baseline, swapped)
    scaled_baseline = {**baseline, "pose": baseline["pose"] / 57.3}
    scaled_swapped = {row: {**labels, "pose": labels["pose"] / 57.3} for row, labels in swapped.items()}
    _, scaled = crosstalk_matrix(scaled_baseline, scaled_swapped)
    assert np.array(scaled) == pytest.approx(np.array(matrix))


def test_ignored_driver_gives_a_nan_row() -> None:
    own, other = _drivers(4), _drivers(5)
    baseline = _stand_in_model(own)
    swapped = {factor: _stand_in_model({**own, factor: other[factor]}) for factor in FACTORS}
    swapped["eyes"] = baseline  # the model ignored the eye driver
    del swapped["expression"]
    factors, matrix = crosstalk_matrix(baseline, swapped)
    assert all(math.isnan(v) for v in matrix[factors.index("eyes")])
    assert all(math.isnan(v) for v in matrix[factors.index("expression")])


def test_movement_skips_nan_frames() -> None:
    base = np.zeros((4, 2))
    moved = np.ones((4, 2))
    moved[0] = np.nan
    assert movement(base, moved, np.array([0.5, 1.0])) == pytest.approx(1.5)
