"""Log-mel features of the PD-FGC inference release, in numpy (no librosa at run time).

Steps (``AudioConfig``): RMS-normalise the waveform to ``rms_target``; pad with silence or
cut it to ``N / fps`` seconds; centred STFT (reflect padding of ``n_fft // 2``, periodic Hann
window, ``hop_length``); magnitude (power 1); Slaney-style mel filterbank (librosa's
``htk=False, norm='slaney'``); ``20 log10(max(1e-5, mel)) - ref_db`` (librosa's
``amplitude_to_db`` with ``amin=1e-5, top_db=None``); ``clip((S - min_db) / -min_db, 0, 1)``.
Rows ``[0, 4N)`` are kept, so video frame ``t`` owns rows ``4t .. 4t+3``
(docs/DATA_FORMAT.md, "Audio alignment rule").
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from pdfgc.config import AudioConfig

_logger = logging.getLogger(__name__)

AMPLITUDE_FLOOR = 1e-5
SLANEY_LINEAR_HZ_PER_MEL = 200.0 / 3
SLANEY_LOG_START_HZ = 1000.0
SLANEY_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / SLANEY_LINEAR_HZ_PER_MEL
    log_start_mel = SLANEY_LOG_START_HZ / SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = log_start_mel + np.log(np.maximum(hz, 1e-10) / SLANEY_LOG_START_HZ) / SLANEY_LOG_STEP
    return np.where(hz >= SLANEY_LOG_START_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_start_mel = SLANEY_LOG_START_HZ / SLANEY_LINEAR_HZ_PER_MEL
    linear = mel * SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = SLANEY_LOG_START_HZ * np.exp(SLANEY_LOG_STEP * (mel - log_start_mel))
    return np.where(mel >= log_start_mel, logarithmic, linear)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular filters (n_mels, n_fft // 2 + 1), each scaled to unit area (Slaney norm)."""
    fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, n_bins)
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def rms_normalize(wave: np.ndarray, target: float) -> np.ndarray:
    """Scale to RMS ``target``; silence (RMS 0) and ``target == 0`` leave the wave as it is."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if target <= 0 or rms == 0.0:
        return wave.astype(np.float32)
    return (wave * (target / rms)).astype(np.float32)


def stft_magnitude(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (M, n_fft // 2 + 1) of frames already laid out so frame m starts at sample hop * m."""
    n_frames = 1 + (wave.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop][:n_frames]  # (M, n_fft)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    return np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)


def centred_samples(wave: np.ndarray, start: int, stop: int, clip_samples: int | None) -> np.ndarray:
    """Samples ``[start, stop)`` of the wave padded with silence (or cut) to ``clip_samples`` and
    then reflect-padded at both ends, as ``np.pad(fit(wave), n_fft // 2, mode="reflect")`` would
    give, without building the whole padded clip. ``clip_samples=None``: the clip goes on past ``stop``."""
    index = np.abs(np.arange(start, stop))
    if clip_samples is not None:
        last = clip_samples - 1
        index = np.where(index > last, 2 * last - index, index)
    inside = (index >= 0) & (index < wave.size)
    picked = np.zeros(index.shape, np.float32)
    picked[inside] = wave[index[inside]]
    return picked


def mel_rows(wave: np.ndarray, frame_start: int, frame_stop: int, cfg: AudioConfig,
             total_frames: int | None = None, fps: int = 25) -> np.ndarray:
    """Normalised log-mel rows (4 (stop - start), n_mels) float32 in [0, 1] for video frames
    ``[frame_start, frame_stop)`` of a clip; ``wave`` is the whole clip's RMS-normalised audio and
    ``total_frames`` its frame count (None while more frames follow ``frame_stop``)."""
    hop, half = cfg.hop_length, cfg.n_fft // 2
    rows_per_frame = cfg.sample_rate // fps // hop
    first, stop = frame_start * rows_per_frame, frame_stop * rows_per_frame
    clip_samples = None if total_frames is None else total_frames * rows_per_frame * hop
    samples = centred_samples(wave, first * hop - half, (stop - 1) * hop + half, clip_samples)
    magnitude = stft_magnitude(samples, cfg.n_fft, hop)  # (rows, bins)
    bank = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    decibels = 20.0 * np.log10(np.maximum(AMPLITUDE_FLOOR, magnitude @ bank.T)) - cfg.ref_db
    return np.clip((decibels - cfg.min_db) / -cfg.min_db, 0.0, 1.0).astype(np.float32)


def log_mel(wave: np.ndarray, n_video_frames: int, cfg: AudioConfig, fps: int = 25) -> np.ndarray:
    """Normalised log-mel (4 N, n_mels) of a whole clip of ``n_video_frames`` frames."""
    normalised = rms_normalize(wave, cfg.rms_target)
    return mel_rows(normalised, 0, n_video_frames, cfg, n_video_frames, fps)


def rms_dbfs(wave: np.ndarray) -> float:
    """Level of the raw waveform in dB relative to full scale (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")
