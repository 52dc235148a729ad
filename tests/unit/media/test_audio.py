"""Log-mel features against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pdfgc.config import AudioConfig
from pdfgc.media.audio import (
    centred_samples, hz_to_mel, log_mel, mel_filterbank, mel_rows, mel_to_hz, rms_dbfs, rms_normalize,
)

CFG = AudioConfig()


def tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_four_mel_rows_per_video_frame_whatever_the_audio_length() -> None:
    for seconds in (0.5, 2.0, 3.0):  # shorter than, equal to and longer than 50 frames
        assert log_mel(tone(440, seconds), 50, CFG).shape == (200, 80)


def test_slaney_scale_is_linear_below_1khz_and_logarithmic_above() -> None:
    assert hz_to_mel(200.0 / 3) == pytest.approx(1.0)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # one log step of 6.4 is 27 mels
    assert mel_to_hz(hz_to_mel(3210.0)) == pytest.approx(3210.0)


def test_filterbank_triangles_have_unit_area_slaney_norm() -> None:
    bank = mel_filterbank(16000, 1280, 80, 125.0, 7600.0)
    assert bank.shape == (80, 641)
    edges = mel_to_hz(np.linspace(hz_to_mel(125.0), hz_to_mel(7600.0), 82))
    # a triangle of height 2 / (right - left) over a base of (right - left) Hz has area 1
    bin_hz = 16000 / 1280
    areas = bank.sum(axis=1) * bin_hz
    assert np.allclose(areas[10:], 1.0, atol=0.05)
    assert edges[0] == pytest.approx(125.0) and edges[-1] == pytest.approx(7600.0)


def test_a_1khz_tone_peaks_in_the_mel_band_centred_on_1khz() -> None:
    centres = mel_to_hz(np.linspace(hz_to_mel(125.0), hz_to_mel(7600.0), 82))[1:-1]
    expected_band = int(np.argmin(np.abs(centres - 1000.0)))
    mel = log_mel(tone(1000, 2.0), 50, CFG)
    assert int(mel[8:-8].mean(axis=0).argmax()) == expected_band


def test_silence_is_the_floor_zero() -> None:
    assert log_mel(np.zeros(32000, np.float32), 50, CFG).max() == 0.0


def test_full_scale_value_matches_the_db_formula() -> None:
    # A 1 kHz tone at RMS 0.1: Hann-windowed peak |X| = A * n_fft / 4 with A = 0.1 * sqrt(2).
    amplitude = 0.1 * np.sqrt(2)
    peak = amplitude * 1280 / 4
    bank = mel_filterbank(16000, 1280, 80, 125.0, 7600.0)
    band = int(np.argmax(bank[:, 80]))  # 1 kHz is FFT bin 80
    # the tone sits exactly on bin 80; the Hann leakage puts peak/2 into bins 79 and 81
    mel_value = peak * (bank[band, 80] + 0.5 * bank[band, 79] + 0.5 * bank[band, 81])
    expected = np.clip((20 * np.log10(mel_value) - 20 + 100) / 100, 0, 1)
    mel = log_mel(tone(1000, 2.0, amplitude=0.3), 50, CFG)  # RMS-normalised to 0.1 first
    assert mel[100, band] == pytest.approx(expected, abs=1e-3)


def test_chunked_rows_equal_the_whole_clip() -> None:
    wave = rms_normalize(tone(700, 1.7) + tone(2300, 1.7, 0.2), CFG.rms_target)
    whole = log_mel(wave, 50, CFG)
    pieces = [mel_rows(wave, 0, 20, CFG), mel_rows(wave, 20, 37, CFG), mel_rows(wave, 37, 50, CFG, total_frames=50)]
    assert np.allclose(np.concatenate(pieces), whole, atol=1e-5)  # whole re-normalises: float rounding


def test_centred_samples_reflect_at_the_ends_and_pad_with_silence() -> None:
    wave = np.arange(1, 6, dtype=np.float32)  # 1 2 3 4 5
    assert centred_samples(wave, -2, 3, None).tolist() == [3, 2, 1, 2, 3]
    # clip of 7 samples: 1 2 3 4 5 0 0, then reflect past its end
    assert centred_samples(wave, 4, 10, 7).tolist() == [5, 0, 0, 0, 5, 4]


def test_rms_helpers() -> None:
    wave = np.full(100, 0.5, np.float32)
    assert rms_dbfs(wave) == pytest.approx(20 * np.log10(0.5))
    assert np.sqrt(np.mean(rms_normalize(wave, 0.1) ** 2)) == pytest.approx(0.1)
    assert rms_dbfs(np.zeros(10, np.float32)) == float("-inf")
