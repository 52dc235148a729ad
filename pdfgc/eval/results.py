"""Rows of an evaluation: per-clip values gathered into ``metrics.json``.

Every metric of a setting (``self`` = self-driven reconstruction, ``cross`` = cross-driven)
gets one row per method: ``model``, ``ground_truth`` (the real frames through the same
measuring code: the ceiling) and ``source_repeated`` (the source frame held still: the
floor). A row's value is the mean over the clips where the metric could be measured; where no
clip could measure it, the value is ``null`` and ``reason`` says why (never a made-up zero).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("model", "ground_truth", "source_repeated")
SETTINGS = ("self", "cross")
SCHEMA_KEYS = ("model", "split", "clips", "skipped", "rows", "crosstalk")

Value = float | str
"""A measured value, or the reason it could not be measured."""


@dataclass
class RowCollector:
    """Per-clip values of (setting, metric, method), reduced to rows at the end."""

    values: dict[tuple[str, str, str], list[Value]] = field(default_factory=dict)

    def add(self, setting: str, method: str, scores: dict[str, Value]) -> None:
        if setting not in SETTINGS or method not in METHODS:
            raise ValueError(f"unknown setting/method {setting}/{method}")
        for metric, value in scores.items():
            self.values.setdefault((setting, metric, method), []).append(value)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (setting, metric, method): every method of a metric measured anywhere."""
        metrics = sorted({(setting, metric) for setting, metric, _ in self.values})
        return [_row(setting, metric, method, self.values.get((setting, metric, method), []))
                for setting, metric in metrics for method in METHODS]


def _row(setting: str, metric: str, method: str, values: list[Value]) -> dict[str, Any]:
    row: dict[str, Any] = {"method": method, "metric": f"{setting}/{metric}"}
    finite = [float(v) for v in values if not isinstance(v, str) and math.isfinite(float(v))]
    if finite:
        row.update(value=float(np.mean(finite)), clips=len(finite))
        return row
    reasons = Counter(v if isinstance(v, str) else "not a finite number" for v in values)
    row.update(value=None, clips=0, reason=reasons.most_common(1)[0][0] if reasons else "not computed for this method")
    return row


@dataclass
class CrosstalkCollector:
    """Per-clip cross-talk matrices (rows: the swapped factor; columns: the factor that moved)."""

    factors: tuple[str, ...]
    matrices: list[np.ndarray] = field(default_factory=list)
    reason: str | None = None

    def add(self, matrix: np.ndarray) -> None:
        self.matrices.append(np.asarray(matrix, dtype=np.float64))

    def to_json(self) -> dict[str, Any]:
        if not self.matrices:
            return {"factors": list(self.factors), "matrix": None,
                    "reason": self.reason or "no clip pair to swap drivers between"}
        stacked = np.stack(self.matrices)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN cell stays NaN: "Mean of empty slice"
            mean = np.nanmean(stacked, axis=0)
        matrix = [[None if not math.isfinite(v) else float(v) for v in row] for row in mean]
        document = {"factors": list(self.factors), "matrix": matrix, "clips": len(self.matrices)}
        empty_rows = [f for f, row in zip(self.factors, matrix) if all(v is None for v in row)]
        if empty_rows:
            document["reason"] = (f"no measurable move when swapping {', '.join(empty_rows)} (no face in the "
                                  "outputs, or the model ignores that driver): those rows are null")
        return document


def check_metrics_json(doc: dict[str, Any]) -> None:
    """Raise ValueError when ``doc`` does not follow the metrics.json schema."""
    missing = [key for key in SCHEMA_KEYS if key not in doc]
    if missing:
        raise ValueError(f"metrics.json lacks {missing}")
    for row in doc["rows"]:
        if row["method"] not in METHODS or not isinstance(row["metric"], str):
            raise ValueError(f"bad row {row}")
        if row["value"] is None and not row.get("reason"):
            raise ValueError(f"row without value and without reason: {row}")
    for item in doc["skipped"]:
        if set(item) < {"clip", "reason"}:
            raise ValueError(f"bad skipped entry {item}")
    crosstalk = doc["crosstalk"]
    if crosstalk["matrix"] is not None and len(crosstalk["matrix"]) != len(crosstalk["factors"]):
        raise ValueError("crosstalk matrix is not factors x factors")
