"""PSNR, SSIM and CPBD on hand-made cases with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from pdfgc.eval.metrics.image import cpbd_sharpness, edge_widths, psnr, psnr_per_frame, ssim, vertical_edges


def _plus_minus(shape: tuple[int, ...], amplitude: int, seed: int = 0) -> np.ndarray:
    """Noise of exactly +-amplitude per value: its MSE is amplitude^2."""
    return amplitude * np.random.default_rng(seed).choice([-1, 1], size=shape)


def test_psnr_of_known_noise_variance() -> None:
    real = np.full((3, 32, 32, 3), 128, dtype=np.uint8)
    fake = (real.astype(int) + _plus_minus(real.shape, 10)).astype(np.uint8)
    assert psnr(real, fake) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


def test_psnr_is_the_mean_of_per_frame_values() -> None:
    real = np.full((2, 16, 16, 3), 100, dtype=np.uint8)
    fake = real.copy()
    fake[0] = (real[0].astype(int) + _plus_minus(real.shape[1:], 5)).astype(np.uint8)
    fake[1] = (real[1].astype(int) + _plus_minus(real.shape[1:], 20)).astype(np.uint8)
    expected = [10 * math.log10(255**2 / 25), 10 * math.log10(255**2 / 400)]
    assert psnr_per_frame(real, fake) == pytest.approx(expected)
    assert psnr(real, fake) == pytest.approx(np.mean(expected))


def test_psnr_of_identical_frames_is_infinite() -> None:
    frame = data.astronaut()
    assert psnr(frame, frame) == math.inf


def test_ssim_identity_is_one_and_noise_lowers_it() -> None:
    frame = data.astronaut()[::4, ::4]
    noisy = np.clip(frame.astype(int) + _plus_minus(frame.shape, 30), 0, 255).astype(np.uint8)
    assert ssim(frame, frame) == pytest.approx(1.0)
    assert 0 < ssim(frame, noisy) < 0.9


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


def test_edge_width_of_a_linear_ramp() -> None:
    """A ramp rising over 6 pixels between flat sides is one edge 6 pixels wide."""
    row = np.concatenate([np.zeros(30), np.linspace(0, 250, 7), np.full(30, 250.0)])
    gray = np.tile(row, (5, 1))
    edges, sign = vertical_edges(gray)
    widths = edge_widths(gray, edges, sign)
    assert set(np.unique(widths[2][widths[2] > 0])) == {6.0}


def test_cpbd_sharp_image_beats_blurred() -> None:
    sharp = data.astronaut()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.5)
    sharp_score, blurred_score = cpbd_sharpness(sharp), cpbd_sharpness(blurred)
    assert 0.0 <= blurred_score < sharp_score <= 1.0
    assert sharp_score - blurred_score > 0.2


def test_cpbd_of_a_flat_image_is_nan() -> None:
    assert math.isnan(cpbd_sharpness(np.full((128, 128, 3), 90, np.uint8)))
