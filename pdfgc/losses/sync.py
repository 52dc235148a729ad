"""The contrastive loss of the sync expert (``pdfgc.models.sync``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sync_logits(video: torch.Tensor, audio: torch.Tensor, shifted: torch.Tensor, temperature: float) -> torch.Tensor:
    """Row i: cosine similarities of video window i with every in-sync audio window of the batch
    (column i is its own, the others come from other clips), then with its own clip's
    off-sync windows, all divided by ``temperature``: (B, B + K).

    Args:
        video: (B, D) video embeddings.
        audio: (B, D) in-sync audio embeddings, row i belonging with video row i.
        shifted: (B, K, D) audio embeddings of windows of clip i shifted off sync (K may be 0).
    """
    video, audio, shifted = (F.normalize(x.float(), dim=-1) for x in (video, audio, shifted))
    in_batch = video @ audio.T  # (B, B)
    hard = torch.einsum("bd,bkd->bk", video, shifted)  # (B, K)
    return torch.cat([in_batch, hard], dim=1) / temperature


def sync_contrastive_loss(video: torch.Tensor, audio: torch.Tensor, shifted: torch.Tensor,
                          temperature: float) -> torch.Tensor:
    """InfoNCE over ``sync_logits``: -log softmax of the in-sync pair, averaged over the batch.

    L_i = -log( exp(s_ii) / (sum_j exp(s_ij) + sum_k exp(h_ik)) ), s = cos(v_i, a_j) / t and
    h = cos(v_i, shifted_ik) / t: the in-sync audio must beat both other clips' audio (is the
    mouth this speech at all?) and the same clip's audio at other times (is it this moment?)."""
    logits = sync_logits(video, audio, shifted, temperature)
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def sync_accuracy(video: torch.Tensor, audio: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    """Share of rows whose in-sync audio has the highest similarity (a training metric)."""
    logits = sync_logits(video, audio, shifted, 1.0)
    return (logits.argmax(dim=1) == torch.arange(len(logits), device=logits.device)).float().mean()
