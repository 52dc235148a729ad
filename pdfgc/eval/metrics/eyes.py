"""Eye metrics: blink F1 against the eye driver's blinks, and gaze error.

Blinks are EVENTS: a blink is a maximal run of consecutive frames whose eye aspect ratio (mean
of both eyes, ``pdfgc.labels.eyes``) is below ``BLINK_EAR``. A generated blink matches a driver
blink when the two runs overlap or come within ``tolerance`` frames of each other; each event
matches at most once (greedy, in time order). F1 = 2 P R / (P + R) with precision P = matched /
generated events and recall R = matched / driver events.

Gaze error is in degrees of the project's pupil-offset gaze (a stand-in for a learned gaze
estimator, eye-in-head yaw and pitch): the mean over frames of the Euclidean norm of the
(yaw, pitch) difference; frames where either side has NaN gaze (no face, eyes closed) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLINK_EAR = 0.2
"""Mean eye aspect ratio below which an eye counts as closed (open eyes read about 0.3 with dlib)."""
BLINK_TOLERANCE = 2


def closed_eyes(ear: np.ndarray, threshold: float = BLINK_EAR) -> np.ndarray:
    """(T, 2) or (T,) eye aspect ratios -> (T,) bool closed; NaN (no face) is not closed."""
    ear = np.asarray(ear, np.float64)
    mean = ear.mean(axis=1) if ear.ndim == 2 else ear
    return np.nan_to_num(mean, nan=np.inf) < threshold


def blink_events(closed: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a (T,) bool array as [start, stop) pairs."""
    padded = np.concatenate([[False], np.asarray(closed, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _matches(reference: list[tuple[int, int]], predicted: list[tuple[int, int]], tolerance: int) -> int:
    used: set[int] = set()
    matched = 0
    for start, stop in reference:
        for index, (p_start, p_stop) in enumerate(predicted):
            if index not in used and p_start < stop + tolerance and start < p_stop + tolerance:
                used.add(index)
                matched += 1
                break
    return matched


@dataclass(frozen=True)
class BlinkCounts:
    """Blink events of one clip: matched pairs, driver events, generated events."""

    matched: int
    reference: int
    predicted: int

    def __add__(self, other: BlinkCounts) -> BlinkCounts:
        return BlinkCounts(self.matched + other.matched, self.reference + other.reference,
                           self.predicted + other.predicted)

    def __radd__(self, other: int) -> BlinkCounts:
        """So that ``sum(counts)`` works (its start value is 0)."""
        if other != 0:
            return NotImplemented
        return self

    @property
    def f1(self) -> float:
        """2 P R / (P + R); NaN when neither side has an event (F1 is undefined, not perfect)."""
        if self.reference == 0 and self.predicted == 0:
            return float("nan")
        if self.matched == 0:
            return 0.0
        precision, recall = self.matched / self.predicted, self.matched / self.reference
        return 2 * precision * recall / (precision + recall)


def blink_counts(reference_closed: np.ndarray, predicted_closed: np.ndarray,
                 tolerance: int = BLINK_TOLERANCE) -> BlinkCounts:
    """Match the blink events of (T,) bool closed-eye arrays; sum counts over clips, then ``.f1``."""
    reference, predicted = blink_events(reference_closed), blink_events(predicted_closed)
    return BlinkCounts(_matches(reference, predicted, tolerance), len(reference), len(predicted))


def blink_f1(reference_closed: np.ndarray, predicted_closed: np.ndarray, tolerance: int = BLINK_TOLERANCE) -> float:
    """Event-level blink F1 of one clip (see the module docstring); NaN when neither side blinks.

    Over several clips, pool the events (``sum(blink_counts(...)).f1``) rather than averaging
    per-clip F1s: most short clips have no blink at all.
    """
    return blink_counts(reference_closed, predicted_closed, tolerance).f1


def gaze_error(driver: np.ndarray, measured: np.ndarray) -> float:
    """Mean (yaw, pitch) Euclidean difference in degrees over frames finite on both sides (NaN if none)."""
    driver, measured = np.asarray(driver, np.float64), np.asarray(measured, np.float64)
    if driver.shape != measured.shape or driver.ndim != 2 or driver.shape[1] != 2:
        raise ValueError(f"expected two (T, 2) gaze arrays, got {driver.shape} and {measured.shape}")
    ok = np.isfinite(driver).all(axis=1) & np.isfinite(measured).all(axis=1)
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(driver[ok] - measured[ok], axis=1).mean())
