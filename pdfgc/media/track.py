"""Follow one face through a stream of frames: detect every N frames, track landmarks between.

Between detections, the landmark predictor runs inside a box derived from the previous frame's
landmarks (the predictor needs only a box), so the expensive detector runs once per
``detect_every`` frames. The detection box is recorded relative to the landmark bounds at each
detection, and tracked boxes reuse that relation, so the predictor always sees a box shaped
like the detector's.

Track policy (each ``TrackStep.breaks_segment`` ends the current segment before that frame):
- a shot cut: the grey-level histogram of a small thumbnail moves by more than ``cut_threshold``
  (half the L1 distance between the normalised histograms, in [0, 1]);
- more faces than ``max_faces`` on a detection frame: the frame has no face (``too_many_faces``);
- a detection that does not overlap the tracked face (IoU < ``MIN_TRACK_IOU``): another person;
- the face is lost: the detector misses it on ``MAX_DETECT_MISSES`` detection frames in a row,
  or the tracked landmarks jump out of their box. Lost frames have no face; the segmenter in
  ``shard_worker`` ends the segment when such a gap gets long.
Confidence of a tracked frame is the score of the detection that started or last confirmed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pdfgc.labels.base import FaceBox, FaceLandmarker

_logger = logging.getLogger(__name__)

DETECT_MAX_SIDE = 640
"""Frames are scaled down to this longer side for detection only (landmarks use full frames)."""
HISTOGRAM_BINS = 32
THUMBNAIL_SIDE = 64
MIN_TRACK_IOU = 0.3
MAX_DETECT_MISSES = 2
MIN_TRACKED_IOU = 0.4
"""A tracked frame whose landmark bounds overlap their input box less than this is a lost face."""


@dataclass(frozen=True)
class TrackStep:
    """What the tracker found in one frame."""

    landmarks: np.ndarray | None
    """(68, 2) float32 frame pixels, None when the frame has no usable face."""
    confidence: float
    breaks_segment: bool
    too_many_faces: bool = False
    detected: bool = False
    """The detector ran on this frame."""


def landmark_box(points: np.ndarray) -> FaceBox:
    low, high = points.min(axis=0), points.max(axis=0)
    return FaceBox(float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def box_iou(a: FaceBox, b: FaceBox) -> float:
    width = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    height = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = width * height
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def gray_histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised grey-level histogram (HISTOGRAM_BINS,) of a small thumbnail."""
    thumb = cv2.resize(frame, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY)
    counts = np.bincount(gray.ravel() // (256 // HISTOGRAM_BINS), minlength=HISTOGRAM_BINS)
    return counts / counts.sum()


class FaceTracker:
    """Stateful per-video tracker; feed frames in order with ``step``.

    Args:
        landmarker: detector + 68-point predictor (``pdfgc.labels.registry.build_landmarker``).
        detect_every: run the detector on every N-th frame of a track (and whenever no track).
        max_faces: more faces than this on a detection frame ends the track.
        cut_threshold: histogram distance in [0, 1] above which two frames are a shot cut.
    """

    def __init__(self, landmarker: FaceLandmarker, detect_every: int, max_faces: int, cut_threshold: float = 0.5) -> None:
        self.landmarker = landmarker
        self.detect_every = max(1, detect_every)
        self.max_faces = max_faces
        self.cut_threshold = cut_threshold
        self._previous_histogram: np.ndarray | None = None
        self._reset()

    def _reset(self) -> None:
        self._points: np.ndarray | None = None
        self._box_relation = np.array([0.0, 0.0, 1.0, 1.0])
        self._score = 0.0
        self._age = 0
        self._misses = 0

    def step(self, frame: np.ndarray) -> TrackStep:
        cut = self._is_cut(frame)
        if cut:
            self._reset()
        if self._points is None or self._age % self.detect_every == 0:
            step = self._detect_step(frame)
        else:
            step = self._track_step(frame)
        self._age += 1
        if cut and not step.breaks_segment:
            return TrackStep(step.landmarks, step.confidence, True, step.too_many_faces, step.detected)
        return step

    def _is_cut(self, frame: np.ndarray) -> bool:
        histogram = gray_histogram(frame)
        previous, self._previous_histogram = self._previous_histogram, histogram
        return previous is not None and 0.5 * float(np.abs(histogram - previous).sum()) > self.cut_threshold

    def _detect_step(self, frame: np.ndarray) -> TrackStep:
        boxes = self._detect(frame)
        if len(boxes) > self.max_faces:
            self._reset()
            return TrackStep(None, 0.0, True, too_many_faces=True, detected=True)
        if not boxes:
            return self._missed_detection(frame)
        box = boxes[0]
        other_face = self._points is not None and box_iou(box, landmark_box(self._points)) < MIN_TRACK_IOU
        points, confidence = self.landmarker.landmarks(frame, box)
        self._start_or_confirm(points, box)
        return TrackStep(points, confidence, other_face, detected=True)

    def _missed_detection(self, frame: np.ndarray) -> TrackStep:
        self._misses += 1
        if self._points is None or self._misses >= MAX_DETECT_MISSES:
            self._reset()
            return TrackStep(None, 0.0, False, detected=True)
        step = self._track_step(frame)
        return TrackStep(step.landmarks, step.confidence, step.breaks_segment, detected=True)

    def _start_or_confirm(self, points: np.ndarray, box: FaceBox) -> None:
        bounds = landmark_box(points)
        width, height = max(bounds.width, 1.0), max(bounds.height, 1.0)
        self._box_relation = np.array([
            (box.x0 - bounds.x0) / width, (box.y0 - bounds.y0) / height, box.width / width, box.height / height,
        ])
        self._points, self._score, self._misses = points, box.score, 0

    def _tracking_box(self) -> FaceBox:
        bounds = landmark_box(self._points)
        dx, dy, sx, sy = self._box_relation
        x0, y0 = bounds.x0 + dx * bounds.width, bounds.y0 + dy * bounds.height
        return FaceBox(x0, y0, x0 + sx * bounds.width, y0 + sy * bounds.height, self._score)

    def _track_step(self, frame: np.ndarray) -> TrackStep:
        previous_bounds = landmark_box(self._points)
        points, confidence = self.landmarker.landmarks(frame, self._tracking_box())
        if box_iou(landmark_box(points), previous_bounds) < MIN_TRACKED_IOU:
            self._reset()
            return TrackStep(None, 0.0, False)
        self._points = points
        return TrackStep(points, confidence, False)

    def _detect(self, frame: np.ndarray) -> list[FaceBox]:
        """Detector boxes in full-frame pixels, run on a copy scaled to DETECT_MAX_SIDE."""
        scale = min(1.0, DETECT_MAX_SIDE / max(frame.shape[:2]))
        if scale == 1.0:
            return self.landmarker.detect(frame)
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return [
            FaceBox(b.x0 / scale, b.y0 / scale, b.x1 / scale, b.y1 / scale, b.score)
            for b in self.landmarker.detect(small)
        ]
