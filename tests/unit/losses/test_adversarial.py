"""Hinge losses and feature matching over multi-scale outputs, by hand."""

from __future__ import annotations

import math

import torch

from pdfgc.losses.adversarial import discriminator_hinge_loss, feature_matching_loss, generator_hinge_loss


def _scale(feature: list[float], logits: list[float]) -> list[torch.Tensor]:
    return [torch.tensor(feature).view(1, 1, 1, -1), torch.tensor(logits).view(1, 1, 1, -1)]


def test_discriminator_hinge_by_hand() -> None:
    real = [_scale([0.0], [2.0, 0.0]), _scale([0.0], [0.5])]
    fake = [_scale([0.0], [-3.0, 1.0]), _scale([0.0], [0.0])]
    # scale 0: real relu(1-2)=0, relu(1-0)=1 -> 0.5; fake relu(1-3)=0, relu(1+1)=2 -> 1.0; sum 1.5
    # scale 1: real relu(0.5)=0.5; fake relu(1)=1; sum 1.5; mean over scales 1.5
    assert math.isclose(discriminator_hinge_loss(real, fake).item(), 1.5)


def test_generator_hinge_by_hand() -> None:
    fake = [_scale([0.0], [1.0, 3.0]), _scale([0.0], [-1.0])]
    # scale 0: -2; scale 1: +1; mean -0.5
    assert math.isclose(generator_hinge_loss(fake).item(), -0.5)


def test_feature_matching_by_hand_and_real_detached() -> None:
    real_feature = torch.tensor([1.0, 2.0], requires_grad=True)
    real = [[real_feature.view(1, 1, 1, 2), torch.tensor([3.0, 0.0]).view(1, 1, 1, 2), torch.zeros(1, 1, 1, 1)]]
    fake_feature = torch.tensor([0.0, 0.0], requires_grad=True)
    fake = [[fake_feature.view(1, 1, 1, 2), torch.tensor([3.0, 4.0]).view(1, 1, 1, 2), torch.ones(1, 1, 1, 1) * 9]]
    # layer 0: (1 + 2) / 2 = 1.5; layer 1: (0 + 4) / 2 = 2; logits ignored; sum 3.5
    loss = feature_matching_loss(real, fake)
    assert math.isclose(loss.item(), 3.5)
    loss.backward()
    assert real_feature.grad is None
    assert torch.equal(fake_feature.grad, torch.tensor([-0.5, -0.5]))
