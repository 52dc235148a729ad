"""Still images: one file read as RGB uint8, its size checked from the header before decoding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pdfgc.errors import InputError
from pdfgc.media.image_header import DEFAULT_MAX_PIXELS, check_pixels

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
"""File suffixes read as a still image rather than decoded as a video."""


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError when it cannot be read or its header
    claims more than ``max_pixels`` (a 120 KB PNG can claim 10000 x 10000)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    check_pixels(data, max_pixels, str(path))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
