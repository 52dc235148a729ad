"""Still images: one file read as RGB uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pdfgc.errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
"""File suffixes read as a still image rather than decoded as a video."""


def read_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
