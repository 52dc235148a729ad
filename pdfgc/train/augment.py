"""Batched, on-device augmentations for PD-FGC training (torch only, seeded by a torch.Generator).

- ``MotionAugment``: the identity-destroying but pose-keeping augmentation of the driving frame
  before E_mot (PD-FGC paper, stage 1, after LPD): a small random scale about the image centre,
  Gaussian blur, unsharp-mask sharpening, and colour jitter with the release's strengths
  (brightness 0.5, contrast 0.4, saturation 0.4, hue 0.4). Every sample draws its own parameters.
- ``composite_eye_region``: the eye anchor v_a of L_eye (PD-FGC paper, stage 2): the eye region of
  v1 pasted onto v2 through a soft mask built from the 68-point eye landmarks (36-47).

Images are float (B, 3, S, S) in [-1, 1]; landmarks are (x, y) pixel coordinates of that image.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_logger = logging.getLogger(__name__)

EYE_POINTS = slice(36, 48)
"""Both eyes in the iBUG 68-point scheme: 36-41 (one eye), 42-47 (the other)."""
POINTS_PER_EYE = 6
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
SHARPEN_SIGMA = 1.0
"""Pixels; the unsharp mask subtracts a blur of this width."""
KERNEL_RADIUS_PER_SIGMA = 3
REFERENCE_SIZE = 224
"""Blur sigmas in ``MotionAugmentConfig`` are in pixels of a crop of this side."""


@dataclass(frozen=True)
class MotionAugmentConfig:
    """Strengths of ``MotionAugment``; defaults: the release's colour jitter, LPD's other ops."""

    max_scale: float = 0.05
    """Scale factor drawn from [1 - max_scale, 1 + max_scale], about the image centre."""
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    """Gaussian sigma in pixels at 224 px; scaled with the image size."""
    sharpen_prob: float = 0.5
    sharpen_amount: tuple[float, float] = (0.2, 1.0)
    brightness: float = 0.5
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.4
    """Hue shift drawn from [-hue, hue] of a full turn (torchvision's convention, max 0.5)."""



def gaussian_kernels(sigmas: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussians, one per sigma: (N,) -> (N, 2 * radius + 1)."""
    offsets = torch.arange(-radius, radius + 1, device=sigmas.device, dtype=sigmas.dtype)
    kernels = torch.exp(-0.5 * (offsets[None] / sigmas[:, None].clamp(min=1e-3)) ** 2)
    return kernels / kernels.sum(dim=1, keepdim=True)


def gaussian_blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable blur with a per-sample sigma: images (B, C, H, W), sigmas (B,) in pixels."""
    batch, channels, height, width = images.shape
    radius = max(1, math.ceil(KERNEL_RADIUS_PER_SIGMA * float(sigmas.max())))
    kernels = gaussian_kernels(sigmas.to(images), radius).repeat_interleave(channels, dim=0)  # (B*C, k)
    flat = images.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, [radius, radius, 0, 0], mode="replicate")
    flat = F.conv2d(flat, kernels.view(-1, 1, 1, 2 * radius + 1), groups=batch * channels)
    flat = F.pad(flat, [0, 0, radius, radius], mode="replicate")
    flat = F.conv2d(flat, kernels.view(-1, 1, 2 * radius + 1, 1), groups=batch * channels)
    return flat.view(batch, channels, height, width)


def _uniform(low: float, high: float, count: int, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else "cpu"
    return low + (high - low) * torch.rand(count, generator=generator, device=device)


def _luma(images: torch.Tensor) -> torch.Tensor:
    weights = images.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)  # (B, 1, H, W)


def _blend(images: torch.Tensor, other: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, per sample (torchvision's adjust_* convention)."""
    factors = factors.view(-1, 1, 1, 1)
    return factors * images + (1 - factors) * other


def rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Hue shift by ``turns`` of a full circle as a rotation of the chroma plane in YIQ space.

    An approximation of an HSV hue shift (torchvision's), chosen because it is linear and batched.
    """
    to_yiq = images.new_tensor(RGB_TO_YIQ)
    angle = 2 * math.pi * turns.to(images)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(len(images), 3, 3, device=images.device, dtype=images.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    transform = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", transform, images)


def scale_about_centre(images: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Zoom each image by its factor (> 1 enlarges) about the centre; the border is replicated."""
    theta = torch.zeros(len(images), 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scales.to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class MotionAugment:
    """Identity-destroying, pose-keeping augmentation of a batch of driving frames.

    Call with images (B, 3, S, S) in [-1, 1] and a ``torch.Generator`` (its device is where the
    random parameters are drawn; the same seed gives the same output). Operations run in a fixed
    order: scale, blur, sharpen, brightness, contrast, saturation, hue.

    Args:
        config: strengths; defaults as in ``MotionAugmentConfig``.
    """

    def __init__(self, config: MotionAugmentConfig | None = None) -> None:
        self.config = config or MotionAugmentConfig()

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        params = self.sample_params(len(images), images.shape[-1], generator)
        params = {name: value.to(images.device) for name, value in params.items()}
        x = scale_about_centre(images, params["scale"])
        x = self.blur_or_sharpen((x.float() + 1) / 2, params)  # [0, 1]
        x = self.colour_jitter(x, params)
        return (x * 2 - 1).to(images.dtype)

    @staticmethod
    def blur_or_sharpen(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Gaussian blur where ``blur`` is drawn, then an unsharp mask where ``sharpen`` is drawn."""
        x = torch.where(params["blur"].view(-1, 1, 1, 1), gaussian_blur(x, params["blur_sigma"]), x)
        detail = x - gaussian_blur(x, torch.full_like(params["scale"], SHARPEN_SIGMA))
        sharpened = x + params["sharpen_amount"].view(-1, 1, 1, 1) * detail
        return torch.where(params["sharpen"].view(-1, 1, 1, 1), sharpened, x).clamp(0, 1)

    def sample_params(self, batch: int, size: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Every random draw of one call, per sample (on the generator's device)."""
        cfg, pixel = self.config, size / REFERENCE_SIZE
        return {
            "scale": _uniform(1 - cfg.max_scale, 1 + cfg.max_scale, batch, generator),
            "blur": _uniform(0, 1, batch, generator) < cfg.blur_prob,
            "blur_sigma": _uniform(*cfg.blur_sigma, batch, generator) * pixel,
            "sharpen": _uniform(0, 1, batch, generator) < cfg.sharpen_prob,
            "sharpen_amount": _uniform(*cfg.sharpen_amount, batch, generator),
            "brightness": _uniform(1 - cfg.brightness, 1 + cfg.brightness, batch, generator),
            "contrast": _uniform(1 - cfg.contrast, 1 + cfg.contrast, batch, generator),
            "saturation": _uniform(1 - cfg.saturation, 1 + cfg.saturation, batch, generator),
            "hue": _uniform(-cfg.hue, cfg.hue, batch, generator),
        }

    @staticmethod
    def colour_jitter(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Brightness, contrast, saturation, hue on images in [0, 1], clamped after each step."""
        x = (x * params["brightness"].view(-1, 1, 1, 1)).clamp(0, 1)
        grey_mean = _luma(x).mean(dim=(1, 2, 3), keepdim=True)
        x = _blend(x, grey_mean.expand_as(x), params["contrast"]).clamp(0, 1)
        x = _blend(x, _luma(x).expand_as(x), params["saturation"]).clamp(0, 1)
        return rotate_hue(x, params["hue"]).clamp(0, 1)


def eye_ellipses(eye_points: torch.Tensor, size: int, margin: float) -> torch.Tensor:
    """Hard mask (B, 1, size, size) of one ellipse per eye around (B, 12, 2) eye landmarks.

    Each ellipse is centred on its 6 points; semi-axes are (1 + margin) x half the points' extent,
    the vertical one at least 0.6 x the horizontal one so a closed eye still covers its lids.
    Samples with non-finite landmarks get an empty mask.
    """
    coords = torch.arange(size, device=eye_points.device, dtype=torch.float32) + 0.5
    ys, xs = coords.view(1, -1, 1), coords.view(1, 1, -1)
    mask = torch.zeros(len(eye_points), size, size, device=eye_points.device)
    for eye in eye_points.float().split(POINTS_PER_EYE, dim=1):  # (B, 6, 2) each
        finite = torch.isfinite(eye).flatten(1).all(dim=1)
        eye = torch.nan_to_num(eye)
        centre = (eye.amax(dim=1) + eye.amin(dim=1)) / 2  # (B, 2)
        half = (eye.amax(dim=1) - eye.amin(dim=1)) / 2 * (1 + margin)  # (B, 2)
        semi_x = half[:, 0].clamp(min=1.0)
        semi_y = torch.maximum(half[:, 1], 0.6 * semi_x)
        inside = ((xs - centre[:, 0].view(-1, 1, 1)) / semi_x.view(-1, 1, 1)) ** 2 + (
            (ys - centre[:, 1].view(-1, 1, 1)) / semi_y.view(-1, 1, 1)) ** 2 <= 1
        mask = torch.maximum(mask, (inside & finite.view(-1, 1, 1)).float())
    return mask.unsqueeze(1)


def _eye_points(landmarks: torch.Tensor) -> torch.Tensor:
    if landmarks.shape[1] == 68:
        return landmarks[:, EYE_POINTS]
    if landmarks.shape[1] == 2 * POINTS_PER_EYE:
        return landmarks
    raise ValueError(f"eye landmarks must be (B, 68, 2) or (B, 12, 2), got {tuple(landmarks.shape)}")


def eye_region_mask(size: int, eye_landmarks1: torch.Tensor, eye_landmarks2: torch.Tensor | None = None,
                    feather: float = 2.0, margin: float = 0.5) -> torch.Tensor:
    """Soft eye mask (B, 1, size, size) in [0, 1]: the union of both frames' eye ellipses, feathered.

    The feather is a Gaussian of sigma ``feather`` px applied to the hard ellipses and then doubled
    (clamped to 1), so inside an ellipse the mask is exactly 1 and the fade lies outside it.
    """
    mask = eye_ellipses(_eye_points(eye_landmarks1), size, margin)
    if eye_landmarks2 is not None:
        mask = torch.maximum(mask, eye_ellipses(_eye_points(eye_landmarks2), size, margin))
    if feather > 0:
        mask = (2 * gaussian_blur(mask, torch.full((len(mask),), float(feather), device=mask.device))).clamp(0, 1)
    return mask


def composite_eye_region(v1: torch.Tensor, v2: torch.Tensor, eye_landmarks1: torch.Tensor | None = None,
                         eye_landmarks2: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                         feather: float = 2.0) -> torch.Tensor:
    """The L_eye anchor v_a: v1's eye region pasted onto v2, (B, 3, S, S).

    Args:
        v1, v2: two frames of one clip, (B, 3, S, S) in [-1, 1].
        eye_landmarks1, eye_landmarks2: landmarks of v1 and v2 ((B, 68, 2) or the 12 eye points)
            in pixels of the S x S image; the mask covers the eyes of both frames.
        mask: a ready soft mask (B, 1, S, S) in [0, 1], instead of landmarks.
        feather: Gaussian sigma (px) of the mask's soft edge.
    """
    if mask is None:
        if eye_landmarks1 is None:
            raise ValueError("composite_eye_region needs eye landmarks or a mask")
        mask = eye_region_mask(v1.shape[-1], eye_landmarks1, eye_landmarks2, feather)
    mask = mask.to(v1)
    return mask * v1 + (1 - mask) * v2
