"""Disentanglement as a cross-talk matrix: swap one factor's driver, see which factors move.

For each factor i (lips, pose, eyes, expression) the output is rendered twice: once with the
clip's own drivers (the baseline) and once with factor i's driver taken from another clip. The
same measuring code gives per-frame labels of every factor j on both outputs (``factor_labels``).

Movement of factor j = mean over frames and label dimensions of ``|swapped - baseline| / s_d``,
where s_d is that dimension's spread (standard deviation over the baseline frames, or given by
the caller). Dividing by the spread makes every factor's movement unit-free ("how many of its
usual spreads did it move"), so movements of different factors can be compared.

Entry [i][j] = movement of factor j when factor i's driver is swapped / movement of factor i
itself, so the diagonal is 1 and a perfectly disentangled model has zeros elsewhere (PD-FGC
claims a near-diagonal matrix). A row whose swapped factor does not move at all is NaN: the
model ignored that driver and nothing can be said about its leaks.

Factor labels (all from ``FrameMeasures``):
- lips: mouth opening (inner-lip gap / inter-ocular distance), 1 dim;
- pose: pitch, yaw, roll (degrees), 3 dims (translations are left out: the crop alignment
  removes most of them);
- eyes: eye aspect ratio of both eyes and gaze yaw/pitch (degrees), 4 dims;
- expression: the geometric expression code WITHOUT its mouth-opening, jaw-drop and eye-opening
  measures (those duplicate lips and eyes), 10 dims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

FACTORS = ("lips", "pose", "eyes", "expression")
EXPRESSION_CROSSTALK_DIMS = (1, 2, 3, 4, 5, 6, 8, 9, 10, 11)
"""Expression code columns kept for cross-talk: all but mouth_open (0), jaw_drop (7),
eye_open_left (12) and eye_open_right (13)."""
MIN_SPREAD = 1e-6


def factor_labels(measures: object) -> dict[str, np.ndarray]:
    """Per-factor label arrays (T, D) of one measured video (a ``FrameMeasures``)."""
    return {
        "lips": np.asarray(measures.mouth_opening, np.float64)[:, None],
        "pose": np.asarray(measures.pose, np.float64)[:, :3],
        "eyes": np.concatenate([np.asarray(measures.ear, np.float64), np.asarray(measures.gaze, np.float64)], axis=1),
        "expression": np.asarray(measures.expression, np.float64)[:, list(EXPRESSION_CROSSTALK_DIMS)],
    }


def label_spread(labels: np.ndarray) -> np.ndarray:
    """(T, D) -> (D,) standard deviation over the finite frames of each dimension (NaN if < 2)."""
    labels = np.asarray(labels, np.float64)
    spread = np.full(labels.shape[1], np.nan)
    for d in range(labels.shape[1]):
        column = labels[:, d][np.isfinite(labels[:, d])]
        if column.size >= 2:
            spread[d] = column.std()
    return spread


def movement(baseline: np.ndarray, swapped: np.ndarray, spread: np.ndarray) -> float:
    """Mean over frames and dimensions of |swapped - baseline| / spread; NaN entries (no face,
    closed eyes) and dimensions without a usable spread are left out."""
    baseline, swapped = np.asarray(baseline, np.float64), np.asarray(swapped, np.float64)
    if baseline.shape != swapped.shape:
        raise ValueError(f"baseline {baseline.shape} and swapped {swapped.shape} labels differ in shape")
    spread = np.asarray(spread, np.float64)
    usable = np.isfinite(spread) & (spread > MIN_SPREAD)
    change = np.abs(swapped[:, usable] - baseline[:, usable]) / spread[usable]
    finite = change[np.isfinite(change)]
    return float(finite.mean()) if finite.size else float("nan")


def crosstalk_matrix(
    baseline: Mapping[str, np.ndarray],
    swapped: Mapping[str, Mapping[str, np.ndarray]],
    spreads: Mapping[str, np.ndarray] | None = None,
    factors: Sequence[str] = FACTORS,
) -> tuple[list[str], list[list[float]]]:
    """The cross-talk matrix (see the module docstring).

    Args:
        baseline: factor -> (T, D) labels measured on the output with the clip's own drivers
            (several clips: concatenate their frames in the same order everywhere).
        swapped: swapped factor i -> (factor j -> (T, D) labels measured on the output whose
            factor-i driver was swapped). A factor missing here gives a NaN row.
        spreads: factor -> (D,) spread per dimension; default ``label_spread`` of the baseline.
        factors: row/column order.

    Returns:
        (factors, matrix) with matrix[i][j] as defined above (NaN where undefined).
    """
    factors = list(factors)
    spreads = {f: np.asarray(spreads[f]) if spreads and f in spreads else label_spread(baseline[f]) for f in factors}
    matrix = []
    for row in factors:
        if row not in swapped:
            matrix.append([float("nan")] * len(factors))
            continue
        moved = {col: movement(baseline[col], swapped[row][col], spreads[col]) for col in factors}
        own = moved[row]
        usable = np.isfinite(own) and own > 0
        matrix.append([moved[col] / own if usable else float("nan") for col in factors])
    return factors, matrix
