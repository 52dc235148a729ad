"""Sections for judging a model: the train / val / test split of the data, and the sync expert."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pdfgc.config.base import Section


class EvaluationConfig(Section):
    """``pdfgc evaluate`` as the training flow runs it after its last stage (the CLI's flags win)."""

    after_training: bool = True
    """Evaluate the registered model when ``pdfgc train`` (or retraining) finishes its last stage."""
    split: Literal["test", "val", "train", "all"] = "test"
    """The manifest split whose clips are evaluated."""
    max_clips: int | None = Field(16, ge=1)
    """At most this many clips (spread over speakers); None = every clip of the split."""
    sync_model: str | None = None
    """A trained sync expert (export path or MLflow URI) for the LSE-D / LSE-C rows; None skips them."""


class SplitConfig(Section):
    """Train / val / test assignment by speaker id (``pdfgc.preprocess.splits``); written into
    ``manifest.parquet`` at preprocessing, so changing it never reprocesses a video."""

    seed: int = 0
    """Seeds the hash of a speaker id; another seed is another (equally stable) partition."""
    val_fraction: float = Field(0.1, ge=0.0, le=1.0)
    """Expected share of speakers held out for validation curves."""
    test_fraction: float = Field(0.1, ge=0.0, le=1.0)
    """Expected share of speakers held out for ``pdfgc evaluate``. A speaker's split depends only
    on its id and the seed, so the test speakers stay test speakers as data are added."""
    min_speakers: int = Field(3, ge=1)
    """Below this many distinct speakers the split falls back to ``clip-hash`` (by clip id),
    with a warning in the report and in each training run."""

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> "SplitConfig":
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be below 1 (nothing would be left to train on)")
        return self


class SyncConfig(Section):
    """The audio-visual sync expert (``pdfgc.models.sync``; stage ``sync`` of ``pdfgc train``,
    hyper-parameters in ``train.sync``): SyncNet-style embeddings of 5-frame mouth crops and of
    the 0.2 s log-mel window around them, scored by ``pdfgc.eval.metrics.lse``."""

    in_all: bool = False
    """Whether ``pdfgc train --stage all`` also trains the expert (after stage 3). Off by
    default: it is a measuring instrument, trained once per data set, not per model."""
    frames: int = Field(5, ge=1)
    """Video frames per window (5 at 25 fps = 0.2 s, the mel window of ``audio.window_frames``)."""
    mouth_box: tuple[float, float, float, float] = (0.5, 1.0, 0.0, 1.0)
    """Mouth region of the aligned face crop as fractions (top, bottom, left, right): the lower half."""
    crop_height: int = Field(48, ge=8)
    """Height of the resized mouth crop (pixels)."""
    crop_width: int = Field(96, ge=8)
    """Width of the resized mouth crop (pixels)."""
    grayscale: bool = False
    """One grey channel per frame instead of RGB."""
    base_channels: int = Field(32, ge=1)
    """Width of the first conv layer of both encoders; doubles per stride-2 layer."""
    embed_dim: int = Field(512, ge=2)
    """Width of both encoders' unit-length embeddings."""
    temperature: float = Field(0.07, gt=0.0)
    """Softmax temperature of the contrastive loss over cosine similarities."""
    shifted_negatives: int = Field(4, ge=0)
    """Off-sync audio windows of the same clip per sample (hard negatives beside the other clips)."""
    min_shift: int = Field(3, ge=1)
    """Smallest offset (video frames) of an off-sync window: nearer windows overlap the true one."""
    max_offset: int = Field(15, ge=1)
    """Offsets searched by the LSE scores, in video frames each way (SyncNet: 15)."""
    registered_suffix: str = "-sync"
    """The expert is registered as ``tracking.registered_model`` + this suffix."""

    @model_validator(mode="after")
    def _valid_box(self) -> "SyncConfig":
        top, bottom, left, right = self.mouth_box
        if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
            raise ValueError("mouth_box must be (top, bottom, left, right) fractions with top < bottom, left < right")
        return self
