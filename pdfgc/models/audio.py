"""E_aud: an SE-ResNet over a log-mel window with self-attentive pooling, then a lip layer.

Release facts (docs/MODEL.md): SE-ResNet with blocks (3, 4, 6, 3) and filters 32/64/128/256,
self-attentive pooling to 512 (``audio_dim``), then ReLU + a linear layer to the 500-d lip
feature (``lip_dim``). Filters scale with ``base_channels / 64``. Input: the centred 200 ms
window of one video frame, mel (B, 1, 80, 20) in [0, 1] (docs/DATA_FORMAT.md).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from pdfgc.config import ModelConfig
from pdfgc.models.appearance import projection_shortcut

_logger = logging.getLogger(__name__)

STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_FILTERS = (32, 64, 128, 256)
"""Filters at base_channels = 64 (the paper preset)."""
STAGE_STRIDES = (1, 2, 2, 2)
SE_REDUCTION = 8
REFERENCE_BASE = 64


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(1, channels // SE_REDUCTION)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SEBasicBlock(nn.Module):
    """Two 3x3 convs with a squeeze-excitation gate before the residual sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            SqueezeExcite(out_channels),
        )
        self.shortcut = projection_shortcut(in_channels, out_channels, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class SelfAttentivePooling(nn.Module):
    """Weighted mean over time: w_t = softmax_t(v . tanh(W h_t + b))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Linear(channels, channels)
        self.context = nn.Linear(channels, 1, bias=False)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        frames = sequence.transpose(1, 2)  # (B, T, C)
        weights = torch.softmax(self.context(torch.tanh(self.project(frames))), dim=1)  # (B, T, 1)
        return (frames * weights).sum(dim=1)  # (B, C)


class AudioEncoder(nn.Module):
    """E_aud: mel window (B, 1, n_mels, 20) -> lip feature (B, lip_dim).

    ``embed`` gives the pooled audio feature (B, audio_dim) before the lip layer.

    Args:
        cfg: the model section (``base_channels``, ``audio_dim``, ``lip_dim``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        filters = [max(1, f * cfg.base_channels // REFERENCE_BASE) for f in STAGE_FILTERS]
        self.stem = nn.Sequential(
            nn.Conv2d(1, filters[0], 3, padding=1, bias=False), nn.BatchNorm2d(filters[0]), nn.ReLU(inplace=True)
        )
        stages, in_channels = [], filters[0]
        for blocks, out_channels, stride in zip(STAGE_BLOCKS, filters, STAGE_STRIDES):
            stages += [SEBasicBlock(in_channels if b == 0 else out_channels, out_channels, stride if b == 0 else 1)
                       for b in range(blocks)]
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.pool = SelfAttentivePooling(in_channels)
        self.to_audio = nn.Linear(in_channels, cfg.audio_dim)
        self.to_lip = nn.Sequential(nn.ReLU(), nn.Linear(cfg.audio_dim, cfg.lip_dim))

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(mel))  # (B, C, n_mels/8, T/8)
        return self.to_audio(self.pool(h.mean(dim=2)))  # (B, audio_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.to_lip(self.embed(mel))  # (B, lip_dim)
