"""M-LMD / F-LMD on landmarks moved by known amounts; the sync proxy on a known shift."""

from __future__ import annotations

import numpy as np
import pytest

from pdfgc.eval.metrics.lips import (
    f_lmd,
    inter_ocular_distance,
    loudness_per_frame,
    m_lmd,
    mouth_opening,
    sync_proxy,
)

IOD = 80.0
LOWER_LIP = [55, 56, 57, 58, 59, 64, 65, 66, 67, 60]
"""Ten of the twenty mouth points."""


def _face(frames: int = 4, seed: int = 0) -> np.ndarray:
    """Random (T, 68, 2) landmarks whose outer eye corners 36, 45 are IOD apart."""
    points = np.random.default_rng(seed).uniform(0, 100, size=(frames, 68, 2))
    points[:, 36] = (10.0, 40.0)
    points[:, 45] = (10.0 + IOD, 40.0)
    return points


def test_a_global_shift_does_not_count() -> None:
    real = _face()
    assert m_lmd(real, real + np.array([7.0, -3.0])) == pytest.approx(0.0, abs=1e-12)
    assert f_lmd(real, real + np.array([7.0, -3.0])) == pytest.approx(0.0, abs=1e-12)


def test_m_lmd_of_ten_mouth_points_moved_down() -> None:
    """Ten of the 20 mouth points move d down. After centring on the mouth mean (shift d/2),
    every mouth point is d/2 from its place: M-LMD = d / (2 IOD)."""
    d = 6.0
    real = _face()
    fake = real.copy()
    fake[:, LOWER_LIP, 1] += d
    assert m_lmd(real, fake) == pytest.approx(d / (2 * IOD))
    # F-LMD over 68 points: the mean moves 10 d / 68; 10 points are d (1 - 10/68) away, 58 are 10 d / 68.
    expected = (10 * d * (1 - 10 / 68) + 58 * 10 * d / 68) / 68 / IOD
    assert f_lmd(real, fake) == pytest.approx(expected)


def test_lmd_is_scale_free() -> None:
    real = _face()
    fake = real.copy()
    fake[:, LOWER_LIP, 1] += 4.0
    assert m_lmd(2 * real, 2 * fake) == pytest.approx(m_lmd(real, fake))


def test_frames_without_a_face_are_left_out() -> None:
    real, fake = _face(), _face()
    fake[:, LOWER_LIP, 1] += 4.0
    expected = m_lmd(real[:2], fake[:2])
    fake[2:] = np.nan
    assert m_lmd(real, fake) == pytest.approx(expected)


def test_mouth_opening_is_the_inner_lip_gap_over_the_iod() -> None:
    points = _face(frames=1)
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        points[0, upper] = (50.0, 60.0)
        points[0, lower] = (50.0, 60.0 + 12.0)
    assert inter_ocular_distance(points)[0] == pytest.approx(IOD)
    assert mouth_opening(points)[0] == pytest.approx(12.0 / IOD)


def test_loudness_per_frame_reads_rms_in_db() -> None:
    sample_rate, fps = 16000, 25
    hop = sample_rate // fps
    wave = np.zeros(3 * hop)
    wave[hop:2 * hop] = 0.1 * np.sign(np.sin(np.arange(hop)))  # square wave: RMS 0.1 (almost)
    wave[2 * hop:] = 0.5
    loudness = loudness_per_frame(wave, sample_rate=sample_rate, fps=fps)
    assert loudness[0] == pytest.approx(-100.0)
    assert loudness[2] == pytest.approx(20 * np.log10(0.5))
    assert len(loudness_per_frame(wave, n_frames=5)) == 5


@pytest.mark.parametrize("lag", [0, 3, -4])
def test_sync_proxy_finds_a_known_shift(lag: int) -> None:
    rng = np.random.default_rng(1)
    loudness = np.convolve(rng.normal(size=220), np.ones(3) / 3, mode="same")[10:210]
    mouth = np.roll(loudness, lag) + 0.05 * rng.normal(size=loudness.size)
    result = sync_proxy(mouth, loudness, max_offset=8)
    assert result.offset == lag
    assert result.correlation > 0.9
    if lag:
        assert result.correlation_at_zero < result.correlation


def test_sync_proxy_ignores_frames_without_a_face() -> None:
    rng = np.random.default_rng(2)
    loudness = rng.normal(size=100)
    mouth = loudness.copy()
    mouth[::7] = np.nan
    result = sync_proxy(mouth, loudness, max_offset=3)
    assert result.offset == 0 and result.correlation == pytest.approx(1.0)
