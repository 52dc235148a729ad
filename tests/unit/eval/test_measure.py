"""FaceMeasurer on real portraits: full-size and 64 px frames read alike; no face gives NaN."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pdfgc.eval.measure import FaceMeasurer, FrameMeasures, upscale_factor
from pdfgc.eval.metrics.lips import inter_ocular_distance


def _check_shapes(measures: FrameMeasures, frames: int) -> None:
    assert measures.face_found.shape == (frames,)
    assert measures.landmarks.shape == (frames, 68, 2)
    assert measures.pose.shape == (frames, 6)
    assert measures.ear.shape == (frames, 2) and measures.blink.shape == (frames,)
    assert measures.gaze.shape == (frames, 2)
    assert measures.expression.shape[0] == frames
    assert measures.mouth_opening.shape == (frames,)
    assert measures.identity.shape == (frames, 128)


def test_upscale_factor() -> None:
    assert upscale_factor(64, 64, 256) == 4.0
    assert upscale_factor(480, 640, 256) == 1.0


def test_portrait_and_its_64px_copy_measure_alike(measurer: FaceMeasurer, portraits: dict[str, np.ndarray]) -> None:
    anne = portraits["PD-FGC-inference__anne"]  # 224 px
    small = cv2.resize(anne, (64, 64), interpolation=cv2.INTER_AREA)
    full, tiny = measurer.measure(anne[None]), measurer.measure(small[None])
    _check_shapes(full, 1)
    assert full.face_found[0] and tiny.face_found[0]
    assert np.isfinite(full.pose[0]).all() and np.isfinite(full.identity[0]).all()
    # Landmarks come back in each input's pixels: the 64 px ones are the 224 px ones / 3.5.
    iod = inter_ocular_distance(full.landmarks)[0]
    error = np.linalg.norm(tiny.landmarks[0] * 224 / 64 - full.landmarks[0], axis=1).mean()
    assert error < 0.08 * iod
    assert abs(tiny.pose[0, 1] - full.pose[0, 1]) < 5.0  # yaw, degrees
    assert 0.0 <= full.mouth_opening[0] < 0.3


def test_frames_without_a_face_are_nan(measurer: FaceMeasurer, portraits: dict[str, np.ndarray]) -> None:
    anne = portraits["PD-FGC-inference__anne"]
    noise = np.random.default_rng(0).integers(0, 256, size=anne.shape, dtype=np.uint8)
    measures = measurer.measure(np.stack([anne, noise]))
    _check_shapes(measures, 2)
    assert measures.face_found.tolist() == [True, False]
    assert measures.face_rate == 0.5
    for values in (measures.landmarks[1], measures.pose[1], measures.identity[1], measures.mouth_opening[1]):
        assert np.isnan(values).all()
    assert not measures.blink[1]
    assert measures.take(slice(0, 1)).face_found.tolist() == [True]


def test_bad_input_is_rejected(measurer: FaceMeasurer) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        measurer.measure(np.zeros((2, 64, 64), np.uint8))
