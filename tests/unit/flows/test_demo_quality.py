"""The demo's acceptance numbers: hand-made cases with known answers, then real faces."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from flows.demo_quality import (
    best_offset_correlation,
    frame_loudness,
    measure_demo_quality,
    mouth_opening,
)
from flows.sample import load_sample_generator

SECONDS = 2.0
SIZE = 192


def _face_points(gap: float) -> np.ndarray:
    """68 points with the eye centres 10 apart and inner lips ``gap`` apart."""
    points = np.zeros((68, 2))
    points[36:42] = [0.0, 0.0]
    points[42:48] = [10.0, 0.0]
    points[61:64, 1] = 20.0
    points[65:68, 1] = 20.0 + gap
    return points


def test_mouth_opening_is_the_inner_lip_gap_over_the_eye_distance() -> None:
    assert mouth_opening(_face_points(3.0)) == pytest.approx(0.3)
    assert mouth_opening(_face_points(0.0)) == 0.0


def test_frame_loudness_is_the_rms_of_each_40_ms_and_pads_with_silence() -> None:
    wave = np.concatenate([np.full(640, 0.5), np.tile([0.2, -0.2], 320)])
    assert frame_loudness(wave, 3) == pytest.approx([0.5, 0.2, 0.0])


def test_best_offset_finds_a_mouth_that_lags_the_audio_by_two_frames() -> None:
    loudness = np.random.default_rng(0).random(100)
    mouth = np.concatenate([[0.5, 0.5], loudness[:-2]])  # mouth[t + 2] = loudness[t]
    mouth[[10, 40]] = np.nan  # frames without a face are left out
    result = best_offset_correlation(mouth, loudness, max_offset=3)
    assert result["mouth_loudness_offset"] == 2
    assert result["mouth_loudness_corr"] == pytest.approx(1.0)
    assert abs(result["mouth_loudness_corr_at_0"]) < 0.3


@pytest.fixture(scope="module")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated astronaut clip (mouth driven by the speech RMS) and its first frame."""
    out = tmp_path_factory.mktemp("quality")
    clip = load_sample_generator().generate_sample_set(out, speakers=1, clips_per_speaker=1, seconds=SECONDS, size=SIZE)[0]
    frame = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "image2pipe",
                            "-vcodec", "png", "-"], capture_output=True, check=True).stdout
    portrait = out / "portrait.png"
    portrait.write_bytes(frame)
    return clip, portrait


def test_the_sample_clip_scores_as_its_own_talking_face(sample_clip) -> None:
    clip, portrait = sample_clip
    result = measure_demo_quality(clip, portrait)
    assert result["frames"] == 50 and result["face_found_ratio"] == 1.0
    assert result["face_distance"] < 0.3  # the same photograph
    assert result["mouth_loudness_corr"] > 0.8 and abs(result["mouth_loudness_offset"]) <= 1
    assert result["skipped"] == []


def test_another_person_is_far_and_a_faceless_video_has_no_face_numbers(sample_clip, real_portraits, tmp_path) -> None:
    clip, _ = sample_clip
    other = measure_demo_quality(clip, real_portraits[0])
    assert other["face_distance"] > 0.6
    noise = np.random.default_rng(0).integers(0, 255, (25, 64, 64, 3), dtype=np.uint8)
    video = tmp_path / "noise.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-r", "25",
                    "-i", "-", "-i", str(clip), "-map", "0:v", "-map", "1:a", "-shortest", "-pix_fmt", "yuv420p",
                    str(video)], input=noise.tobytes(), check=True)
    result = measure_demo_quality(video, real_portraits[0], clip)
    assert result["face_found_ratio"] == 0.0
    assert "face_distance" not in result and "mouth_loudness_corr" not in result
    assert {item["metric"] for item in result["skipped"]} == {"face_distance", "mouth_loudness_corr"}


def test_an_unreadable_portrait_is_a_one_line_input_error(sample_clip, tmp_path) -> None:
    from pdfgc.errors import InputError

    clip, _ = sample_clip
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="bad.png: not a readable image"):
        measure_demo_quality(clip, bad)
    assert cv2.imread(str(bad)) is None


def test_the_demo_report_tabulates_the_three_rows_of_each_metric() -> None:
    from flows.demo import evaluation_html

    evaluation = {"split": "test", "clips": 2, "paths": {"report": "RUN/evaluation/report.html"}, "rows": [
        {"method": "model", "metric": "self/psnr", "value": 18.25},
        {"method": "ground_truth", "metric": "self/psnr", "value": 31.5},
        {"method": "source_repeated", "metric": "self/psnr", "value": None, "reason": "no face"},
    ]}
    page = evaluation_html(evaluation)
    assert "<td>self/psnr</td><td>18.250</td><td>31.500</td><td>absent</td>" in page
    assert "2 clips of the test split" in page and "RUN/evaluation/report.html" in page
    assert "No evaluation: boom" in evaluation_html({"error": "boom"})
