"""L_mot (PD-FGC paper, stage 1) and L_con (stage 3) with caller-given critics.

``phi`` (3D-reconstruction features) and ``psi`` (emotion features) are frozen, differentiable
callables, e.g. ``pdfgc.models.critics.Critics``. They may return a tensor (B, ...) or a tuple /
list / dict of such tensors, which are flattened and concatenated per sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from pdfgc.losses.pose import masked_l1

_logger = logging.getLogger(__name__)

FeatureFn = Callable[[torch.Tensor], Any]


def flatten_features(output: Any) -> torch.Tensor:
    """A critic's output as one (B, F) float tensor."""
    if isinstance(output, torch.Tensor):
        return output.float().flatten(1)
    if isinstance(output, Mapping):
        output = [output[key] for key in sorted(output)]
    if isinstance(output, Sequence):
        return torch.cat([flatten_features(part) for part in output], dim=1)
    raise TypeError(f"critic output must be a tensor, sequence or mapping, got {type(output).__name__}")


def feature_distance(critic: FeatureFn, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over the batch of || critic(fake) - critic(real) ||_2; the real side carries no gradient."""
    with torch.no_grad():
        real_feat = flatten_features(critic(real))
    return torch.linalg.vector_norm(flatten_features(critic(fake)) - real_feat, dim=1).mean()


def motion_reconstruction_loss(phi: FeatureFn, psi: FeatureFn, fake: torch.Tensor,
                               real: torch.Tensor) -> torch.Tensor:
    """L_mot = || phi(I_0) - phi(I_g) ||_2 + || psi(I_0) - psi(I_g) ||_2 (per-sample norms, batch mean).

    Args:
        phi, psi: frozen differentiable critics.
        fake: generated frame I_0 (or I_f), (B, 3, S, S).
        real: the driving frame I_g.
    """
    return feature_distance(phi, fake, real) + feature_distance(psi, fake, real)


def motion_consistency_loss(lip_sim: torch.Tensor, gaze_fake: torch.Tensor, gaze_real: torch.Tensor,
                            l_mot: torch.Tensor) -> torch.Tensor:
    """L_con = exp(-S(V_lip(I_f), E_aud(a_g))) + || Gaze(I_f) - Gaze(I_g) ||_1 + L_mot.

    Args:
        lip_sim: (B,) cosine similarities S between the lip feature of I_f and the real audio's.
        gaze_fake, gaze_real: (B, G) gaze of I_f and of I_g (real side detached; rows with NaN skipped).
        l_mot: ``motion_reconstruction_loss`` on (I_f, I_g).
    """
    return torch.exp(-lip_sim.float()).mean() + masked_l1(gaze_fake, gaze_real.detach()) + l_mot
