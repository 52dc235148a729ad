"""``label_file``: JSON lines for an image and a short real video; clear errors for bad input."""

from __future__ import annotations

import json
import subprocess

import cv2
import pytest
from skimage import data

from pdfgc.config import LabelsConfig
from pdfgc.errors import ConfigError, InputError
from pdfgc.labels.cli import label_file, with_backend
from pdfgc.labels.expression import EXPRESSION_DIM

CLIP_SECONDS = 0.4  # 10 frames at 25 fps


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_portrait_gives_one_full_line(real_portraits, tmp_path):
    out = tmp_path / "labels.jsonl"
    assert label_file(real_portraits[0], LabelsConfig(), out) == 0
    (line,) = read_lines(out)
    assert line["frame"] == 0 and line["face"] is True
    assert len(line["landmarks"]) == 68 and len(line["box"]) == 4
    assert set(line["pose"]) == {"pitch", "yaw", "roll", "tx", "ty", "tz"}
    assert len(line["blink"]) == 2 and len(line["gaze"]) == 2 and len(line["expression"]) == EXPRESSION_DIM


def test_image_without_a_face_gives_no_numbers(tmp_path):
    image = tmp_path / "coffee.png"
    cv2.imwrite(str(image), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "labels.jsonl"
    label_file(image, LabelsConfig(), out)
    assert read_lines(out) == [{"frame": 0, "face": False}]


def test_video_gives_one_line_per_frame_at_25_fps(real_videos, tmp_path):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(real_videos[0]), "-t", str(CLIP_SECONDS), "-r", "30",
                    "-vf", "scale=256:256", "-an", str(clip)], check=True)
    out = tmp_path / "labels.jsonl"
    label_file(clip, LabelsConfig(), out)
    lines = read_lines(out)
    assert [line["frame"] for line in lines] == list(range(10)), "30 fps input is resampled to 25 fps"
    assert all(line["face"] for line in lines)


def test_stdout_when_no_out_path(real_portraits, capsys):
    label_file(real_portraits[0], LabelsConfig(), None)
    assert json.loads(capsys.readouterr().out)["face"] is True


@pytest.mark.parametrize("name, content", [("missing.mp4", None), ("broken.png", b"not an image"),
                                           ("broken.mp4", b"not a video")])
def test_bad_input_raises_input_error_naming_it(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=name):
        label_file(path, LabelsConfig(), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_backend_option_selects_the_matching_field():
    assert with_backend(LabelsConfig(), "fan").landmarks == "fan"
    assert with_backend(LabelsConfig(), "deep3d").pose == "deep3d"
    assert with_backend(LabelsConfig(), None) == LabelsConfig()
    with pytest.raises(ConfigError, match="allowed"):
        with_backend(LabelsConfig(), "mediapipe")
