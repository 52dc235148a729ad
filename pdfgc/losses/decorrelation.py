"""Stage 3's expression decorrelation (PD-FGC paper, stage 3): window averaging and L_decor.

Normaliser: L_decor is the *mean* of the squared entries of the D_e x D_a Pearson
cross-correlation matrix, i.e. sum / (D_e * D_a). A sum / D normaliser (with D_e = D_a = D)
would differ by the factor 1/D and grow with the width; this one lies in [0, 1].

Memory banks: the batch is too small to estimate correlations, so two ``FeatureMemoryBank``s keep
the M most recent expression and audio features. Order in a training step:
1. ``loss = decorrelation_loss(exp, audio, exp_bank, audio_bank)`` (the banks hold earlier steps);
2. ``exp_bank.push(exp); audio_bank.push(audio)`` (push both, together, after the loss).
Gradients flow only through the current batch: the banks store detached copies.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

_logger = logging.getLogger(__name__)

STD_EPS = 1e-6


def window_average(exp_feats: torch.Tensor) -> torch.Tensor:
    """In-window decorrelation: the mean of E_exp(E_mot(.)) over the K frames, (B, K, D) -> (B, D)."""
    return exp_feats.mean(dim=1)


class FeatureMemoryBank(nn.Module):
    """A FIFO ring buffer of the M most recent detached feature rows (state_dict-able).

    Args:
        size: M, rows kept.
        dim: D, feature width.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"memory bank size must be >= 1, got {size}")
        self.register_buffer("bank", torch.zeros(size, dim))
        self.register_buffer("next_row", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.bank.shape[0]

    def __len__(self) -> int:
        return int(self.filled)

    @torch.no_grad()
    def push(self, features: torch.Tensor) -> None:
        """Append rows (N, D), oldest first; beyond M rows the oldest are overwritten."""
        rows = features.detach().to(self.bank.dtype)[-self.size :]
        positions = (int(self.next_row) + torch.arange(len(rows), device=self.bank.device)) % self.size
        self.bank[positions] = rows.to(self.bank.device)
        self.next_row.fill_((int(self.next_row) + len(rows)) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + len(rows)))

    def features(self) -> torch.Tensor:
        """The stored rows in arrival order, oldest first: (len(self), D)."""
        if len(self) < self.size:
            return self.bank[: len(self)].clone()
        return torch.roll(self.bank, shifts=-int(self.next_row), dims=0)


def cross_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every column of a (N, Da) with every column of b (N, Db): (Da, Db)."""
    a_std = (a - a.mean(0)) / (a.std(0, unbiased=False) + STD_EPS)
    b_std = (b - b.mean(0)) / (b.std(0, unbiased=False) + STD_EPS)
    return a_std.T @ b_std / len(a)


def decorrelation_loss(exp: torch.Tensor, audio: torch.Tensor, exp_bank: FeatureMemoryBank | None = None,
                       audio_bank: FeatureMemoryBank | None = None) -> torch.Tensor:
    """L_decor = mean_{i,j} cor(F_e, F_a)_{ij}^2 over the current batch stacked on the banks.

    Args:
        exp: window-averaged expression features of this batch (B, D_e).
        audio: audio features of the same frames (B, D_a), row-aligned with ``exp``.
        exp_bank, audio_bank: banks filled in lockstep (same length); call before pushing.
    """
    exp_rows, audio_rows = exp.float(), audio.float()
    if exp_bank is not None and audio_bank is not None:
        if len(exp_bank) != len(audio_bank):
            raise ValueError(f"memory banks out of step: {len(exp_bank)} expression vs {len(audio_bank)} audio rows")
        exp_rows = torch.cat([exp_rows, exp_bank.features().to(exp_rows)])
        audio_rows = torch.cat([audio_rows, audio_bank.features().to(audio_rows)])
    return cross_correlation(exp_rows, audio_rows).pow(2).mean()
