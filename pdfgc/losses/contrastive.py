"""Contrastive losses of stage 2 (PD-FGC paper, stage 2): L_a2v / L_v2a (lip) and L_eye.

S is cosine similarity, divided by ``temperature`` (1.0 = the paper's plain cosine). Features
from other ranks are gathered by the caller; these functions see one (global) batch.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

_logger = logging.getLogger(__name__)


def cosine_matrix(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """S[i, j] = cos(rows_i, cols_j): (B, D) x (B', D) -> (B, B')."""
    return F.normalize(rows.float(), dim=1) @ F.normalize(cols.float(), dim=1).T


def lip_contrastive_loss(audio_feat: torch.Tensor, video_feat: torch.Tensor,
                         temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's L_a2v and L_v2a, averaged over the batch.

    L_a2v_i = -log( exp(S(a_i, v_i)) / (exp(S(a_i, v_i)) + sum_{k != i} exp(S(a_i, v_k))) ): a
    softmax over row i of S(a, v) with the positive on the diagonal; L_v2a is the same over S(v, a).

    Args:
        audio_feat: f_a = E_aud(a_i), (B, D).
        video_feat: f_v = E_lip(E_mot(v_i)), (B, D); row i belongs with audio row i.
        temperature: S is divided by it.

    Returns:
        (l_a2v, l_v2a), two scalars.
    """
    similarity = cosine_matrix(audio_feat, video_feat) / temperature  # (B, B): audio rows, video cols
    targets = torch.arange(len(similarity), device=similarity.device)
    return F.cross_entropy(similarity, targets), F.cross_entropy(similarity.T, targets)


def eye_contrastive_loss(f1: torch.Tensor, f2: torch.Tensor, fa: torch.Tensor,
                         temperature: float = 1.0) -> torch.Tensor:
    """The paper's L_eye, averaged over the batch.

    L_eye = -log( exp(S(f_1, f_a)) / (exp(S(f_1, f_a)) + exp(S(f_2, f_a))) ): the anchor v_a
    (eyes of v1 pasted on v2) must be closer to v1 than to v2 in eye-feature space.

    Args:
        f1, f2, fa: E_eye(E_mot(.)) of v1, v2 and the anchor, each (B, D).
    """
    positive = F.cosine_similarity(f1.float(), fa.float(), dim=1) / temperature  # (B,)
    negative = F.cosine_similarity(f2.float(), fa.float(), dim=1) / temperature  # (B,)
    return F.softplus(negative - positive).mean()
