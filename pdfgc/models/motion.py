"""E_mot (a FAN landmark network turned motion encoder) and the stage-2/3 heads.

Release facts (docs/MODEL.md): one hourglass of a FAN with a 68-channel heatmap head at S/4,
a stride-2 conv to S/8 (28 x 28 at 224) and an fc to the 512-d unified motion feature; heads
mouth 512 -> 500, pose 6, eye 6, expression 30. The heatmap head is an ordinary conv layer here
(no landmark supervision): it keeps FAN's shape, not its meaning.

The release's heads use BatchNorm1d; this project uses LayerNorm so a head behaves the same for
a batch of one frame (synthesis) as for a training batch.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import ModelConfig

_logger = logging.getLogger(__name__)

HEATMAP_CHANNELS = 68
HOURGLASS_DEPTH = 4
MOTION_MAP_CHANNELS = 1
"""Channels of the stride-2 conv after the heatmaps; the fc reads (S/8)^2 x this many values."""


class FanConvBlock(nn.Module):
    """FAN's hierarchical block: three chained 3x3 convs (out/2, out/4, out/4) concatenated + shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half, quarter = out_channels // 2, out_channels // 4
        self.branches = nn.ModuleList([
            self._pre_act_conv(in_channels, half),
            self._pre_act_conv(half, quarter),
            self._pre_act_conv(quarter, out_channels - half - quarter),
        ])
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), nn.Conv2d(in_channels, out_channels, 1, bias=False)
            )

    @staticmethod
    def _pre_act_conv(in_channels: int, out_channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, h = [], x
        for branch in self.branches:
            h = branch(h)
            outputs.append(h)
        return torch.cat(outputs, dim=1) + self.shortcut(x)


class Hourglass(nn.Module):
    """Recursive encoder-decoder; upsampling goes to the skip's size, so odd sides (7 -> 3) work."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = FanConvBlock(channels, channels)
        self.down = FanConvBlock(channels, channels)
        self.inner: nn.Module = Hourglass(depth - 1, channels) if depth > 1 else FanConvBlock(channels, channels)
        self.up = FanConvBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(F.avg_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


class MotionEncoder(nn.Module):
    """E_mot: an identity-augmented frame (B,3,S,S) in [-1,1] -> unified motion feature (B, motion_dim).

    Args:
        cfg: the model section (``net_image_size``, ``base_channels``, ``motion_dim``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        width = cfg.base_channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            FanConvBlock(width, 2 * width),
            nn.AvgPool2d(2),
            FanConvBlock(2 * width, 2 * width),
            FanConvBlock(2 * width, 4 * width),
        )
        self.hourglass = Hourglass(HOURGLASS_DEPTH, 4 * width)
        self.heatmap_head = nn.Sequential(
            FanConvBlock(4 * width, 4 * width),
            nn.Conv2d(4 * width, 4 * width, 1),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * width, HEATMAP_CHANNELS, 1),
        )
        self.to_map = nn.Conv2d(HEATMAP_CHANNELS, MOTION_MAP_CHANNELS, 3, stride=2, padding=1)
        map_side = cfg.net_image_size // 8
        self.fc = nn.Linear(MOTION_MAP_CHANNELS * map_side * map_side, cfg.motion_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = self.hourglass(self.stem(image))  # (B, 4w, S/4, S/4)
        heatmaps = self.heatmap_head(h)  # (B, 68, S/4, S/4)
        motion_map = self.to_map(heatmaps)  # (B, 1, S/8, S/8)
        return self.fc(motion_map.flatten(1))  # (B, motion_dim)


def motion_head(motion_dim: int, out_dim: int) -> nn.Sequential:
    """One of E_lip / E_pose / E_eye / E_exp: the release's 'to_x' MLP then its 'x_embed' layer."""
    return nn.Sequential(
        nn.Linear(motion_dim, motion_dim),
        nn.ReLU(),
        nn.LayerNorm(motion_dim),
        nn.Linear(motion_dim, motion_dim),
        nn.ReLU(),
        nn.Linear(motion_dim, out_dim),
    )
