"""L_a2v / L_v2a and L_eye against the formulas of the PD-FGC paper, evaluated by hand."""

from __future__ import annotations

import math

import torch

from pdfgc.losses.contrastive import cosine_matrix, eye_contrastive_loss, lip_contrastive_loss

# Two audio and two video features with known cosines:
# a0 = (1, 0), a1 = (0, 1); v0 = (1, 0) (cos 1 with a0, 0 with a1), v1 = (1, 1) (cos 1/sqrt2 with both).
AUDIO = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
VIDEO = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
R = 1 / math.sqrt(2)


def _nll(positive: float, others: list[float]) -> float:
    return -math.log(math.exp(positive) / (math.exp(positive) + sum(math.exp(o) for o in others)))


def test_cosine_matrix_entries() -> None:
    expected = torch.tensor([[1.0, R], [0.0, R]])
    assert torch.allclose(cosine_matrix(AUDIO, VIDEO), expected, atol=1e-6)


def test_lip_contrastive_equals_formula() -> None:
    l_a2v, l_v2a = lip_contrastive_loss(AUDIO, VIDEO)
    # S(a_i, v_j): row 0 = (1, R), row 1 = (0, R)
    expected_a2v = (_nll(1.0, [R]) + _nll(R, [0.0])) / 2
    # S(v_i, a_j): row 0 = (1, 0), row 1 = (R, R)
    expected_v2a = (_nll(1.0, [0.0]) + _nll(R, [R])) / 2
    assert math.isclose(l_a2v.item(), expected_a2v, rel_tol=1e-5)
    assert math.isclose(l_v2a.item(), expected_v2a, rel_tol=1e-5)


def test_temperature_divides_similarity() -> None:
    l_a2v, _ = lip_contrastive_loss(AUDIO, VIDEO, temperature=0.5)
    expected = (_nll(2.0, [2 * R]) + _nll(2 * R, [0.0])) / 2
    assert math.isclose(l_a2v.item(), expected, rel_tol=1e-5)


def test_aligned_pairs_score_lower_than_shuffled() -> None:
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn(16, 32, generator=generator)
    video = audio + 0.1 * torch.randn(16, 32, generator=generator)
    aligned = lip_contrastive_loss(audio, video)
    shuffled = lip_contrastive_loss(audio, video.roll(1, dims=0))
    for aligned_loss, shuffled_loss in zip(aligned, shuffled):
        assert aligned_loss < shuffled_loss
        # chance level is log(16); with |S| <= 1 the floor is log(1 + 15 / e) ~ 1.87
        assert aligned_loss < math.log(16)
        assert aligned_loss >= math.log(1 + 15 / math.e) - 1e-5


def test_lip_contrastive_gradients_reach_both_sides() -> None:
    audio = AUDIO.clone().requires_grad_(True)
    video = VIDEO.clone().requires_grad_(True)
    sum(lip_contrastive_loss(audio, video)).backward()
    assert audio.grad.abs().sum() > 0 and video.grad.abs().sum() > 0


def test_eye_contrastive_equals_formula() -> None:
    f1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    f2 = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    fa = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    # sample 0: S(f1, fa) = 1, S(f2, fa) = 0; sample 1: S(f1, fa) = 0, S(f2, fa) = R
    expected = (_nll(1.0, [0.0]) + _nll(0.0, [R])) / 2
    assert math.isclose(eye_contrastive_loss(f1, f2, fa).item(), expected, rel_tol=1e-5)


def test_eye_contrastive_prefers_anchor_near_v1() -> None:
    f1 = torch.tensor([[1.0, 0.0]])
    f2 = torch.tensor([[0.0, 1.0]])
    assert eye_contrastive_loss(f1, f2, f1) < eye_contrastive_loss(f1, f2, f2)
