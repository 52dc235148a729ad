"""Config sections of the ML-ops commands: ``curate`` (curated views) and ``retrain``
(champion/challenger)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pdfgc.config.base import Section


class CurateConfig(Section):
    """Filters and near-duplicate removal of ``pdfgc curate`` (a view; shards are never rewritten).

    A filter set to None is off. Each bound compares one per-sample measure (a ``quality_*``
    manifest column, or one computed from the shard members) and names the measure in the
    dropped sample's reason, e.g. ``face_px<64``."""

    min_face_px: float | None = Field(None, ge=0)
    """Smallest mean face height in decoded-frame pixels (``quality_face_px``)."""
    min_sharpness: float | None = Field(None, ge=0)
    """Smallest mean variance of the Laplacian of the grey face crop (``quality_sharpness``)."""
    max_pose_range_deg: float | None = Field(None, ge=0)
    """Largest head-pose range within a sample: max - min of pitch, yaw or roll, in degrees."""
    max_abs_yaw_deg: float | None = Field(None, ge=0, le=180)
    """Largest absolute mean yaw (profile faces are dropped above it)."""
    min_duration_s: float | None = Field(None, ge=0)
    """Shortest sample (chunk) length in seconds."""
    min_audio_dbfs: float | None = Field(None, le=0)
    """Quietest audio level (RMS, dB full scale) of a sample."""
    min_lip_sync: float | None = Field(None, ge=-1, le=1)
    """Smallest lip-sync proxy: the best Pearson correlation, over lags of up to
    ``lip_sync_max_lag`` frames, between mouth opening (inner-lip landmarks) and audio energy."""
    lip_sync_max_lag: int = Field(2, ge=0, le=10)
    """Video frames of audio/video offset searched by the lip-sync proxy."""
    max_landmark_jitter: float | None = Field(None, ge=0)
    """Largest landmark jitter: median over frames of the mean second difference of the 68
    landmarks, in units of the inter-ocular distance (tracking noise, not smooth motion)."""
    max_clips_per_speaker: int | None = Field(None, ge=1)
    """Keep at most this many clips per speaker (the best by sharpness), for balance."""
    dedupe: bool = True
    """Drop near-duplicate clips (frame pHash and audio fingerprint both close), keeping one."""
    phash_frames: int = Field(8, ge=1, le=64)
    """Frames sampled evenly from each clip for its perceptual hashes."""
    max_phash_distance: float = Field(10.0, ge=0, le=64)
    """Mean Hamming distance (of 64 bits) between matched frame hashes for a duplicate."""
    max_audio_distance: float = Field(0.2, ge=0, le=1)
    """Largest fraction of differing audio-fingerprint bits for a duplicate."""
    report_frames: int = Field(4, ge=0, le=16)
    """Frames of each dropped clip shown in the HTML report."""


class MetricRule(Section):
    """One metric of ``pdfgc evaluate`` (the ``model`` row of metrics.json) and its direction."""

    metric: str
    """Metric name as in metrics.json ``rows[].metric``."""
    higher_is_better: bool = True
    """Whether a larger value of the metric is better (PSNR) or a smaller one (M-LMD, pose error)."""
    margin: float = Field(0.0, ge=0)
    """Primary metric: the challenger must beat the champion by more than this (absolute)."""
    tolerance: float = Field(0.0, ge=0)
    """Guard metric: the challenger may be worse than the champion by at most this (absolute)."""


class RetrainConfig(Section):
    """``pdfgc retrain``: when to train a challenger, how, and when it replaces the champion."""

    min_new_samples: int = Field(1, ge=0)
    """Train a challenger only when preprocessing added at least this many samples."""
    stages: list[Literal["critic", "1", "2", "3"]] = Field(default_factory=lambda: ["3"])
    """Stages the challenger fine-tunes from the champion's export (all stages on a first run)."""
    steps: int | None = Field(None, ge=1)
    """Steps per fine-tuning stage; None keeps each stage's ``steps``."""
    alias: str = "champion"
    """Registered-model alias of the model in service."""
    primary: MetricRule = Field(default_factory=lambda: MetricRule(metric="self/psnr", higher_is_better=True, margin=0.05))
    """The metric a challenger must win on, by more than its ``margin`` (default: 0.05 dB of PSNR)."""
    guards: list[MetricRule] = Field(default_factory=lambda: [
        MetricRule(metric="self/face_found", higher_is_better=True, tolerance=0.05),
        MetricRule(metric="self/perceptual", higher_is_better=False, tolerance=0.02),
    ])
    """Metrics a challenger may not lose on by more than their ``tolerance``. Default: the share
    of frames with a face (a PSNR gain can come from blurrier frames that lose the face) and
    ST-LPIPS."""
    lock_dir: str | None = None
    """Folder of the retrain lock files (one per registry); None: ``~/.cache/pdfgc/locks``."""
    notify_webhook: str | None = None
    """URL that a failed scheduled run POSTs a JSON message to (flow on-failure hook)."""
