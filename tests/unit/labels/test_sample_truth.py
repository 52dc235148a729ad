"""Labels against the sample set's ground truth (known roll, translation and blinks).

The generator's roll is positive clockwise in the image; the pose label's roll follows
Deep3DFaceRecon (positive counter-clockwise), so the two must be opposite.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.sample import load_sample_generator
from pdfgc.config import LabelsConfig
from pdfgc.labels.registry import build_labelers, build_landmarker

from .conftest import decode_frames



@pytest.fixture(scope="module")
def labelled_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    video = load_sample_generator().generate_sample_set(root, speakers=1, clips_per_speaker=1, seconds=6.0, size=320)[0]
    truth = json.loads(video.with_suffix(".truth.json").read_text())
    frames = decode_frames(video, every=1, side=320)
    landmarker = build_landmarker(LabelsConfig())
    points, found = [], []
    for frame in frames:
        boxes = landmarker.detect(frame)
        found.append(bool(boxes))
        points.append(landmarker.landmarks(frame, boxes[0])[0] if boxes else np.zeros((68, 2), np.float32))
    landmarks, face_ok = np.stack(points), np.array(found)
    labels: dict[str, np.ndarray] = {}
    for labeler in build_labelers(LabelsConfig()):
        labels.update(labeler(frames, landmarks, face_ok))
    return truth, labels, face_ok


def test_a_face_in_every_frame(labelled_clip):
    _, _, face_ok = labelled_clip
    assert face_ok.all()


def test_roll_trajectory_follows_the_truth(labelled_clip):
    truth, labels, _ = labelled_clip
    true_roll = np.array([f["roll_deg"] for f in truth["frames"]])
    roll = labels["pose"][:, 2]
    assert np.corrcoef(-roll, true_roll)[0, 1] >= 0.95
    assert np.median(np.abs(-roll - true_roll)) < 2.0


@pytest.mark.parametrize("axis, sign", [("tx", 1.0), ("ty", -1.0)])
def test_translation_trajectory_follows_the_truth(labelled_clip, axis, sign):
    """Image x grows to the right like the label's tx; image y grows down while ty grows up."""
    truth, labels, _ = labelled_clip
    true_shift = np.array([f[axis] for f in truth["frames"]])
    label = labels["pose"][:, 3 if axis == "tx" else 4]
    assert np.corrcoef(sign * label, true_shift)[0, 1] >= 0.95


def test_blinks_found_with_f1_at_least_0_9(labelled_clip):
    truth, labels, _ = labelled_clip
    true_blink = np.zeros(len(truth["frames"]), bool)
    true_blink[truth["blink_frames"]] = True
    ear = np.nanmean(labels["blink"], axis=1)
    detected = ear < 0.5 * np.nanmedian(ear)  # truth blink = openness < 0.5 of the open eye
    tp = np.sum(detected & true_blink)
    f1 = 2 * tp / (detected.sum() + true_blink.sum())
    assert true_blink.sum() >= 2 and f1 >= 0.9
