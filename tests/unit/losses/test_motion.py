"""L_mot and L_con with hand-made critics."""

from __future__ import annotations

import math

import torch

from pdfgc.losses.motion import flatten_features, motion_consistency_loss, motion_reconstruction_loss


def _phi(image: torch.Tensor) -> torch.Tensor:
    return image.mean(dim=(2, 3))  # (B, 3): channel means


def _psi(image: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"a": image[:, :1, 0, 0], "b": image[:, 1:2, 0, 0] * 2}


def test_motion_reconstruction_by_hand() -> None:
    real = torch.zeros(1, 3, 2, 2)
    fake = torch.zeros(1, 3, 2, 2)
    fake[0, 0] = 3.0  # channel means (3, 0, 0): phi distance 3
    fake[0, 1, 0, 0] = 2.0  # channel 1 mean 0.5; psi = (3, 4) vs (0, 0): distance 5
    # phi = (3, 0.5, 0) vs 0: sqrt(9 + 0.25) ; psi: 5
    expected = math.sqrt(9.25) + 5.0
    assert math.isclose(motion_reconstruction_loss(_phi, _psi, fake, real).item(), expected, rel_tol=1e-6)


def test_motion_reconstruction_real_side_gets_no_gradient() -> None:
    real = torch.zeros(2, 3, 2, 2, requires_grad=True)
    fake = torch.ones(2, 3, 2, 2, requires_grad=True)
    motion_reconstruction_loss(_phi, _psi, fake, real).backward()
    assert real.grad is None
    assert fake.grad.abs().sum() > 0


def test_flatten_features_concatenates_sequences() -> None:
    out = flatten_features((torch.ones(2, 2, 2), [torch.zeros(2, 1)]))
    assert out.shape == (2, 5)


def test_motion_consistency_by_hand() -> None:
    lip_sim = torch.tensor([0.0, 1.0])
    gaze_fake = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    gaze_real = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    l_mot = torch.tensor(0.25)
    # exp(-S): (1 + e^-1) / 2 ; L1 per row: 3 and 1, mean 2 ; plus 0.25
    expected = (1 + math.exp(-1)) / 2 + 2.0 + 0.25
    assert math.isclose(motion_consistency_loss(lip_sim, gaze_fake, gaze_real, l_mot).item(), expected, rel_tol=1e-6)
