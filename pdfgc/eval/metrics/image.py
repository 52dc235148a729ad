"""Pixel metrics of generated frames: PSNR and SSIM against the real frames, CPBD sharpness.

All take RGB uint8 frames, one (H, W, 3) or a batch (T, H, W, 3); a batch gives the mean of the
per-frame values (as EAT's evaluation does), so one bad frame cannot hide in a pooled MSE.

CPBD (cumulative probability of blur detection) is written here from its definition: Narvekar &
Karam, "A No-Reference Image Blur Metric Based on the Cumulative Probability of Blur Detection
(CPBD)", IEEE Trans. Image Processing 20(9), 2011, with Marziliano et al.'s edge width
("A no-reference perceptual blur metric", ICIP 2002). Where the paper leaves a choice open
(edge thresholds, thinning, where a width starts) this code makes the choices of the Python
``cpbd`` package that talking-head papers report with, vectorised, so the numbers agree with it;
that package itself cannot be used (1.0.7 imports ``scipy.ndimage.imread``, removed from SciPy;
its ``cpbd-py312`` fork is under a proprietary licence).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from scipy import ndimage
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
CPBD_P_JNB_PERCENT = 63
"""CPBD = share of edges whose probability of blur detection, in whole per cent, is at most 63."""
CPBD_MAX_WIDTH = 100
SOBEL_HORIZONTAL_DERIVATIVE = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0


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


def vertical_edges(gray: np.ndarray) -> np.ndarray:
    """Thin vertical Sobel edges, bool (H, W), as the reference code's Octave-style ``sobel``.

    s = (horizontal Sobel / 8)^2; values at or below ``2 sqrt(mean(s))`` are zeroed (Octave's
    automatic threshold, applied to the squared response as the reference code does); an edge
    is a pixel whose s beats both row neighbours or both column neighbours (zero outside).
    """
    response = ndimage.convolve(gray, SOBEL_HORIZONTAL_DERIVATIVE)  # reflect borders
    strength = response * response
    strength[strength <= 2.0 * np.sqrt(strength.mean())] = 0.0
    padded = np.pad(strength, 1)
    centre = padded[1:-1, 1:-1]
    along_rows = (centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
    along_cols = (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1])
    return along_rows | along_cols


def edge_directions(gray: np.ndarray) -> np.ndarray:
    """+1 where the gradient points right (angle rounds to 0 deg), -1 where it points left (180),
    0 elsewhere; angles from ``np.gradient`` rounded to multiples of 45 deg, as in the reference."""
    gradient_y, gradient_x = np.gradient(gray)
    angle = np.degrees(np.arctan2(gradient_y, gradient_x))
    angle[gradient_x == 0] = 0.0  # the reference leaves these at 0 whatever gradient_y is
    rounded = 45.0 * np.round(angle / 45.0)
    return np.where(rounded == 0, 1, np.where(np.abs(rounded) == 180, -1, 0))


def edge_widths(gray: np.ndarray, edges: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Marziliano edge width (pixels) at each edge pixel away from the border, 0 elsewhere.

    Along the row, from the edge pixel's neighbour on each side, walk outward while the
    intensity keeps falling away from the edge on its dark side (rising on its bright side);
    each side counts 1 + the number of such steps (at most ``CPBD_MAX_WIDTH`` + 1), and the
    width is the sum of both sides: the distance between the extrema that bound the edge.
    """
    inside = np.zeros(edges.shape, dtype=bool)
    inside[1:-1, 1:-1] = True
    rows, cols = np.nonzero(edges & inside & (direction != 0))
    sign = direction[rows, cols]
    width = np.zeros(rows.size)
    for side in (-1, 1):
        steps = np.zeros(rows.size, dtype=np.int64)
        active = np.ones(rows.size, dtype=bool)
        for step in range(CPBD_MAX_WIDTH):
            inner = cols + side * (1 + step)
            outer = inner + side
            valid = (outer >= 0) & (outer < gray.shape[1])
            change = np.zeros(rows.size)
            change[valid] = gray[rows[valid], outer[valid]] - gray[rows[valid], inner[valid]]
            active &= valid & (side * sign * change > 0)
            if not active.any():
                break
            steps += active
        width += steps + 1
    result = np.zeros(gray.shape)
    result[rows, cols] = width
    return result


def cpbd_sharpness(image: np.ndarray) -> float:
    """CPBD sharpness in [0, 1] of one RGB or grey uint8 image; higher is sharper.

    1. Canny edges (scikit-image defaults on grey levels 0..255, as the reference code runs it)
       mark the edge blocks: 64 x 64 blocks with more than 0.2 % edge pixels.
    2. In each edge block, every thin vertical Sobel edge whose gradient is horizontal (within
       22.5 deg) gets its width w (``edge_widths``) and the probability of blur detection
       ``P = 1 - exp(-(w / w_JNB) ** 3.6)``, with the just-noticeable-blur width w_JNB = 5 px when
       the block's contrast (max - min grey level) is at most 50, else 3 px.
    3. CPBD = the share of those edges whose P, in per cent and rounded, is at most 63 (P_JNB).

    NaN when the image has no edge block (flat, or smaller than one block).
    """
    gray = _gray(image)
    blocks_y, blocks_x = gray.shape[0] // CPBD_BLOCK, gray.shape[1] // CPBD_BLOCK
    canny_edges = canny(gray)
    widths = edge_widths(gray, vertical_edges(gray), edge_directions(gray))
    probabilities, edge_blocks = [], 0
    for by in range(blocks_y):
        for bx in range(blocks_x):
            block = np.s_[by * CPBD_BLOCK:(by + 1) * CPBD_BLOCK, bx * CPBD_BLOCK:(bx + 1) * CPBD_BLOCK]
            if np.count_nonzero(canny_edges[block]) <= CPBD_EDGE_BLOCK_FRACTION * CPBD_BLOCK * CPBD_BLOCK:
                continue
            edge_blocks += 1
            block_widths = widths[block][widths[block] > 0]
            contrast = int(gray[block].max() - gray[block].min())
            jnb = CPBD_JNB_LOW_CONTRAST if contrast <= CPBD_CONTRAST_SPLIT else CPBD_JNB_HIGH_CONTRAST
            probabilities.append(1.0 - np.exp(-np.abs(block_widths / jnb) ** CPBD_BETA))
    pooled = np.concatenate(probabilities) if probabilities else np.zeros(0)
    if not pooled.size:
        return float("nan") if edge_blocks == 0 else 0.0
    return float(np.mean(np.round(pooled * 100) <= CPBD_P_JNB_PERCENT))


def cpbd_mean(frames: np.ndarray) -> float:
    """Mean CPBD over frames (T, H, W, 3), ignoring frames without an edge block (NaN if all)."""
    values = np.array([cpbd_sharpness(frame) for frame in _batch(frames)])
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
