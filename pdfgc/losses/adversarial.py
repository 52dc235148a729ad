"""Adversarial and feature-matching losses over the multi-scale discriminator's outputs.

Hinge loss (chosen over LSGAN: it is the StyleGAN2 / SPADE family's usual pairing with spectral
norm, and its discriminator loss saturates once a patch is confidently right). Each scale's
loss is averaged over its patches, then the scales are averaged, so the weight in
``LossWeights`` does not depend on ``disc_scales``.

``disc_out`` below is ``MultiScaleDiscriminator(image)``: a list over scales of lists of
feature maps whose last entry is the patch logits.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

_logger = logging.getLogger(__name__)

DiscOutput = list[list[torch.Tensor]]


def _mean_over_scales(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(values).mean()


def discriminator_hinge_loss(real_out: DiscOutput, fake_out: DiscOutput) -> torch.Tensor:
    """mean_s [ mean relu(1 - D_s(real)) + mean relu(1 + D_s(fake)) ]."""
    return _mean_over_scales([
        F.relu(1.0 - real[-1].float()).mean() + F.relu(1.0 + fake[-1].float()).mean()
        for real, fake in zip(real_out, fake_out)
    ])


def generator_hinge_loss(fake_out: DiscOutput) -> torch.Tensor:
    """mean_s [ -mean D_s(fake) ]."""
    return _mean_over_scales([-scale[-1].float().mean() for scale in fake_out])


def feature_matching_loss(real_feats: DiscOutput, fake_feats: DiscOutput) -> torch.Tensor:
    """mean over scales of the sum over intermediate layers of mean |D_l(fake) - D_l(real)|.

    The logits (each scale's last map) are left out; the real side is detached. Summing over
    layers follows pix2pixHD, whose per-layer factor 4 / (n_layers + 1) is 1 at its default depth.
    """
    per_scale = []
    for real, fake in zip(real_feats, fake_feats):
        layers = [F.l1_loss(f.float(), r.detach().float()) for r, f in zip(real[:-1], fake[:-1])]
        per_scale.append(torch.stack(layers).sum())
    return _mean_over_scales(per_scale)
