"""L_pose (PD-FGC paper, stage 2): || P_pred - P_gt ||_1 against the shards' pose labels."""

from __future__ import annotations

import logging

import torch

_logger = logging.getLogger(__name__)


def valid_rows(target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) bool: rows whose target is finite everywhere and that ``mask`` keeps."""
    valid = torch.isfinite(target).flatten(1).all(dim=1)
    return valid if mask is None else valid & mask.bool()


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row L1 norm (sum over the last dims) averaged over valid rows; 0 when none is valid.

    NaN targets (no face in that frame, docs/DATA_FORMAT.md) never reach the sum, so they do not
    poison the gradient through ``where``.
    """
    valid = valid_rows(target, mask)
    safe_target = torch.where(valid.view(-1, *[1] * (target.dim() - 1)), target, pred.detach())
    per_row = (pred.float() - safe_target.float()).abs().flatten(1).sum(dim=1)  # (B,)
    return (per_row * valid).sum() / valid.sum().clamp(min=1)


def pose_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L_pose: mean over valid frames of sum_d |pred_d - target_d|.

    Args:
        pred: E_pose output (B, 6): pitch, yaw, roll (degrees), tx, ty, tz as stored in shards.
        target: ``pose`` label (B, 6); rows with any NaN are excluded.
        mask: optional (B,) bool, e.g. ``face_ok``.
    """
    return masked_l1(pred, target, mask)
