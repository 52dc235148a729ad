"""Pixel metrics of generated frames: PSNR and SSIM against the real frames, CPBD sharpness.

All take RGB uint8 frames, one (H, W, 3) or a batch (T, H, W, 3); a batch gives the mean of the
per-frame values (as EAT's evaluation does), so one bad frame cannot hide in a pooled MSE.

CPBD (cumulative probability of blur detection) is written here from its definition: Narvekar &
Karam, "A No-Reference Image Blur Metric Based on the Cumulative Probability of Blur Detection
(CPBD)", IEEE Trans. Image Processing 20(9), 2011, with Marziliano et al.'s edge width
("A no-reference perceptual blur metric", ICIP 2002). The ``cpbd`` package itself imports
``scipy.ndimage.imread``, which SciPy removed.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from skimage.feature import canny
from skimage.metrics import structural_similarity

_logger = logging.getLogger(__name__)

PEAK = 255.0
CPBD_BLOCK = 64
"""Blocks of 64 x 64 pixels, as in the paper."""
CPBD_EDGE_BLOCK_FRACTION = 0.002
"""A block is an edge block when more than this fraction of its pixels are Canny edges."""
CPBD_BETA = 3.6
"""Slope of the psychometric function P_blur = 1 - exp(-(w / w_JNB) ** beta)."""
CPBD_JNB_LOW_CONTRAST = 5.0
CPBD_JNB_HIGH_CONTRAST = 3.0
CPBD_CONTRAST_SPLIT = 50.0
"""Just-noticeable-blur width: 5 px for block contrast <= 50 grey levels, 3 px above."""
CPBD_P_JNB = 0.63
"""CPBD = share of edges whose probability of blur detection is at most P_JNB = 63 %."""
CPBD_MAX_WIDTH = 100
CPBD_ANGLE_TOLERANCE_DEG = 22.5


def _batch(frames: np.ndarray) -> np.ndarray:
    """(H, W, 3) or (T, H, W, 3) -> (T, H, W, 3)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (T, H, W, 3) or (H, W, 3), got {frames.shape}")
    return frames


