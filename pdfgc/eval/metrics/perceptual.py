"""Learned perceptual distance: ST-LPIPS with the VGG16 shipped in the stlpips-pytorch wheel.

The network is the one the training's perceptual loss can use (``pdfgc.losses.perceptual.
STLPIPSVGG16Perceptual``): the anti-aliased VGG16 trunk and the five linear layers of
``stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth`` (Ghildyal & Liu, "Shift-tolerant
Perceptual Similarity Metric", ECCV 2022; BSD-2-Clause), read with ``weights_only=True``; the
package's own modules are never imported (they need torchvision, IPython and torchsummary).

Distance per frame pair: ``sum_l mean_xy w_l . (n(f_l(a)) - n(f_l(b)))^2`` with n = unit norm
over channels, images in [-1, 1] (version 0.0 of the weights: no input scaling layer). 0 for
identical frames; about 0.02 for a 1 px shift and 0.5 for strong noise (the wheel's figures).
It is ST-LPIPS, not the LPIPS of most papers: values are not comparable with published LPIPS.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from pdfgc.losses.perceptual import STLPIPSVGG16Perceptual

_logger = logging.getLogger(__name__)

BATCH = 8


class PerceptualDistance:
    """ST-LPIPS VGG16 distance between real and generated frames.

    Args:
        weights_path: ``vgg_shift_tolerant.pth``; default: the installed stlpips-pytorch wheel's.
        device: torch device to run on.
    """

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net = STLPIPSVGG16Perceptual(weights_path).to(self.device)

    @staticmethod
    def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, H, W) float in [-1, 1]."""
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
        return tensor / 127.5 - 1.0

    @torch.no_grad()
    def per_frame(self, real: np.ndarray, fake: np.ndarray) -> np.ndarray:
        """Distance (T,) of each frame pair; frames (T, H, W, 3) or (H, W, 3) uint8 RGB."""
        real, fake = np.asarray(real), np.asarray(fake)
        if real.ndim == 3:
            real, fake = real[None], fake[None]
        if real.shape != fake.shape:
            raise ValueError(f"real {real.shape} and generated {fake.shape} frames differ in shape")
        distances = []
        for start in range(0, len(real), BATCH):
            a = self._to_tensor(real[start:start + BATCH], self.device)
            b = self._to_tensor(fake[start:start + BATCH], self.device)
            distances.append(self._distance(a, b))
        return torch.cat(distances).cpu().numpy().astype(np.float64)

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-sample ST-LPIPS (B,): the loss's layer sum with the mean kept per sample."""
        total = torch.zeros(a.shape[0], device=a.device)
        for index, (fa, fb) in enumerate(zip(self.net.features(a), self.net.features(b))):
            squared = (fa.float() - fb.float()).pow(2) * self.net.lin_weights[index]
            total += squared.sum(dim=1).flatten(1).mean(dim=1)
        return total

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> float:
        """Mean distance over frame pairs."""
        return float(self.per_frame(real, fake).mean())
