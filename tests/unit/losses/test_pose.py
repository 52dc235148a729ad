"""L_pose: per-frame L1 norm, averaged over the frames whose label is finite and kept by the mask."""

from __future__ import annotations

import math

import torch

from pdfgc.losses.pose import pose_l1_loss

NAN = float("nan")


def test_pose_l1_by_hand() -> None:
    pred = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 3.0]])
    # row 0: 1 + 2 + 3 = 6; row 1: 1 + 1 + 2 = 4; mean = 5
    assert math.isclose(pose_l1_loss(pred, target).item(), 5.0)


def test_nan_rows_are_excluded_and_pass_no_gradient() -> None:
    pred = torch.tensor([[1.0, 0, 0, 0, 0, 0], [5.0, 5, 5, 5, 5, 5]], requires_grad=True)
    target = torch.tensor([[0.0, 0, 0, 0, 0, 0], [NAN, 0, 0, 0, 0, 0]])
    loss = pose_l1_loss(pred, target)
    loss.backward()
    assert math.isclose(loss.item(), 1.0)
    assert torch.isfinite(pred.grad).all()
    assert torch.equal(pred.grad[1], torch.zeros(6))
    assert pred.grad[0, 0] == 1.0


def test_mask_excludes_rows() -> None:
    pred = torch.tensor([[2.0, 0, 0, 0, 0, 0], [4.0, 0, 0, 0, 0, 0]])
    target = torch.zeros(2, 6)
    assert math.isclose(pose_l1_loss(pred, target, torch.tensor([False, True])).item(), 4.0)


def test_no_valid_row_gives_zero_not_nan() -> None:
    pred = torch.ones(2, 6, requires_grad=True)
    loss = pose_l1_loss(pred, torch.full((2, 6), NAN))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(pred.grad, torch.zeros(2, 6))
