"""E_app: the appearance encoder, a ResNeXt-50 (32x4d) trunk written in plain torch.

The public PD-FGC inference release encodes the source portrait with a ResNeXt-50 32x4d and keeps
a 2048-d global feature plus a 512 x 7 x 7 spatial map (docs/MODEL.md). In training the K
appearance frames of one video are encoded separately and their features averaged (LPD).

Widths scale with ``ModelConfig.base_channels`` (64 = the standard ResNeXt-50); the number of
groups shrinks with the width so that every group keeps GROUP_WIDTH channels (4 in "32x4d").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch
from torch import nn

from pdfgc.config import ModelConfig

_logger = logging.getLogger(__name__)

STAGE_BLOCKS = (3, 4, 6, 3)
"""Bottleneck blocks per stage of ResNeXt-50."""
CARDINALITY = 32
GROUP_WIDTH = 4
EXPANSION = 4
"""A bottleneck's output has EXPANSION x its 'planes' channels."""
TOTAL_STRIDE = 32


@dataclass
class AppearanceFeatures:
    """f_app: what the generators read from the source frames. Iterating yields its tensors in
    field order, so ``AppearanceFeatures(*(f(t) for t in app))`` maps a function over them."""

    global_feat: torch.Tensor  # (B, app_dim)
    spatial: torch.Tensor  # (B, app_map_channels, S/32, S/32)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (getattr(self, field.name) for field in fields(self))


class Bottleneck(nn.Module):
    """1x1 reduce -> grouped 3x3 (the ResNeXt aggregation) -> 1x1 expand, plus the shortcut."""

    def __init__(self, in_channels: int, planes: int, stride: int) -> None:
        super().__init__()
        width = planes * 2  # 32 groups x 4 channels for planes = 64
        groups = max(1, min(CARDINALITY, width // GROUP_WIDTH))
        out_channels = planes * EXPANSION
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = projection_shortcut(in_channels, out_channels, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The residual branch's identity, or a strided 1x1 conv + BN when the shape changes."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))


class ResNeXtTrunk(nn.Module):
    """The ResNeXt-50 convolutional trunk without its classifier: (N,3,S,S) -> (N, 32b, S/32, S/32)."""

    def __init__(self, base_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, base_channels, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(base_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, in_channels = [], base_channels
        for index, blocks in enumerate(STAGE_BLOCKS):
            planes = base_channels * 2**index
            stride = 1 if index == 0 else 2
            layers = [Bottleneck(in_channels if b == 0 else planes * EXPANSION, planes, stride if b == 0 else 1)
                      for b in range(blocks)]
            stages.append(nn.Sequential(*layers))
            in_channels = planes * EXPANSION
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class AppearanceEncoder(nn.Module):
    """E_app: K frames (B,K,3,S,S) in [-1,1] -> AppearanceFeatures averaged over the K frames.

    Args:
        cfg: the model section (``base_channels``, ``app_dim``, ``app_map_channels``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.trunk = ResNeXtTrunk(cfg.base_channels)
        trunk_dim = self.trunk.out_channels
        self.to_global: nn.Module = nn.Identity() if trunk_dim == cfg.app_dim else nn.Linear(trunk_dim, cfg.app_dim)
        self.to_spatial = nn.Conv2d(trunk_dim, cfg.app_map_channels, 1)

    def forward(self, frames: torch.Tensor) -> AppearanceFeatures:
        if frames.dim() == 4:
            frames = frames.unsqueeze(1)
        batch, k_frames = frames.shape[:2]
        features = self.trunk(frames.flatten(0, 1))  # (B*K, C, S/32, S/32)
        global_feat = self.to_global(features.mean(dim=(2, 3)))  # (B*K, app_dim)
        spatial = self.to_spatial(features)  # (B*K, app_map_channels, S/32, S/32)
        return AppearanceFeatures(
            global_feat=global_feat.view(batch, k_frames, -1).mean(1),
            spatial=spatial.view(batch, k_frames, *spatial.shape[1:]).mean(1),
        )
