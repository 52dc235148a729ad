"""The mouth-region L1: where the region lies in an aligned crop, and its value on known images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdfgc.losses.reconstruction import mouth_box, mouth_l1
from pdfgc.media.align import release_template


@pytest.mark.parametrize("size", [64, 96, 224])
def test_mouth_box_holds_the_inner_mouth_point_and_no_eye(size: int) -> None:
    rows, cols = mouth_box(size)
    template = release_template(size)  # right eye, left eye, inner mouth
    mouth_x, mouth_y = template[2]
    assert rows.start < mouth_y < rows.stop and cols.start < mouth_x < cols.stop
    assert rows.start > template[:2, 1].max()  # below both eyes
    assert 0 <= cols.start and cols.stop <= size and rows.stop <= size


def test_mouth_l1_averages_only_inside_the_box() -> None:
    size = 64
    real = torch.zeros(2, 3, size, size)
    fake = torch.zeros_like(real)
    fake[..., :10, :] = 1.0  # forehead: outside the box
    assert mouth_l1(fake, real).item() == 0.0
    rows, cols = mouth_box(size)
    fake[..., rows, cols] = 0.5
    assert mouth_l1(fake, real).item() == pytest.approx(0.5)
    fake[0, 0, rows.start, cols.start] = 0.5 + 3 * 2 * np.prod([rows.stop - rows.start, cols.stop - cols.start])
    assert mouth_l1(fake, real).item() == pytest.approx(1.5)


@pytest.mark.parametrize("size", [64, 96, 224])
def test_face_box_holds_both_eyes_and_the_mouth_box(size: int) -> None:
    from pdfgc.losses.reconstruction import face_box

    rows, cols = face_box(size)
    mouth_rows, mouth_cols = mouth_box(size)
    for x, y in release_template(size):
        assert rows.start < y < rows.stop and cols.start < x < cols.stop
    assert rows.start <= mouth_rows.start and rows.stop >= mouth_rows.stop
    assert (rows.stop - rows.start) * (cols.stop - cols.start) < 0.5 * size * size  # hair and background left out
