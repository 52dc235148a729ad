"""Near-duplicate fingerprints: a DCT perceptual hash of frames and a log-mel sign pattern.

The frame hash is the classic pHash: the grey frame at 32 x 32, its 2-D DCT, the 8 x 8 block
of lowest frequencies, one bit per coefficient above the block's median (DC left out of the
median). Re-encoding, rescaling and a crop of a few percent move a few of the 64 bits; a
different face or shot moves about half of them.

The audio fingerprint follows Haitsma and Kalker's idea on the log-mel features the shards
already hold: mel bands are pooled into ``AUDIO_BANDS`` coarse bands and frames into 100 ms
blocks, and each bit is the sign of the energy difference between neighbouring bands minus
that of the previous block. Loudness and codec changes leave the signs; other speech flips
about half of them. Comparing two fingerprints takes the best of a few block offsets, so a
chunk cut one video frame later still matches.
"""

from __future__ import annotations

import cv2
import numpy as np

HASH_SIDE = 32
HASH_BLOCK = 8
HASH_BITS = HASH_BLOCK * HASH_BLOCK
AUDIO_BANDS = 17
"""Coarse bands: 16 differences between neighbours per block (one 16-bit word)."""
MEL_ROWS_PER_BLOCK = 10
"""10 ms mel rows per fingerprint block (100 ms)."""
MAX_BLOCK_SHIFT = 2
"""Audio blocks of offset tried when comparing two fingerprints."""


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash of an RGB or grey uint8 image.

    Examples
    --------
    >>> hamming(phash(frame), phash(cv2.resize(frame, (300, 300)))) <= 4
    True
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey.astype(np.float32), (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:HASH_BLOCK, :HASH_BLOCK].ravel()
    bits = low > np.median(low[1:])
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def frame_hash_distance(a: list[int], b: list[int]) -> float:
    """Mean Hamming distance of frame hashes taken at the same relative positions; each frame
    may also match its neighbour in the other list (clips cut a frame or two apart)."""
    if not a or not b:
        return float(HASH_BITS)
    count = min(len(a), len(b))
    xs = _evenly(a, count)
    ys = _evenly(b, count)
    best = []
    for index, x in enumerate(xs):
        near = ys[max(0, index - 1) : index + 2]
        best.append(min(hamming(x, y) for y in near))
    return float(np.mean(best))


def _evenly(items: list[int], count: int) -> list[int]:
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def sample_frame_indices(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``n_frames`` (fewer when the clip is shorter)."""
    if n_frames <= 0:
        return []
    return sorted(set(np.linspace(0, n_frames - 1, min(count, n_frames)).round().astype(int).tolist()))


def audio_fingerprint(log_mel: np.ndarray) -> np.ndarray:
    """Bits (blocks, AUDIO_BANDS - 1) from log-mel rows (rows, mels) at 10 ms per row."""
    rows = (len(log_mel) // MEL_ROWS_PER_BLOCK) * MEL_ROWS_PER_BLOCK
    if rows < 2 * MEL_ROWS_PER_BLOCK:
        return np.zeros((0, AUDIO_BANDS - 1), bool)
    mel = np.asarray(log_mel[:rows], np.float32)
    bands = np.array_split(np.arange(mel.shape[1]), AUDIO_BANDS)
    pooled = np.stack([mel[:, band].mean(axis=1) for band in bands], axis=1)
    blocks = pooled.reshape(-1, MEL_ROWS_PER_BLOCK, AUDIO_BANDS).mean(axis=1)
    band_diff = np.diff(blocks, axis=1)
    return np.diff(band_diff, axis=0) > 0


def audio_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest fraction of differing bits over block offsets of up to ``MAX_BLOCK_SHIFT``;
    1.0 when either is empty."""
    best = 1.0
    for shift in range(-MAX_BLOCK_SHIFT, MAX_BLOCK_SHIFT + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        count = min(len(x), len(y))
        if count >= max(1, min(len(a), len(b)) // 2):
            best = min(best, float(np.mean(x[:count] != y[:count])))
    return best
