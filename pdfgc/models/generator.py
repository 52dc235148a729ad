"""G0 and G: StyleGAN2-style modulated-convolution decoders whose input is the appearance map.

Release facts (docs/MODEL.md): style = appearance 2048 + lip 500 + expression 30 + eye 6 +
pose 6 = 2590, fed to every modulated conv directly (no mapping network); the 512 x 7 x 7
appearance map replaces StyleGAN2's constant input; 5 doublings 7 -> 224; channels
512, 512, 512, 512, 256, 128 from 7 to 224; tanh output. Those channels are
``base_channels`` x LEVEL_CHANNEL_MULT.

Differences from StyleGAN2, chosen for simplicity: upsampling is bilinear interpolation followed
by a modulated 3x3 conv (not a transposed conv + FIR blur), and there is no noise injection,
so a forward pass is deterministic.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import ModelConfig
from pdfgc.models.appearance import TOTAL_STRIDE, AppearanceFeatures

_logger = logging.getLogger(__name__)

LEVEL_CHANNEL_MULT = (8, 8, 8, 8, 4, 2)
"""Channels per resolution level (S/32 ... S) as multiples of base_channels."""
STYLE_ORDER = ("app", "lip", "exp", "eye", "pose")
"""Order of the parts in G's style vector, as in the release."""
LEAKY_SLOPE = 0.2
DEMOD_EPS = 1e-8
POSE_UNITS = (30.0, 30.0, 30.0, 100.0, 100.0, 1000.0)
"""Divisors that bring the 6D pose (degrees, degrees, degrees, mm, mm, mm) to order 1 before it
joins G's style; raw units (tz is about 1300 mm) would swamp the other factors."""


def style_layout(cfg: ModelConfig) -> dict[str, slice]:
    """Where each factor sits in G's style vector (B, app + lip + exp + eye + pose)."""
    widths = {"app": cfg.app_dim, "lip": cfg.lip_dim, "exp": cfg.exp_dim, "eye": cfg.eye_dim, "pose": cfg.pose_dim}
    layout, start = {}, 0
    for name in STYLE_ORDER:
        layout[name] = slice(start, start + widths[name])
        start += widths[name]
    return layout


def assemble_style(app_global: torch.Tensor, lip: torch.Tensor, pose: torch.Tensor, eye: torch.Tensor,
                   exp: torch.Tensor) -> torch.Tensor:
    """G's style: the factors concatenated in STYLE_ORDER -> (B, app + lip + exp + eye + pose)."""
    parts = {"app": app_global, "lip": lip, "exp": exp, "eye": eye, "pose": pose}
    return torch.cat([parts[name] for name in STYLE_ORDER], dim=1)


class ModulatedConv2d(nn.Module):
    """A conv whose weights are scaled per sample by an affine map of the style (then demodulated).

    Computed as StyleGAN2's non-fused form: scale the input's channels by the style, run one
    ordinary convolution over the whole batch, scale the output's channels by the per-sample
    demodulation. The same function as a per-sample weight in a conv grouped by sample, but
    a batched convolution is several times faster on GPUs and CPUs alike.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.affine = nn.Linear(style_dim, in_channels)
        nn.init.ones_(self.affine.bias)
        self.demodulate = demodulate
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        modulation = self.affine(style)  # (B, I)
        weight = self.scale * self.weight  # (O, I, k, k)
        out = F.conv2d(x * modulation[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=self.padding)
        if not self.demodulate:
            return out
        return out * self._demodulation(modulation, weight)[:, :, None, None].to(out.dtype)

    @staticmethod
    def _demodulation(modulation: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """1 / the L2 norm of each sample's modulated weight, (B, O), in float32: sum over i, k of
        (w[o, i, k] m[b, i])^2 = sum over i of m[b, i]^2 (sum over k of w[o, i, k]^2)."""
        weight_energy = weight.float().pow(2).sum(dim=(2, 3))  # (O, I)
        energy = (modulation.float().pow(2)[:, None, :] * weight_energy[None]).sum(dim=2)  # (B, O)
        return torch.rsqrt(energy + DEMOD_EPS)


class StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = self.conv(x, style)
        return F.leaky_relu(out + self.bias.to(out.dtype), LEAKY_SLOPE) * math.sqrt(2)


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, style_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = self.conv(x, style)
        return out + self.bias.to(out.dtype)


class StyledDecoder(nn.Module):
    """Appearance map (B, C_map, S/32, S/32) + style (B, style_dim) -> image (B, 3, S, S) in (-1, 1).

    Args:
        cfg: the model section (``net_image_size``, ``base_channels``, ``app_map_channels``).
        style_dim: width of the style vector.
    """

    def __init__(self, cfg: ModelConfig, style_dim: int) -> None:
        super().__init__()
        channels = [cfg.base_channels * mult for mult in LEVEL_CHANNEL_MULT]
        self.style_dim = style_dim
        self.input_conv = StyledConv(cfg.app_map_channels, channels[0], style_dim, upsample=False)
        self.input_rgb = ToRGB(channels[0], style_dim)
        self.up_convs = nn.ModuleList()
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for in_channels, out_channels in zip(channels[:-1], channels[1:]):
            self.up_convs.append(StyledConv(in_channels, out_channels, style_dim, upsample=True))
            self.convs.append(StyledConv(out_channels, out_channels, style_dim, upsample=False))
            self.to_rgbs.append(ToRGB(out_channels, style_dim))

    def forward(self, app_map: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.input_conv(app_map, style)  # (B, C0, S/32, S/32)
        rgb = self.input_rgb(h, style)
        for up_conv, conv, to_rgb in zip(self.up_convs, self.convs, self.to_rgbs):
            h = conv(up_conv(h, style), style)  # resolution doubles
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(h, style)
        return torch.tanh(rgb)  # (B, 3, S, S)


def _check_size(cfg: ModelConfig) -> None:
    if cfg.net_image_size % TOTAL_STRIDE:
        raise ValueError(f"model.net_image_size={cfg.net_image_size} must be a multiple of {TOTAL_STRIDE}")


class Generator0(nn.Module):
    """G0 (stage 1): f_app + unified motion feature -> frame. Style = app_dim + motion_dim."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _check_size(cfg)
        self.decoder = StyledDecoder(cfg, cfg.app_dim + cfg.motion_dim)

    def forward(self, app: AppearanceFeatures, motion: torch.Tensor) -> torch.Tensor:
        style = torch.cat([app.global_feat, motion], dim=1)  # (B, app_dim + motion_dim)
        return self.decoder(app.spatial, style)


class Generator(nn.Module):
    """G (stage 3): f_app + f_lip + f_pose + f_eye + f_exp -> frame. Style layout: ``style_layout``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _check_size(cfg)
        self.layout = style_layout(cfg)
        self.decoder = StyledDecoder(cfg, max(part.stop for part in self.layout.values()))
        self.register_buffer("pose_units", torch.tensor(POSE_UNITS[: cfg.pose_dim]), persistent=False)

    def forward(self, app: AppearanceFeatures, lip: torch.Tensor, pose: torch.Tensor, eye: torch.Tensor,
                exp: torch.Tensor) -> torch.Tensor:
        style = assemble_style(app.global_feat, lip, pose / self.pose_units, eye, exp)
        return self.decoder(app.spatial, style)
