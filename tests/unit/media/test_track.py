"""FaceTracker policy with a scripted landmarker (the real dlib backend is exercised in
test_shard_worker on a real clip): detection cadence, box hand-over, cuts, too many faces."""

from __future__ import annotations

import numpy as np

from pdfgc.media.track import DETECT_MAX_SIDE, FaceTracker, box_iou, gray_histogram
from pdfgc.labels.base import FaceBox


class ScriptedLandmarker:
    """detect() returns the boxes scripted for the current frame; landmarks() spreads 68 points
    over the middle of the box it is given, as a predictor following a still face would."""

    name, version = "scripted", "0"

    def __init__(self, boxes_per_frame: list[list[FaceBox]]) -> None:
        self.boxes_per_frame = boxes_per_frame
        self.frame_index = 0
        self.detect_sizes: list[tuple[int, int]] = []
        self.landmark_boxes: list[FaceBox] = []

    def detect(self, frame: np.ndarray) -> list[FaceBox]:
        self.detect_sizes.append(frame.shape[:2])
        scale = frame.shape[1] / self.full_width
        return [FaceBox(b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale, b.score)
                for b in self.boxes_per_frame[self.frame_index]]

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> tuple[np.ndarray, float]:
        self.landmark_boxes.append(box)
        u = np.linspace(0.2, 0.8, 68)
        points = np.column_stack([box.x0 + u * box.width, box.y0 + u[::-1] * box.height])
        return points.astype(np.float32), box.score


FACE = FaceBox(100, 80, 200, 200, 0.9)
OTHER = FaceBox(400, 80, 500, 200, 0.8)


def run(tracker: FaceTracker, landmarker: ScriptedLandmarker, frames: list[np.ndarray]):
    steps = []
    for index, frame in enumerate(frames):
        landmarker.frame_index = index
        landmarker.full_width = frame.shape[1]
        steps.append(tracker.step(frame))
    return steps


def grey(value: int, height: int = 360, width: int = 640) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_detector_runs_every_n_frames_and_tracking_reuses_the_detection_box() -> None:
    landmarker = ScriptedLandmarker([[FACE]] * 10)
    steps = run(FaceTracker(landmarker, detect_every=5, max_faces=1), landmarker, [grey(90)] * 10)
    assert [s.detected for s in steps] == [True, False, False, False, False] * 2
    assert all(s.landmarks is not None and not s.breaks_segment for s in steps)
    tracked_box = landmarker.landmark_boxes[1]
    assert box_iou(tracked_box, FACE) > 0.99  # the predictor sees the detector's box again
    assert steps[3].confidence == 0.9


def test_too_many_faces_ends_the_segment_and_gives_no_face() -> None:
    landmarker = ScriptedLandmarker([[FACE], [FACE, OTHER], [FACE]])
    steps = run(FaceTracker(landmarker, detect_every=1, max_faces=1), landmarker, [grey(90)] * 3)
    assert steps[1].too_many_faces and steps[1].breaks_segment and steps[1].landmarks is None
    assert steps[2].landmarks is not None and not steps[2].breaks_segment
    landmarker = ScriptedLandmarker([[FACE, OTHER]])
    assert run(FaceTracker(landmarker, detect_every=1, max_faces=2), landmarker, [grey(90)])[0].landmarks is not None


def test_a_shot_cut_ends_the_segment_and_forces_detection() -> None:
    landmarker = ScriptedLandmarker([[FACE]] * 4)
    steps = run(FaceTracker(landmarker, detect_every=10, max_faces=1), landmarker, [grey(30), grey(30), grey(220), grey(220)])
    assert [s.breaks_segment for s in steps] == [False, False, True, False]
    assert [s.detected for s in steps] == [True, False, True, False]


def test_a_different_face_at_detection_ends_the_segment() -> None:
    landmarker = ScriptedLandmarker([[FACE], [OTHER]])
    steps = run(FaceTracker(landmarker, detect_every=1, max_faces=1), landmarker, [grey(90)] * 2)
    assert steps[1].breaks_segment and steps[1].landmarks is not None


def test_face_lost_after_repeated_detector_misses() -> None:
    landmarker = ScriptedLandmarker([[FACE], [], [], []])
    steps = run(FaceTracker(landmarker, detect_every=1, max_faces=1), landmarker, [grey(90)] * 4)
    assert steps[1].landmarks is not None  # one miss: keep tracking
    assert steps[2].landmarks is None and steps[3].landmarks is None


def test_large_frames_are_detected_downscaled_and_boxes_mapped_back() -> None:
    landmarker = ScriptedLandmarker([[FaceBox(1000, 500, 1400, 1000, 0.9)]])
    steps = run(FaceTracker(landmarker, detect_every=1, max_faces=1), landmarker, [grey(90, 2160, 3840)])
    assert max(landmarker.detect_sizes[0]) == DETECT_MAX_SIDE
    assert landmarker.landmark_boxes[0].x0 == 1000.0 and landmarker.landmark_boxes[0].y1 == 1000.0
    assert steps[0].landmarks[:, 0].min() >= 1000


def test_histogram_distance_is_zero_for_equal_frames_and_one_for_disjoint() -> None:
    assert 0.5 * np.abs(gray_histogram(grey(10)) - gray_histogram(grey(10))).sum() == 0.0
    assert 0.5 * np.abs(gray_histogram(grey(10)) - gray_histogram(grey(240))).sum() == 1.0
