"""probe + decode on files made with the real ffmpeg binary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pdfgc.media.decode import decode_audio, iter_frames, output_size, read_first_frame
from pdfgc.media import probe
from pdfgc.media.probe import probe_video
from pdfgc.errors import MediaError
from tests.helpers.media import ffmpeg


def test_probe_reads_size_rate_and_audio(short_clip: Path) -> None:
    info = probe_video(str(short_clip))
    assert (info.width, info.height, info.rotation) == (256, 256, 0)
    assert info.fps == pytest.approx(25.0)
    assert not info.variable_fps
    assert (info.sample_rate, info.channels) == (16000, 2)
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_constant_rate_clip_decodes_to_exact_frame_count(short_clip: Path) -> None:
    info = probe_video(str(short_clip))
    frames = list(iter_frames(str(short_clip), info, fps=25, max_side=1280))
    assert len(frames) == 50
    assert frames[0].shape == (256, 256, 3) and frames[0].dtype == np.uint8


def test_variable_rate_is_detected_and_resampled_to_25_fps(short_clip: Path, tmp_path: Path) -> None:
    vfr = tmp_path / "vfr.mp4"
    # Keep frames 0, 1, 5, 6, 10, 11, ...: gaps of 40 ms and 160 ms.
    ffmpeg("-i", str(short_clip), "-vf", r"select='lt(mod(n\,5)\,2)'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(vfr))
    info = probe_video(str(vfr))
    assert info.variable_fps
    assert info.fps < 15
    count = sum(1 for _ in iter_frames(str(vfr), info, fps=25, max_side=1280))
    # 25 fps over the 1.84 s between the first and the last kept frame, plus that last frame.
    assert 46 <= count <= 50


def test_rotation_metadata_turns_the_frames(tmp_path: Path, short_clip: Path) -> None:
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    ffmpeg("-i", str(short_clip), "-t", "0.4", "-vf", "scale=128:64", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", str(plain))
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    plain_info, rotated_info = probe_video(str(plain)), probe_video(str(rotated))
    assert rotated_info.rotation in (90, 270)
    assert rotated_info.display_size == (64, 128)
    upright = next(iter_frames(str(plain), plain_info, 25, 1280))
    turned = next(iter_frames(str(rotated), rotated_info, 25, 1280))
    assert upright.shape == (64, 128, 3) and turned.shape == (128, 64, 3)
    counter_clockwise_turns = 1 if rotated_info.rotation == 270 else -1
    assert np.abs(np.rot90(upright, counter_clockwise_turns).astype(int) - turned).mean() < 2.0


def test_large_frames_are_scaled_down_keeping_the_aspect(short_clip: Path) -> None:
    info = probe_video(str(short_clip))
    assert output_size(info, 100) == (100, 100)
    frame = next(iter_frames(str(short_clip), info, 25, 100))
    assert frame.shape == (100, 100, 3)


def test_audio_is_resampled_to_16k_mono(tmp_path: Path, short_clip: Path) -> None:
    low_rate = tmp_path / "8k.mp4"
    ffmpeg("-i", str(short_clip), "-c:v", "copy", "-ac", "1", "-ar", "8000", "-c:a", "aac", str(low_rate))
    assert probe_video(str(low_rate)).sample_rate == 8000
    wave = decode_audio(str(low_rate), 16000)
    assert wave.dtype == np.float32
    assert abs(wave.size - 32000) < 1600
    assert 0.01 < np.abs(wave).max() < 2.0  # AAC may overshoot full scale a little


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty_file"), (b"hello, I am not a video\n" * 20, "not_a_video")],
)
def test_bad_files_raise_media_error_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError) as caught:
        probe_video(str(path))
    assert caught.value.reason == reason


def test_truncated_mp4_is_reported(tmp_path: Path, short_clip: Path) -> None:
    data = short_clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as caught:
        probe_video(str(path))
    assert caught.value.reason == "truncated"


def test_clip_shorter_than_the_minimum_is_too_short(short_clip: Path) -> None:
    with pytest.raises(MediaError) as caught:
        probe_video(str(short_clip), min_seconds=3.0)
    assert caught.value.reason == "too_short"


def test_read_first_frame_matches_the_streamed_first_frame(short_clip: Path) -> None:
    first = read_first_frame(str(short_clip))
    streamed = next(iter_frames(str(short_clip), probe_video(str(short_clip)), 25, 1280))
    assert first.shape == streamed.shape == (256, 256, 3)
    assert np.abs(first.astype(int) - streamed).mean() < 1.0


def test_in_process_probe_matches_ffprobe(tmp_path: Path, short_clip: Path) -> None:
    variants = {
        "rotated.mp4": ("-c", "copy", "-metadata:s:v:0", "rotate=90"),
        "vfr.mp4": ("-vf", r"select='lt(mod(n\,5)\,2)'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "copy"),
        "mono8k.mkv": ("-c:v", "copy", "-ac", "1", "-ar", "8000", "-c:a", "libopus"),
    }
    paths = [short_clip]
    for name, args in variants.items():
        ffmpeg("-i", str(short_clip), *args, str(tmp_path / name))
        paths.append(tmp_path / name)
    for path in paths:
        in_process = probe._pyav_report(str(path))
        assert in_process is not None, path
        assert probe._parse_report(str(path), in_process) == probe._parse_report(str(path), probe._ffprobe_report(str(path)))
