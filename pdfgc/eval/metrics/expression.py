"""Expression metrics: distance between expression codes, and emotion agreement.

The expression code is the project's geometric code (``pdfgc.labels.expression``, 14 measures
in template millimetres; a stand-in for EMOCA codes). Emotion probabilities come from the 7-class
network shipped in the ``fer`` package (``pdfgc.eval.nets.emotion``), when it is installed.
"""

from __future__ import annotations

import numpy as np


def expression_distance(driver: np.ndarray, measured: np.ndarray) -> float:
    """Mean over frames of the L2 distance between the driver's and the output's codes (T, E),
    in the code's units (template mm); frames with NaN on either side are left out (NaN if none)."""
    driver, measured = np.asarray(driver, np.float64), np.asarray(measured, np.float64)
    if driver.shape != measured.shape or driver.ndim != 2:
        raise ValueError(f"expected two (T, E) expression arrays, got {driver.shape} and {measured.shape}")
    ok = np.isfinite(driver).all(axis=1) & np.isfinite(measured).all(axis=1)
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(driver[ok] - measured[ok], axis=1).mean())


def emotion_agreement(driver: np.ndarray, measured: np.ndarray) -> float:
    """Share of frames whose most probable emotion (argmax of (T, 7) probabilities) is the same
    for the driver and the output; frames with NaN on either side are left out (NaN if none)."""
    driver, measured = np.asarray(driver, np.float64), np.asarray(measured, np.float64)
    if driver.shape != measured.shape or driver.ndim != 2:
        raise ValueError(f"expected two (T, C) probability arrays, got {driver.shape} and {measured.shape}")
    ok = np.isfinite(driver).all(axis=1) & np.isfinite(measured).all(axis=1)
    if not ok.any():
        return float("nan")
    return float(np.mean(driver[ok].argmax(axis=1) == measured[ok].argmax(axis=1)))
