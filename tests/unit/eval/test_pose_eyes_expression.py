"""Pose error, blink F1, gaze error, expression distance and emotion agreement by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdfgc.eval.metrics.expression import emotion_agreement, expression_distance
from pdfgc.eval.metrics.eyes import blink_counts, blink_events, blink_f1, closed_eyes, gaze_error
from pdfgc.eval.metrics.pose import pose_error


def test_pose_error_splits_degrees_and_millimetres() -> None:
    driver = np.zeros((4, 6))
    measured = driver + np.array([3.0, -3.0, 0.0, 10.0, 0.0, -20.0])
    measured[3] = np.nan
    error = pose_error(driver, measured)
    assert error.rotation_deg == pytest.approx(2.0)
    assert error.translation_mm == pytest.approx(10.0)
    assert error.frames == 3


def test_pose_error_without_common_faces_is_nan() -> None:
    error = pose_error(np.full((2, 6), np.nan), np.zeros((2, 6)))
    assert math.isnan(error.rotation_deg) and error.frames == 0


def test_blink_events_and_closed_eyes() -> None:
    ear = np.array([[0.3, 0.3], [0.1, 0.12], [0.1, 0.1], [0.3, 0.3], [np.nan, np.nan], [0.15, 0.1]])
    closed = closed_eyes(ear)
    assert closed.tolist() == [False, True, True, False, False, True]
    assert blink_events(closed) == [(1, 3), (5, 6)]


def test_blink_f1_event_level() -> None:
    reference = np.zeros(60, bool)
    reference[[5, 6, 30, 31, 50]] = True  # events at 5-6, 30-31, 50
    predicted = np.zeros(60, bool)
    predicted[[7, 8, 40]] = True  # 7-8 touches 5-6 within 2 frames; 40 matches nothing
    counts = blink_counts(reference, predicted)
    assert (counts.matched, counts.reference, counts.predicted) == (1, 3, 2)
    precision, recall = 1 / 2, 1 / 3
    assert blink_f1(reference, predicted) == pytest.approx(2 * precision * recall / (precision + recall))
    assert blink_f1(reference, reference) == 1.0


def test_blink_f1_pools_counts_over_clips() -> None:
    quiet = np.zeros(20, bool)
    blink = quiet.copy()
    blink[4:6] = True
    assert math.isnan(blink_f1(quiet, quiet))
    assert blink_f1(blink, quiet) == 0.0
    assert sum([blink_counts(quiet, quiet), blink_counts(blink, blink)]).f1 == 1.0


def test_gaze_error_is_the_mean_angular_distance() -> None:
    driver = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 0.0]])
    measured = np.array([[3.0, 4.0], [1.0, 1.0], [5.0, 5.0]])
    assert gaze_error(driver, measured) == pytest.approx(2.5)


def test_expression_distance_and_emotion_agreement() -> None:
    driver = np.zeros((3, 14))
    measured = driver.copy()
    measured[0, :2] = (3.0, 4.0)
    assert expression_distance(driver, measured) == pytest.approx(5.0 / 3)
    probs_a = np.eye(7)[[3, 3, 6, 0]]
    probs_b = np.eye(7)[[3, 2, 6, 1]]
    assert emotion_agreement(probs_a, probs_b) == pytest.approx(0.5)
