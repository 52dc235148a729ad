"""Reconstruction terms beyond the plain L1: L1 restricted to the face, or to the mouth and jaw,
of a crop aligned by the release's template (eyes and inner mouth at fixed points)."""

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


FACE_MARGIN = 0.12
"""The face region spans the eye centres widened by this fraction of the crop on each side and
from this fraction above the eyes down to the bottom of the mouth region."""


def face_box(size: int) -> tuple[slice, slice]:
    """(rows, cols) of the face region (brows, eyes, nose, mouth, chin) of a ``size`` crop."""
    template = release_template(size) / size
    eyes_y = template[:2, 1].min()
    mouth_rows, _ = mouth_box(size)
    rows = slice(int(round(max(0.0, eyes_y - FACE_MARGIN) * size)), mouth_rows.stop)
    cols = slice(int(round(max(0.0, template[:2, 0].min() - FACE_MARGIN) * size)),
                 int(round(min(1.0, template[:2, 0].max() + FACE_MARGIN) * size)))
    return rows, cols


def region_l1(fake: torch.Tensor, real: torch.Tensor, box: tuple[slice, slice]) -> torch.Tensor:
    """Mean absolute error over ``box`` (rows, cols) of (B, 3, S, S) images."""
    rows, cols = box
    return (fake[..., rows, cols] - real[..., rows, cols]).abs().mean()


def mouth_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the mouth region of (B, 3, S, S) images."""
    rows, cols = mouth_box(fake.shape[-1])
    return (fake[..., rows, cols] - real[..., rows, cols]).abs().mean()

