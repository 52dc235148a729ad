"""fer's emotion network rebuilt in torch: TF 'same' padding, a real smiling face, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from pdfgc.eval.measure import EMOTION_CLASSES, FaceMeasurer
from pdfgc.eval.nets.emotion import EmotionCritic, _tf_same_pad, load_emotion_net


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [(60, 3, 2, (0, 1)), (15, 3, 2, (1, 1)), (8, 1, 2, (0, 0))])
def test_tensorflow_same_padding(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert _tf_same_pad(size, kernel, stride) == expected


@pytest.fixture(scope="module")
def emotion_net():
    return load_emotion_net()


def test_astronaut_is_happy(measurer: FaceMeasurer) -> None:
    """fer's own pipeline (TFLite) gives happy 0.998 on this photograph."""
    measures = measurer.measure(data.astronaut()[None])
    assert measures.emotion is not None, measures.skipped
    probabilities = measures.emotion[0]
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert EMOTION_CLASSES[int(np.argmax(probabilities))] == "happy"
    assert probabilities[EMOTION_CLASSES.index("happy")] > 0.8


def test_critic_is_differentiable_and_frozen(emotion_net) -> None:
    critic = EmotionCritic(emotion_net)
    critic.train()
    image = (torch.from_numpy(data.astronaut()[:256, 128:384]).permute(2, 0, 1)[None].float() / 127.5 - 1)
    image.requires_grad_(True)
    logits = critic(image)
    assert logits.shape == (1, 7)
    logits[0, EMOTION_CLASSES.index("happy")].backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in critic.parameters())
    assert critic.features(image).shape == (1, 128)


def test_fer_psi_in_l_mot() -> None:
    """train.emotion_critic=fer: psi is the emotion net's pooled feature; L_mot's psi term is 0
    for the same image, positive for a different expression, and its gradient reaches the image."""
    from pdfgc.config import load_config
    from pdfgc.losses.motion import motion_reconstruction_loss
    from pdfgc.models.critics import fer_emotion_psi

    assert load_config("tiny", ["train.emotion_critic=fer"]).train.emotion_critic == "fer"
    psi = fer_emotion_psi()
    phi = lambda image: torch.zeros(image.shape[0], 1)  # noqa: E731
    face = torch.from_numpy(data.astronaut()[:256, 128:384].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    other = torch.flip(face, dims=[2]).requires_grad_(True)  # upside down: another "expression"
    assert psi(face).shape == (1, 128)
    assert motion_reconstruction_loss(phi, psi, face, face).item() == pytest.approx(0.0, abs=1e-6)
    loss = motion_reconstruction_loss(phi, psi, other, face)
    loss.backward()
    assert loss.item() > 0 and other.grad.abs().sum() > 0