def _pair(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, fake = _batch(real), _batch(fake)
    if real.shape != fake.shape:
        raise ValueError(f"real {real.shape} and generated {fake.shape} frames differ in shape")
    return real, fake


def psnr_per_frame(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """PSNR (T,) in dB, ``10 log10(255^2 / MSE)`` over all pixels and channels of each frame;
    ``inf`` for identical frames."""
    real, fake = _pair(real, fake)
    diff = real.astype(np.float64) - fake.astype(np.float64)
    mse = np.mean(diff * diff, axis=(1, 2, 3))  # (T,)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(PEAK * PEAK / mse)


def psnr(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean over frames of the per-frame PSNR (dB, peak 255); ``inf`` when every frame is identical."""
    return float(np.mean(psnr_per_frame(real, fake)))


def ssim_per_frame(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """SSIM (T,) of each frame pair: scikit-image's ``structural_similarity`` with its defaults
    (7 x 7 uniform window, K1 0.01, K2 0.03), ``data_range=255``, averaged over the RGB channels
    (``channel_axis=-1``). 1 for identical frames."""
    real, fake = _pair(real, fake)
    return np.array([
        structural_similarity(r, f, data_range=PEAK, channel_axis=-1) for r, f in zip(real, fake)
    ])


def ssim(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean over frames of ``ssim_per_frame``."""
    return float(np.mean(ssim_per_frame(real, fake)))


def _gray(image: np.ndarray) -> np.ndarray:
    """RGB or grey uint8 -> float64 grey levels 0..255."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float64)


def vertical_edges(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin vertical edges (bool (H, W)) and the sign of the horizontal gradient there.

    As MATLAB/Octave ``edge(I, 'sobel', 'vertical')``, which the CPBD reference code uses: the
    squared horizontal Sobel response above 4 x its mean (the automatic threshold), kept where it
    is a local maximum along the row (thinning); border pixels are never edges. As in the
    reference code, only edges whose gradient direction rounds to horizontal (within 22.5 deg)
    are kept: their width is measured along the row.
    """
    gx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3) / 8.0
    strength = gx * gx
    cutoff = 4.0 * strength.mean()
    edges = np.zeros(gray.shape, dtype=bool)
    inner = strength[:, 1:-1]
    edges[:, 1:-1] = (inner > cutoff) & (inner > strength[:, :-2]) & (inner >= strength[:, 2:])
    edges &= np.abs(gy) <= np.tan(np.radians(CPBD_ANGLE_TOLERANCE_DEG)) * np.abs(gx)
    edges[[0, -1], :] = False
    return edges, np.sign(gx)


def edge_widths(gray: np.ndarray, edges: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Marziliano edge width (pixels) at each edge pixel, 0 elsewhere.

    Along the row, from the edge pixel, walk left while the intensity keeps falling (for a
    rising edge; rising for a falling one) and right while it keeps rising: the width is the
    distance between the two local extrema that bound the edge.
    """
    rows, cols = np.nonzero(edges)
    rising = sign[rows, cols] > 0
    width = np.zeros(rows.size)
    height, row_width = gray.shape
    for direction in (-1, 1):
        steps = np.zeros(rows.size, dtype=np.int64)
        active = np.ones(rows.size, dtype=bool)
        for _ in range(CPBD_MAX_WIDTH):
            inner = cols + direction * steps
            outer = inner + direction
            inside = (outer >= 0) & (outer < row_width)
            step = np.zeros(rows.size)
            step[inside] = gray[rows[inside], outer[inside]] - gray[rows[inside], inner[inside]]
            monotone = np.where(rising, step * direction > 0, step * direction < 0)
            active &= inside & monotone
            if not active.any():
                break
            steps += active
        width += steps
    result = np.zeros(gray.shape)
    result[rows, cols] = width
    return result


def cpbd_sharpness(image: np.ndarray) -> float:
    """CPBD sharpness in [0, 1] of one RGB or grey uint8 image; higher is sharper.

    1. Canny edges (scikit-image, sigma 1, on grey levels scaled to [0, 1]) mark the edge blocks:
       64 x 64 blocks with more than 0.2 % edge pixels.
    2. In each edge block, every vertical Sobel edge gets its width w (``edge_widths``) and the
       probability of blur detection ``P = 1 - exp(-(w / w_JNB) ** 3.6)``, with the
       just-noticeable-blur width w_JNB = 5 px when the block's contrast (max - min grey level)
       is at most 50, else 3 px.
    3. CPBD = the share of those edges with ``P <= 63 %`` (the cumulative probability at P_JNB).

    NaN when the image has no edge block (flat, or smaller than one block).
    """
    gray = _gray(image)
    blocks_y, blocks_x = gray.shape[0] // CPBD_BLOCK, gray.shape[1] // CPBD_BLOCK
    canny_edges = canny(gray / PEAK)
    edges, sign = vertical_edges(gray)
    widths = edge_widths(gray, edges, sign)
    probabilities = []
    for by in range(blocks_y):
        for bx in range(blocks_x):
            block = np.s_[by * CPBD_BLOCK:(by + 1) * CPBD_BLOCK, bx * CPBD_BLOCK:(bx + 1) * CPBD_BLOCK]
            if np.count_nonzero(canny_edges[block]) <= CPBD_EDGE_BLOCK_FRACTION * CPBD_BLOCK * CPBD_BLOCK:
                continue
            block_widths = widths[block][widths[block] > 0]
            contrast = gray[block].max() - gray[block].min()
            jnb = CPBD_JNB_LOW_CONTRAST if contrast <= CPBD_CONTRAST_SPLIT else CPBD_JNB_HIGH_CONTRAST
            probabilities.append(1.0 - np.exp(-np.abs(block_widths / jnb) ** CPBD_BETA))
    if not probabilities:
        return float("nan")
    pooled = np.concatenate(probabilities)
    return float(np.mean(pooled <= CPBD_P_JNB)) if pooled.size else float("nan")


def cpbd_mean(frames: np.ndarray) -> float:
    """Mean CPBD over frames (T, H, W, 3), ignoring frames without an edge block (NaN if all)."""
    values = np.array([cpbd_sharpness(frame) for frame in _batch(frames)])
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
