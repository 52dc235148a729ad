"""Reconstruction terms beyond the plain L1: an L1 restricted to the mouth and jaw region."""

from __future__ import annotations

import torch

from pdfgc.media.align import INNER_MOUTH_TEMPLATE_INDEX, release_template

MOUTH_HALF_WIDTH = 0.2
"""Half width of the mouth region, as a fraction of the crop side (the mouth is about 0.15)."""
MOUTH_ABOVE, MOUTH_BELOW = 0.1, 0.25
"""The region spans from this fraction of the crop above the inner-mouth template point to this
fraction below it: the lips, and the chin that moves down when the jaw drops."""


def mouth_box(size: int) -> tuple[slice, slice]:
    """(rows, cols) of the mouth region of a ``size`` crop aligned by the release's template."""
    x, y = release_template(size)[INNER_MOUTH_TEMPLATE_INDEX] / size  # fractions of the side
    rows = slice(int(round((y - MOUTH_ABOVE) * size)), int(round(min(1.0, y + MOUTH_BELOW) * size)))
    cols = slice(int(round((x - MOUTH_HALF_WIDTH) * size)), int(round((x + MOUTH_HALF_WIDTH) * size)))
    return rows, cols


def mouth_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the mouth region of (B, 3, S, S) images."""
    rows, cols = mouth_box(fake.shape[-1])
    return (fake[..., rows, cols] - real[..., rows, cols]).abs().mean()

