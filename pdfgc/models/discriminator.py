"""The multi-scale patch discriminator (pix2pixHD family, as configured in the PD-FGC release).

Release facts (docs/MODEL.md): 2 scales, 4 layers, spectral norm + instance norm. Each scale is a
PatchGAN on the image average-pooled by 2 per scale. A scale returns the list of its block
outputs; the last entry is the patch logits (one channel), the others feed feature matching.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pdfgc.config import ModelConfig

_logger = logging.getLogger(__name__)

KERNEL = 4
PADDING = 2
MAX_CHANNELS = 512
LEAKY_SLOPE = 0.2


def _block(in_channels: int, out_channels: int, stride: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, out_channels, KERNEL, stride, PADDING))]
    if norm:
        layers.append(nn.InstanceNorm2d(out_channels))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


class PatchDiscriminator(nn.Module):
    """``n_layers`` stride-2 blocks, one stride-1 block, then a 1-channel logit conv."""

    def __init__(self, base_channels: int, n_layers: int) -> None:
        super().__init__()
        widths = [min(base_channels * 2**i, MAX_CHANNELS) for i in range(n_layers + 1)]
        blocks = [_block(3, widths[0], stride=2, norm=False)]
        blocks += [_block(widths[i - 1], widths[i], stride=2, norm=True) for i in range(1, n_layers)]
        blocks.append(_block(widths[n_layers - 1], widths[n_layers], stride=1, norm=True))
        blocks.append(nn.Sequential(nn.Conv2d(widths[n_layers], 1, KERNEL, 1, PADDING)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features, h = [], image
        for block in self.blocks:
            h = block(h)
            features.append(h)
        return features


class MultiScaleDiscriminator(nn.Module):
    """image (B,3,S,S) -> [scale][layer] feature maps; ``out[s][-1]`` are the patch logits of scale s.

    Args:
        cfg: the model section (``base_channels``, ``disc_scales``, ``disc_layers``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            [PatchDiscriminator(cfg.base_channels, cfg.disc_layers) for _ in range(cfg.disc_scales)]
        )

    def forward(self, image: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                image = F.avg_pool2d(image, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(image))
        return outputs
