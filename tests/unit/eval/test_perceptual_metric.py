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
    assert distance(np.stack([image, image]), np.stack([image, noisy]), every=2) == pytest.approx(0.0, abs=1e-6)


def test_per_frame_values_average_to_the_training_loss(distance: PerceptualDistance) -> None:
    """The metric reuses the training's ST-LPIPS network: its batch mean is the loss's value."""
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    to_tensor = distance._to_tensor
    loss = distance.net(to_tensor(fake, distance.device), to_tensor(real, distance.device)).item()
    assert distance.per_frame(real, fake).mean() == pytest.approx(loss, rel=1e-5)


def test_side_compares_frames_reduced_to_the_model_resolution(distance: PerceptualDistance) -> None:
    """With ``side``, 256 px frames score as their 64 px reductions do (an upscaled 64 px model
    output is compared where its detail lives); frames already that small are left as they are."""
    import cv2

    image = data.astronaut()[::2, ::2]  # 256 px
    noisy = np.clip(image.astype(int) + np.random.default_rng(2).normal(0, 30, image.shape), 0, 255).astype(np.uint8)
    at_64 = PerceptualDistance(side=64)
    at_64.net = distance.net
    small = [cv2.resize(x, (64, 64), interpolation=cv2.INTER_AREA) for x in (image, noisy)]
    expected = distance(small[0][None], small[1][None])
    assert at_64(image[None], noisy[None]) == pytest.approx(expected, rel=1e-6)
    assert at_64(image[None], noisy[None]) != pytest.approx(distance(image[None], noisy[None]), rel=0.05)
    assert at_64(small[0][None], small[1][None]) == pytest.approx(expected, rel=1e-6)
