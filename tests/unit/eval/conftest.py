"""Fixtures for the evaluation tests: real portraits and one measurer for the whole session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pdfgc.config import LabelsConfig
from pdfgc.eval.measure import FaceMeasurer, MeasureOptions


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def portraits(real_portraits: list[Path]) -> dict[str, np.ndarray]:
    """The real sample portraits by file stem, RGB uint8."""
    return {path.stem: read_rgb(path) for path in real_portraits}


@pytest.fixture(scope="session")
def measurer() -> FaceMeasurer:
    """Landmarks, labels and identity; emotion too when fer is installed."""
    return FaceMeasurer(LabelsConfig(), MeasureOptions())
