"""dlib identity embeddings: one person in two photographs is the same person, others are not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from pdfgc.eval.measure import FaceMeasurer
from pdfgc.media.decode import read_first_frame
from pdfgc.eval.metrics.identity import (
    SAME_PERSON_DISTANCE,
    cosine_similarity,
    face_distance,
    identity_similarity,
    mean_face_distance,
    same_person_rate,
)


def test_distance_and_cosine_by_hand() -> None:
    reference = np.array([1.0, 0.0, 0.0])
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [np.nan, np.nan, np.nan]])
    assert face_distance(rows, reference)[:2] == pytest.approx([0.0, np.sqrt(5.0)])
    assert cosine_similarity(rows, reference)[:2] == pytest.approx([1.0, 0.0])
    assert identity_similarity(rows, reference) == pytest.approx(0.5)
    assert mean_face_distance(rows, reference) == pytest.approx(np.sqrt(5.0) / 2)
    assert same_person_rate(rows, reference) == pytest.approx(0.5)


def _embedding(measurer: FaceMeasurer, image: np.ndarray) -> np.ndarray:
    measures = measurer.measure(image[None])
    assert measures.face_found[0]
    return measures.identity[0]


def test_same_person_in_two_photos_and_two_other_people(measurer: FaceMeasurer, portraits: dict[str, np.ndarray],
                                                        real_videos: list[Path]) -> None:
    """anne.png and people_0.png are two different photographs of the same actress; the
    astronaut and the first sample video show two other women."""
    anne = portraits["PD-FGC-inference__anne"]
    reference = _embedding(measurer, anne)
    smaller = cv2.resize(anne, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    same_photo = face_distance(_embedding(measurer, smaller), reference)[0]
    other_photo = face_distance(_embedding(measurer, portraits["SadTalker__people_0"]), reference)[0]
    strangers = [_embedding(measurer, image) for image in (data.astronaut(), read_first_frame(str(real_videos[0])))]
    assert same_photo < 0.2
    assert other_photo < SAME_PERSON_DISTANCE
    assert all(face_distance(e, reference)[0] > SAME_PERSON_DISTANCE for e in strangers)
    assert cosine_similarity(np.stack(strangers), reference).max() < cosine_similarity(
        _embedding(measurer, portraits["SadTalker__people_0"]), reference)[0]
