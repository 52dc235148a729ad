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

With ``side`` set (evaluation passes the model's ``net_image_size``), both frames are first
reduced to side x side: a 64 px model's frames are compared at 64 px, where their detail lives
(upscaling adds interpolation, not information), at about a twelfth of the VGG16's cost at 224 px.
LPIPS itself was calibrated on 64 x 64 patches (Zhang et al., 2018).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
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
        side: compare frames reduced to side x side (when larger); None keeps their size.
    """

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu",
                 side: int | None = None) -> None:
        self.device = torch.device(device)
        self.net = STLPIPSVGG16Perceptual(weights_path).to(self.device)
        self.side = side

    def _reduced(self, frames: np.ndarray) -> np.ndarray:
        if self.side is None or frames.shape[1] <= self.side:
            return frames
        return np.stack([cv2.resize(frame, (self.side, self.side), interpolation=cv2.INTER_AREA) for frame in frames])

    @staticmethod
    def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, H, W) float in [-1, 1]."""
        tensor = torch.from_numpy(np.array(frames, dtype=np.uint8)).to(device).permute(0, 3, 1, 2).float()
        return tensor / 127.5 - 1.0

    @torch.no_grad()
    def per_frame(self, real: np.ndarray, fake: np.ndarray, every: int = 1) -> np.ndarray:
        """Distance of every ``every``-th frame pair, (ceil(T / every),); frames (T, H, W, 3) or
        (H, W, 3) uint8 RGB. VGG16 at 224 px costs about 0.9 s a pair on one CPU core, so CPU
        evaluations subsample; on a GPU use ``every=1``."""
        real, fake = np.asarray(real), np.asarray(fake)
        if real.ndim == 3:
            real, fake = real[None], fake[None]
        if real.shape != fake.shape:
            raise ValueError(f"real {real.shape} and generated {fake.shape} frames differ in shape")
        real, fake = self._reduced(real[::every]), self._reduced(fake[::every])
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

    def __call__(self, real: np.ndarray, fake: np.ndarray, every: int = 1) -> float:
        """Mean distance over (every ``every``-th) frame pairs."""
        return float(self.per_frame(real, fake, every).mean())
