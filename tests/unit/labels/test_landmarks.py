"""dlib detector + 68-point predictor on real faces and on images without a face."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from pdfgc.labels import landmarks as landmarks_module
from pdfgc.labels.landmarks import DlibLandmarker, predictor_path, score_to_confidence
from tests.unit.labels.conftest import decode_frames

REPO_ROOT = Path(__file__).resolve().parents[3]
VIDEO_SAMPLE_EVERY = 10
VIDEO_SIDE = 320


def test_predictor_is_found_in_the_installed_models_package():
    path = predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat"
    assert path.stat().st_size > 90_000_000


def test_predictor_is_loaded_once_per_process_and_detector_once_per_thread(landmarker):
    other = DlibLandmarker(upsample=1)
    assert other._predictor is landmarker._predictor
    assert landmarks_module._shape_predictor.cache_info().misses == 1
    assert landmarks_module._face_detector() is landmarks_module._face_detector()
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(landmarks_module._face_detector).result() is not landmarks_module._face_detector()


def test_concurrent_threads_share_a_landmarker_safely(real_portraits):
    """One HOG detector used from two threads on images of different sizes aborted the process
    (malloc corruption) within 60 calls; this runs in a child so a crash fails only this test."""
    code = (
        "import cv2\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from pdfgc.labels.landmarks import DlibLandmarker\n"
        "lm = DlibLandmarker()\n"
        f"images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in {[str(p) for p in real_portraits]!r}]\n"
        "refs = [lm.detect(image)[0] for image in images]\n"
        "with ThreadPoolExecutor(2) as pool:\n"
        "    same = list(pool.map(lambda k: lm.detect(images[k % 2])[0] == refs[k % 2], range(60)))\n"
        "print(all(same))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr[-500:]


def test_confidence_is_a_sigmoid_of_the_svm_score():
    assert score_to_confidence(0.0) == pytest.approx(0.5)
    assert score_to_confidence(2.0) == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert score_to_confidence(-50.0) < 1e-6


def test_every_portrait_gives_one_face_and_68_points_inside_its_box(portraits, landmarker):
    for name, image in portraits.items():
        boxes = landmarker.detect(image)
        assert len(boxes) == 1, name
        points, confidence = landmarker.landmarks(image, boxes[0])
        assert points.shape == (68, 2) and points.dtype == np.float32
        assert 0.5 <= confidence <= 1.0
        box = boxes[0]
        inside = (points[:, 0] > box.x0 - 0.2 * box.width) & (points[:, 0] < box.x1 + 0.2 * box.width)
        assert inside.all(), name
        assert points[36:42, 0].mean() < points[42:48, 0].mean(), "points 36-41 are the image-left eye"


@pytest.mark.parametrize("image", [data.coffee(), np.full((256, 256, 3), 128, np.uint8),
                                   np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)],
                         ids=["coffee", "blank", "noise"])
def test_images_without_a_face_give_no_box(landmarker, image):
    assert landmarker.detect(image) == []


def test_detector_finds_a_face_in_95_percent_of_real_video_frames(real_videos, landmarker):
    assert real_videos, "no sample videos"
    for video in real_videos:
        frames = decode_frames(video, VIDEO_SAMPLE_EVERY, VIDEO_SIDE)
        found = np.mean([bool(landmarker.detect(frame)) for frame in frames])
        assert len(frames) >= 10 and found >= 0.95, f"{video.name}: {found:.0%} of {len(frames)} frames"


def _tracked_points(landmarker, frames: np.ndarray) -> np.ndarray:
    """(T, 68, 2): detect on the first frame, then follow the face with the previous points' box."""
    box = landmarker.detect(frames[0])[0]
    points = []
    for frame in frames:
        found, _ = landmarker.landmarks(frame, box)
        points.append(found)
    return np.stack(points)


def _rigid_jitter(points: np.ndarray) -> float:
    """Mean |second difference| of nose and eye corners around their centroid (head motion removed)."""
    rigid = points[:, [27, 28, 29, 30, 36, 39, 42, 45]]
    return float(np.abs(np.diff(rigid - rigid.mean(axis=1, keepdims=True), n=2, axis=0)).mean())


def test_subpixel_landmarks_are_dlibs_own_points_to_a_third_of_a_pixel(real_videos, landmarker):
    from pdfgc.labels.landmarks import DlibSubpixelLandmarker

    jitter = {"plain": 0.0, "fine": 0.0}
    for video in real_videos:
        frames = decode_frames(video, every=1, side=224)[:60]
        plain = _tracked_points(landmarker, frames)
        fine = _tracked_points(DlibSubpixelLandmarker(), frames)
        # Same trees, same pixels: only the rounding differs (1/2 px for dlib's, 1/6 px for ours).
        assert np.abs(fine - plain).max() <= 2 / 3 + 1e-4
        np.testing.assert_allclose(fine, np.round(fine * 3) / 3, atol=1e-4)
        assert (np.abs(fine - np.round(fine)) > 0.3).mean() > 0.3, "most points fall between whole pixels"
        jitter["plain"] += _rigid_jitter(plain)
        jitter["fine"] += _rigid_jitter(fine)
    assert jitter["fine"] < 0.9 * jitter["plain"], jitter
