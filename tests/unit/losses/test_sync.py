"""The sync expert's contrastive loss against hand-computed values."""

from __future__ import annotations

import math

import torch

from pdfgc.losses.sync import sync_accuracy, sync_contrastive_loss, sync_logits


def test_loss_matches_a_hand_computed_value() -> None:
    video = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # normalised: e1, e2
    audio = torch.tensor([[3.0, 0.0], [1.0, 1.0]])  # e1, (e1 + e2) / sqrt 2
    shifted = torch.tensor([[[0.0, 1.0]], [[0.0, -1.0]]])  # (B=2, K=1, D=2)
    t = 0.5
    c = 1 / math.sqrt(2)
    # row 0: cos with audio = [1, c], with its shifted = [0]; positive is column 0
    row0 = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(c / t) + math.exp(0.0)))
    # row 1: cos with audio = [0, c], shifted = [-1]; positive is column 1
    row1 = -math.log(math.exp(c / t) / (math.exp(0.0) + math.exp(c / t) + math.exp(-1 / t)))
    loss = sync_contrastive_loss(video, audio, shifted, t)
    assert math.isclose(float(loss), (row0 + row1) / 2, rel_tol=1e-6)
    logits = sync_logits(video, audio, shifted, t)
    assert logits.shape == (2, 3)
    assert float(sync_accuracy(video, audio, shifted)) == 1.0


def test_a_shifted_window_closer_than_the_true_one_is_an_error() -> None:
    video = torch.tensor([[1.0, 0.0]])
    audio = torch.tensor([[0.0, 1.0]])
    shifted = torch.tensor([[[1.0, 0.1]]])
    assert float(sync_accuracy(video, audio, shifted)) == 0.0
    assert float(sync_contrastive_loss(video, audio, shifted, 0.1)) > 5.0


def test_no_shifted_negatives_is_plain_in_batch_infonce() -> None:
    video, audio = torch.randn(4, 8), torch.randn(4, 8)
    loss = sync_contrastive_loss(video, audio, torch.zeros(4, 0, 8), 1.0)
    cos = torch.nn.functional.normalize(video, dim=1) @ torch.nn.functional.normalize(audio, dim=1).T
    expected = torch.nn.functional.cross_entropy(cos, torch.arange(4))
    torch.testing.assert_close(loss, expected)
