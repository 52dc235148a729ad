"""LSE-D / LSE-C-style scores on hand-made embeddings with a known best offset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdfgc.config import load_config
from pdfgc.errors import InputError
from pdfgc.eval.metrics.lse import lse_scores, score_clip
from pdfgc.models.sync import SyncExpert


def _unit(angles: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_known_offset_distance_and_confidence() -> None:
    """Audio window i+2 carries what video window i shows: the best offset is +2 (audio lags)."""
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 40)
    video = _unit(angles[:30])
    audio = _unit(np.concatenate([[0.0, 0.0], angles[:28]]))  # audio[i + 2] = video[i]
    score = lse_scores(video, audio, max_offset=3)
    assert score.offset == 2
    assert score.offsets == [-3, -2, -1, 0, 1, 2, 3]
    assert score.distance == pytest.approx(0.0, abs=1e-9)
    expected = [np.linalg.norm(video[max(0, -o): 30 - max(0, o)] - audio[max(0, o): 30 - max(0, -o)], axis=1).mean()
                for o in score.offsets]
    np.testing.assert_allclose(score.distances, expected)
    assert score.confidence == pytest.approx(float(np.median(expected)) - 0.0)


def test_hand_computed_three_window_case() -> None:
    video = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    audio = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    score = lse_scores(video, audio, max_offset=1)
    # o=-1: pairs (v1,a0), (v2,a1) -> 0, 0; o=0: all sqrt2; o=+1: (v0,a1), (v1,a2) -> 0, 0
    assert score.distances == pytest.approx([0.0, math.sqrt(2), 0.0])
    assert score.offset == -1  # the first minimum
    assert score.distance == 0.0 and score.confidence == pytest.approx(0.0)


def test_offsets_beyond_the_clip_are_left_out() -> None:
    score = lse_scores(np.eye(3), np.eye(3), max_offset=15)
    assert score.offsets == [-2, -1, 0, 1, 2] and score.offset == 0


def test_mismatched_embeddings_are_a_one_line_error() -> None:
    with pytest.raises(InputError, match="same shape"):
        lse_scores(np.zeros((4, 2)), np.zeros((5, 2)))


def test_score_clip_takes_face_crops_of_any_size() -> None:
    cfg = load_config("tiny").sync
    expert = SyncExpert(cfg).eval()
    frames = torch.rand(30, 3, 96, 96) * 2 - 1
    mel = np.random.default_rng(0).random((120, 80)).astype(np.float16)
    score = score_clip(expert, frames, mel)
    assert score.windows == 26 and len(score.offsets) == 31
    assert score.distance <= min(score.distances) + 1e-12 and score.confidence >= 0
    with pytest.raises(InputError, match="shorter than the sync window"):
        score_clip(expert, frames[:3], mel)
