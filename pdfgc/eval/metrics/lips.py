"""Lip metrics: landmark distances (M-LMD, F-LMD) and a weight-free audio-visual sync proxy.

Landmarks are dlib's 68 points (iBUG 300-W scheme). The inter-ocular distance (IOD) is the
distance between the OUTER eye corners, points 36 and 45 (300-W's normalisation).

M-LMD / F-LMD follow EAT's evaluation: per frame, each set of points (the 20 mouth points
48-67, or all 68) is centred on its own mean, so a global shift of the face does not count; then
the mean per-point Euclidean distance between the real and the generated frame. Unlike EAT (which
compares pixels of identically aligned crops), each frame's points are also divided by that
frame's IOD, so the value is a fraction of the IOD and frames of different sizes compare
(x 100 reads as per cent of the IOD).

Sync proxy: the Pearson correlation between the mouth opening and the audio loudness, at the
frame offset that maximises it within +-max_offset frames. Loudness per video frame is the RMS
level (dB) of the 16 kHz waveform over that frame's 40 ms (25 fps).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

_logger = logging.getLogger(__name__)

MOUTH_POINTS = np.arange(48, 68)
ALL_POINTS = np.arange(68)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
"""Upper/lower inner-lip pairs whose mean gap is the mouth opening."""
OUTER_EYE_CORNERS = (36, 45)
LOUDNESS_FLOOR = 1e-5
"""RMS floor before the log: digital silence reads -100 dB instead of -inf."""
MIN_SYNC_FRAMES = 5


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) distance between the outer eye corners 36 and 45."""
    left, right = OUTER_EYE_CORNERS
    return np.linalg.norm(landmarks[:, left] - landmarks[:, right], axis=-1)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) mean inner-lip gap (61-67, 62-66, 63-65) divided by the IOD."""
    gap = np.mean([np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return gap / inter_ocular_distance(landmarks)


def _normalised(landmarks: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Chosen points centred on their mean and divided by the frame's IOD, (T, K, 2)."""
    chosen = landmarks[:, points].astype(np.float64)
    centred = chosen - chosen.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return centred / inter_ocular_distance(landmarks.astype(np.float64))[:, None, None]


def landmark_distance_per_frame(real: np.ndarray, fake: np.ndarray, points: np.ndarray = ALL_POINTS) -> np.ndarray:
    """(T,) mean per-point distance between centred, IOD-normalised points (see the module doc);
    NaN for a frame where either side has no landmarks (NaN points)."""
    if real.shape != fake.shape or real.ndim != 3 or real.shape[1:] != (68, 2):
        raise ValueError(f"expected two (T, 68, 2) landmark arrays, got {real.shape} and {fake.shape}")
    diff = _normalised(real, points) - _normalised(fake, points)
    return np.linalg.norm(diff, axis=-1).mean(axis=1)


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def m_lmd(real: np.ndarray, fake: np.ndarray) -> float:
    """M-LMD: mean over frames with a face on both sides of the mouth-point (48-67) distance, in IODs."""
    return _nanmean(landmark_distance_per_frame(real, fake, MOUTH_POINTS))


def f_lmd(real: np.ndarray, fake: np.ndarray) -> float:
    """F-LMD: as ``m_lmd`` over all 68 points, in IODs."""
    return _nanmean(landmark_distance_per_frame(real, fake, ALL_POINTS))


def loudness_per_frame(wave: np.ndarray, n_frames: int | None = None, sample_rate: int = 16000,
                       fps: int = 25) -> np.ndarray:
    """RMS level in dB (re full scale 1.0) of each video frame's audio, (T,).

    Frame t owns samples ``[t * sr / fps, (t + 1) * sr / fps)`` (640 samples, 40 ms at 16 kHz and
    25 fps); a frame past the end of the wave reads as silence (-100 dB).
    """
    hop = sample_rate // fps
    n_frames = len(wave) // hop if n_frames is None else n_frames
    padded = np.zeros(n_frames * hop, dtype=np.float64)
    usable = min(len(wave), padded.size)
    padded[:usable] = wave[:usable]
    rms = np.sqrt(np.mean(padded.reshape(n_frames, hop) ** 2, axis=1))  # (T,)
    return 20.0 * np.log10(np.maximum(rms, LOUDNESS_FLOOR))


@dataclass(frozen=True)
class SyncProxy:
    """Mouth opening vs loudness: the best correlation over offsets and where it is."""

    correlation: float
    """Pearson correlation at ``offset`` (NaN when fewer than MIN_SYNC_FRAMES frames overlap)."""
    offset: int
    """Frames by which the mouth LAGS the audio at the best correlation (negative: it leads)."""
    correlation_at_zero: float
    """Pearson correlation with no shift."""


def _pearson(a: np.ndarray, b: np.ndarray, min_frames: int = MIN_SYNC_FRAMES) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_frames:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def shifted_pair(mouth: np.ndarray, loudness: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping parts of mouth[t] and loudness[t - offset]."""
    n = min(len(mouth), len(loudness))
    mouth, loudness = mouth[:n], loudness[:n]
    if offset >= 0:
        return mouth[offset:], loudness[:n - offset]
    return mouth[:n + offset], loudness[-offset:]


def sync_proxy(mouth: np.ndarray, loudness: np.ndarray, max_offset: int = 15,
               min_frames: int = MIN_SYNC_FRAMES) -> SyncProxy:
    """Best Pearson correlation of ``mouth[t]`` with ``loudness[t - k]`` over k in
    [-max_offset, max_offset], and that k (ties go to the smallest |k|).

    Args:
        mouth: (T,) mouth opening per frame (``mouth_opening``); NaN frames are left out.
        loudness: (T,) dB per frame (``loudness_per_frame``).
        max_offset: largest shift in frames tried either way.
        min_frames: fewest overlapping finite frames a shift needs to be scored.
    """
    mouth, loudness = np.asarray(mouth, np.float64), np.asarray(loudness, np.float64)
    offsets = sorted(range(-max_offset, max_offset + 1), key=abs)
    scores = {k: _pearson(*shifted_pair(mouth, loudness, k), min_frames) for k in offsets}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        return SyncProxy(float("nan"), 0, scores[0])
    best = max(finite, key=lambda k: (finite[k], -abs(k)))
    return SyncProxy(finite[best], best, scores[0])
