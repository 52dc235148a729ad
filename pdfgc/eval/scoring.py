"""The real ``Scorer`` of ``pdfgc evaluate``: ``FaceMeasurer`` measures, ``pdfgc.eval.metrics`` scores.

Every method (model, ground truth, source held still) goes through the same ``measure`` and
the same metric functions. A metric that cannot be computed for a clip gives the reason
instead of a number (``results.Value``); the runner turns reasons into ``null`` rows.

Audio loudness comes from the shards' log-mel rows (the shards keep no waveform): the mean of
a frame's 4 x 80 log-mel values, a dB-like level; the sync proxy is a correlation, so any
increasing affine map of the level gives the same value.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

from pdfgc.config import PdfgcConfig
from pdfgc.errors import InputError, PdfgcError
from pdfgc.eval.clips import ClipData
from pdfgc.eval.generate import Drivers
from pdfgc.eval.metrics import crosstalk, expression, eyes, identity, image, lips, pose
from pdfgc.eval.results import Value

_logger = logging.getLogger(__name__)

MEL_ROWS_PER_FRAME = 4
SYNC_MAX_OFFSET = 15
"""Frames each way the sync proxy searches (SyncNet's +-15)."""
PERCEPTUAL_EVERY = 4
"""ST-LPIPS (a VGG16 at the model's resolution) reads every 4th frame: at 224 px on a CPU it
alone would cost several times the synthesis, and its mean over a clip changes little."""
NO_FACE = "no frame with a face on both sides"
NO_FACE_IN_FRAMES = "no face found in these frames"
MOTION_METRICS = ("sync_proxy", "sync_offset_frames", "pose_rotation_deg", "pose_translation_mm", "blink_f1",
                  "gaze_error_deg", "expression_distance", "emotion_agreement")
NO_SYNC_MODEL = "no sync expert given (--sync-model)"
LSE_METRICS = ("lse_d", "lse_c", "lse_offset_frames")
REASONS = {
    "psnr": "frames identical to the real ones (infinite PSNR)",
    "cpbd": "no edge block in any frame (flat images)",
    "identity_similarity": "no face found in these frames",
    "sync_proxy": "mouth opening does not vary (or too few frames with a face)",
    "blink_f1": "no blink on either side",
    "gaze_error_deg": "no frame with open eyes on both sides",
}


def mel_loudness(mel: np.ndarray, n_frames: int) -> np.ndarray:
    """(4T, n_mels) log-mel in [0, 1] -> (n_frames,) mean level of each video frame's rows."""
    rows = mel[: MEL_ROWS_PER_FRAME * n_frames].reshape(-1, MEL_ROWS_PER_FRAME, mel.shape[1])
    return rows.mean(axis=(1, 2)).astype(np.float64)


def _value(metric: str, number: float) -> Value:
    return float(number) if math.isfinite(number) else REASONS.get(metric, NO_FACE)


def tile_measures(measures: Any, n_frames: int) -> Any:
    """Measures of one frame repeated ``n_frames`` times."""
    return measures.take(np.zeros(n_frames, dtype=int))


def _first(measures: Any, n_frames: int) -> Any:
    """The measures of the first ``n_frames`` frames."""
    return measures.take(slice(0, n_frames))


def _source_embedding(source: Any) -> np.ndarray | None:
    embedding = np.asarray(source.identity[0], np.float64)
    return embedding if np.isfinite(embedding).all() else None


class MetricScorer:
    """Scores of one evaluation; ``measurer`` has ``measure(frames) -> FrameMeasures``."""

    def __init__(self, measurer: Any, perceptual: Any = None, sync_expert: Any = None, label_measurer: Any = None) -> None:
        self.measurer, self.perceptual, self.sync_expert = measurer, perceptual, sync_expert
        self.label_measurer = label_measurer or measurer

    def measure(self, frames: np.ndarray) -> Any:
        return self.measurer.measure(frames)

    def measure_labels(self, frames: np.ndarray) -> Any:
        """Measures without identity and emotion (the cross-talk matrix reads motion labels only)."""
        return self.label_measurer.measure(frames)

    def still(self, frame: np.ndarray, n_frames: int) -> Any:
        return tile_measures(self.measurer.measure(frame[None]), n_frames)

    def found_face(self, measures: Any) -> bool:
        return bool(np.any(measures.face_found))

    def _identity(self, measures: Any, source: Any) -> Value:
        reference = _source_embedding(source)
        if reference is None:
            return "no face found in the source frame"
        return _value("identity_similarity", identity.identity_similarity(measures.identity, reference))

    def _motion(self, frames: np.ndarray, measures: Any, lips_clip: ClipData, targets: dict[str, Any]) -> dict[str, Value]:
        """Lips, pose, eyes, expression and emotion against each factor's target measures."""
        n = len(measures.face_found)
        if not measures.face_found.any():
            return {"face_found": 0.0, **{name: NO_FACE_IN_FRAMES for name in MOTION_METRICS}, **self._lse(frames, lips_clip)}
        max_offset = min(SYNC_MAX_OFFSET, max(0, n - lips.MIN_SYNC_FRAMES))  # a short clip cannot shift far
        sync = lips.sync_proxy(measures.mouth_opening, mel_loudness(lips_clip.mel, n), max_offset)
        rotation = pose.pose_error(targets["pose"].pose, measures.pose)
        scores = {
            "face_found": float(np.mean(measures.face_found)),
            "sync_proxy": _value("sync_proxy", sync.correlation),
            "pose_rotation_deg": _value("pose", rotation.rotation_deg),
            "pose_translation_mm": _value("pose", rotation.translation_mm),
            "blink_f1": _value("blink_f1", eyes.blink_f1(eyes.closed_eyes(targets["eyes"].ear), eyes.closed_eyes(measures.ear))),
            "gaze_error_deg": _value("gaze_error_deg", eyes.gaze_error(targets["eyes"].gaze, measures.gaze)),
            "expression_distance": _value("expression", expression.expression_distance(targets["expression"].expression, measures.expression)),
        }
        scores["sync_offset_frames"] = float(sync.offset) if np.isfinite(sync.correlation) else scores["sync_proxy"]
        scores["emotion_agreement"] = self._emotion(measures, targets["expression"])
        scores.update(self._lse(frames, lips_clip))
        return scores

    def _emotion(self, measures: Any, target: Any) -> Value:
        if measures.emotion is None or target.emotion is None:
            return "no emotion classifier: " + (measures.skipped.get("emotion") or target.skipped.get("emotion") or "not measured")
        return _value("emotion", expression.emotion_agreement(target.emotion, measures.emotion))

    def _lse(self, frames: np.ndarray, lips_clip: ClipData) -> dict[str, Value]:
        """LSE-D, LSE-C and the offset found by the sync expert, on the frames against the lips driver's audio."""
        if self.sync_expert is None:
            return {name: NO_SYNC_MODEL for name in LSE_METRICS}
        from pdfgc.eval.metrics.lse import score_clip

        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        try:
            score = score_clip(self.sync_expert, images, lips_clip.mel[: MEL_ROWS_PER_FRAME * len(frames)])
        except InputError as exc:
            return {name: str(exc) for name in LSE_METRICS}
        return {"lse_d": score.distance, "lse_c": score.confidence, "lse_offset_frames": float(score.offset)}

    def self_scores(self, candidate: np.ndarray, measures: Any, real: ClipData, real_measures: Any, source: Any) -> dict[str, Value]:
        n = len(candidate)
        reference = real.frames[:n]
        real_measures = _first(real_measures, n)
        scores: dict[str, Value] = {
            "psnr": _value("psnr", image.psnr(reference, candidate)),
            "ssim": _value("ssim", image.ssim(reference, candidate)),
            "cpbd": _value("cpbd", image.cpbd_mean(candidate)),
            "identity_similarity": self._identity(measures, source),
            "m_lmd": _value("m_lmd", lips.m_lmd(real_measures.landmarks, measures.landmarks)),
            "f_lmd": _value("f_lmd", lips.f_lmd(real_measures.landmarks, measures.landmarks)),
            "perceptual": self._perceptual(reference, candidate),
        }
        targets = {"pose": real_measures, "eyes": real_measures, "expression": real_measures}
        scores.update(self._motion(candidate, measures, real, targets))
        return scores

    def _perceptual(self, reference: np.ndarray, candidate: np.ndarray) -> Value:
        if self.perceptual is None:
            return "no perceptual network installed (stlpips-pytorch)"
        return _value("perceptual", float(self.perceptual(reference, candidate, every=PERCEPTUAL_EVERY)))

    def cross_scores(self, frames: np.ndarray, measures: Any, identity_measures: Any, drivers: Drivers,
                     driver_measures: dict[str, Any], source: Any) -> dict[str, Value]:
        n = len(measures.face_found)
        targets = {name: _first(driver_measures[name], n) for name in ("pose", "eyes", "expression")}
        scores = {"identity_similarity": self._identity(identity_measures, source)}
        scores.update(self._motion(frames, measures, drivers.lips, targets))
        return scores

    def crosstalk(self, base: Any, swapped: dict[str, Any]) -> np.ndarray:
        n = min([len(base.face_found)] + [len(m.face_found) for m in swapped.values()])
        labels = {factor: crosstalk.factor_labels(_first(m, n)) for factor, m in swapped.items()}
        _, matrix = crosstalk.crosstalk_matrix(crosstalk.factor_labels(_first(base, n)), labels)
        return np.asarray(matrix, dtype=np.float64)


def build_scorer(cfg: PdfgcConfig, sync_model: str | None = None, tracking_uri: str | None = None) -> MetricScorer:
    """The scorer with the project's measuring code (and the sync expert when one is given)."""
    from pdfgc.eval.measure import FaceMeasurer, MeasureOptions

    measurer = FaceMeasurer(cfg.labels)
    label_measurer = FaceMeasurer(cfg.labels, MeasureOptions(identity=False, emotion=False))
    perceptual = _perceptual_distance(cfg.model.net_image_size)
    sync_expert = None
    if sync_model is not None:
        from pdfgc.eval.metrics.lse import load_expert

        sync_expert = load_expert(sync_model, tracking_uri)
    return MetricScorer(measurer, perceptual, sync_expert, label_measurer)


def _perceptual_distance(side: int) -> Any:
    """ST-LPIPS on the VGG16 that the stlpips-pytorch wheel ships, comparing frames at ``side``
    px (the model's resolution); None (rows say why) without it."""
    try:
        from pdfgc.eval.metrics.perceptual import PerceptualDistance

        return PerceptualDistance(side=side)
    except (ImportError, OSError, PdfgcError) as exc:
        _logger.warning("perceptual distance skipped: %s", exc)
        return None
