"""ST-LPIPS distance with the stlpips-pytorch wheel's weights: zero, shift, noise."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from pdfgc.eval.metrics.perceptual import PerceptualDistance


@pytest.fixture(scope="module")
def distance() -> PerceptualDistance:
    return PerceptualDistance()


def test_sanity_zero_shift_noise(distance: PerceptualDistance) -> None:
    image = data.astronaut()[::2, ::2]  # 256 px
    shifted = np.roll(image, 1, axis=1)
    noisy = np.clip(image.astype(int) + np.random.default_rng(0).normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    same, shift, noise = distance.per_frame(np.stack([image] * 3), np.stack([image, shifted, noisy]))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0 < shift < 0.1
    assert noise > 5 * shift


def test_mean_over_frames(distance: PerceptualDistance) -> None:
    image = data.astronaut()[::4, ::4]
    noisy = np.clip(image.astype(int) + 30, 0, 255).astype(np.uint8)
    pair = distance.per_frame(np.stack([image, image]), np.stack([image, noisy]))
    assert distance(np.stack([image, image]), np.stack([image, noisy])) == pytest.approx(pair.mean())
