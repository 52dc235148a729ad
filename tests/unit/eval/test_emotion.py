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
