"""Window averaging, the FIFO memory bank and L_decor (mean of squared Pearson correlations)."""

from __future__ import annotations

import math

import pytest
import torch

from pdfgc.losses.decorrelation import FeatureMemoryBank, cross_correlation, decorrelation_loss, window_average


def test_window_average_by_hand() -> None:
    feats = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]])  # (1, K=3, D=2)
    assert torch.equal(window_average(feats), torch.tensor([[3.0, 5.0]]))


def test_cross_correlation_by_hand() -> None:
    a = torch.tensor([[1.0], [2.0], [3.0]])
    b = torch.tensor([[2.0, 3.0], [4.0, 2.0], [6.0, 1.0]])  # column 0 = 2a, column 1 = 4 - a
    assert torch.allclose(cross_correlation(a, b), torch.tensor([[1.0, -1.0]]), atol=1e-5)
    # L_decor = mean of (1^2, (-1)^2) = 1
    assert math.isclose(decorrelation_loss(a, b).item(), 1.0, rel_tol=1e-4)


def test_decorrelation_near_zero_for_independent_features() -> None:
    generator = torch.Generator().manual_seed(0)
    exp = torch.randn(4096, 8, generator=generator)
    audio = torch.randn(4096, 6, generator=generator)
    # E[cor^2] = 1/N for independent columns
    assert decorrelation_loss(exp, audio).item() < 5.0 / 4096


def test_decorrelation_large_for_correlated_features() -> None:
    generator = torch.Generator().manual_seed(1)
    audio = torch.randn(512, 4, generator=generator)
    exp = audio.repeat(1, 2) + 0.01 * torch.randn(512, 8, generator=generator)
    # each exp column matches 1 of the 4 audio columns (cor ~1), independent of the other 3: mean ~1/4
    assert decorrelation_loss(exp, audio).item() == pytest.approx(0.25, abs=0.02)


def test_memory_bank_keeps_latest_in_order() -> None:
    bank = FeatureMemoryBank(size=4, dim=1)
    bank.push(torch.tensor([[1.0], [2.0], [3.0]]))
    assert torch.equal(bank.features(), torch.tensor([[1.0], [2.0], [3.0]]))
    bank.push(torch.tensor([[4.0], [5.0]]))
    assert torch.equal(bank.features(), torch.tensor([[2.0], [3.0], [4.0], [5.0]]))
    bank.push(torch.tensor([[6.0], [7.0], [8.0], [9.0], [10.0]]))
    assert torch.equal(bank.features(), torch.tensor([[7.0], [8.0], [9.0], [10.0]]))
    assert len(bank) == 4


def test_memory_bank_state_dict_round_trip() -> None:
    bank = FeatureMemoryBank(size=3, dim=2)
    bank.push(torch.arange(8.0).view(4, 2))
    restored = FeatureMemoryBank(size=3, dim=2)
    restored.load_state_dict(bank.state_dict())
    assert torch.equal(restored.features(), bank.features())
    restored.push(torch.tensor([[9.0, 9.0]]))
    assert torch.equal(restored.features()[-1], torch.tensor([9.0, 9.0]))
    assert torch.equal(restored.features()[0], torch.tensor([4.0, 5.0]))


def test_gradient_flows_only_through_current_batch() -> None:
    generator = torch.Generator().manual_seed(2)
    old_exp = torch.randn(8, 3, generator=generator, requires_grad=True)
    exp_bank, audio_bank = FeatureMemoryBank(16, 3), FeatureMemoryBank(16, 2)
    exp_bank.push(old_exp)
    audio_bank.push(torch.randn(8, 2, generator=generator))
    exp = torch.randn(4, 3, generator=generator, requires_grad=True)
    loss = decorrelation_loss(exp, torch.randn(4, 2, generator=generator), exp_bank, audio_bank)
    loss.backward()
    assert old_exp.grad is None
    assert not exp_bank.bank.requires_grad
    assert exp.grad.abs().sum() > 0


def test_banks_out_of_step_raise() -> None:
    exp_bank, audio_bank = FeatureMemoryBank(4, 2), FeatureMemoryBank(4, 2)
    exp_bank.push(torch.ones(1, 2))
    with pytest.raises(ValueError, match="out of step"):
        decorrelation_loss(torch.randn(3, 2), torch.randn(3, 2), exp_bank, audio_bank)
