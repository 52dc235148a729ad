"""process_video on a 2 s real talking-head clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pdfgc.config import PdfgcConfig
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.preprocess.shard_worker import VideoResult, process_video, staging_dir, video_uid
from pdfgc.preprocess.writer import decode_frames, load_npy, read_sample_members
from pdfgc.labels.registry import label_versions
from tests.helpers.media import tiny_config

TIMED_STAGES = {"decode", "detect", "landmarks", "align", "labels", "encode", "write"}


@pytest.fixture(scope="module")
def processed(short_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoResult, Path]:
    out_dir = tmp_path_factory.mktemp("processed")
    spec = VideoSpec(str(short_clip), "id00001", "vid/1", "00001", {"fv_conf": "9"})
    return process_video(spec, tiny_config(), str(out_dir)), out_dir


def test_two_seconds_give_two_samples_with_every_member(processed, tiny_cfg: PdfgcConfig) -> None:
    result, out_dir = processed
    assert result.ok, result.error
    assert (result.n_samples, result.n_frames, result.stage) == (2, 50, "done")
    samples = read_sample_members(result.staged)
    assert sorted(samples) == ["id00001_vid-1_00001_000", "id00001_vid-1_00001_001"]
    sample = samples["id00001_vid-1_00001_000"]
    assert sorted(sample) == sorted([
        "frames.mjpeg", "frame_offsets.npy", "mel.npy", "landmarks.npy", "face_ok.npy",
        "pose.npy", "blink.npy", "gaze.npy", "expression.npy", "meta.json",
    ])
    frames = decode_frames(sample["frames.mjpeg"], load_npy(sample["frame_offsets.npy"]))
    assert frames.shape == (25, 128, 128, 3)
    mel = load_npy(sample["mel.npy"])
    assert mel.shape == (100, 80) and mel.dtype == np.float16 and 0 <= mel.min() and mel.max() <= 1


def test_faces_are_tracked_aligned_and_labelled(processed) -> None:
    result, _ = processed
    for sample in read_sample_members(result.staged).values():
        face_ok = load_npy(sample["face_ok.npy"])
        assert face_ok.dtype == bool and face_ok.mean() >= 0.9
        landmarks = load_npy(sample["landmarks.npy"])  # (T, 68, 2) crop pixels
        eyes = np.nanmean(landmarks[face_ok][:, 36:48], axis=(0, 1))
        assert 40 < eyes[0] < 88 and 20 < eyes[1] < 60  # near the template's eye line (y = 40 at 128 px)
        pose = load_npy(sample["pose.npy"])
        assert pose.shape == (25, 6) and np.isfinite(pose[face_ok]).all()
        assert np.all(np.abs(pose[face_ok, :3]) < 45)  # a talking head seen from the front


def test_meta_and_marker_describe_the_sample(processed, tiny_cfg: PdfgcConfig, short_clip: Path) -> None:
    result, out_dir = processed
    meta = json.loads(read_sample_members(result.staged)["id00001_vid-1_00001_001"]["meta.json"])
    assert (meta["frame_start"], meta["frame_end"], meta["chunk"]) == (25, 50, 1)
    assert meta["label_versions"] == label_versions(tiny_cfg.labels)
    assert meta["extra"] == {"fv_conf": "9"}
    assert 30 < meta["quality"]["face_px"] < 256 and meta["quality"]["sharpness"] > 0
    assert -60 < meta["quality"]["audio_dbfs"] < 0
    assert np.array(meta["transform"]).shape == (2, 3)
    marker = json.loads((staging_dir(str(out_dir)) / f"{result.uid}.json").read_text())
    assert [row["key"] for row in marker["rows"]] == ["id00001_vid-1_00001_000", "id00001_vid-1_00001_001"]
    assert result.uid == video_uid(VideoSpec(str(short_clip), "x", "y", "z", {}), tiny_cfg)
    assert TIMED_STAGES <= set(result.timings)


def test_uid_changes_with_the_config(short_clip: Path, tiny_cfg: PdfgcConfig) -> None:
    spec = VideoSpec(str(short_clip), "a", "b", "c", {})
    other = tiny_cfg.model_copy(deep=True)
    other.data.shard_crop_size = 96
    assert video_uid(spec, tiny_cfg) != video_uid(spec, other)
    other.model.base_channels = 3  # not a preprocessing section
    assert video_uid(spec, tiny_cfg.model_copy(update={"model": other.model})) == video_uid(spec, tiny_cfg)


def test_silent_audio_is_quarantined_not_raised(short_clip: Path, tiny_cfg: PdfgcConfig, tmp_path: Path) -> None:
    from tests.helpers.media import ffmpeg

    silent = tmp_path / "silent.mp4"
    ffmpeg("-i", str(short_clip), "-c:v", "copy", "-af", "volume=0", "-c:a", "aac", str(silent))
    result = process_video(VideoSpec(str(silent), "s", "v", "c", {}), tiny_cfg, str(tmp_path / "out"))
    assert (result.ok, result.reason, result.stage, result.staged) == (False, "silent_audio", "audio", None)
    marker = json.loads((staging_dir(str(tmp_path / "out")) / f"{result.uid}.json").read_text())
    assert marker["result"]["reason"] == "silent_audio" and marker["rows"] == []


def test_a_faceless_stretch_splits_the_clip_into_two_segments(short_clip: Path, tmp_path: Path) -> None:
    from tests.helpers.media import ffmpeg

    spliced = tmp_path / "spliced.mp4"
    # 1.2 s talking head, 1 s test pattern (no face, and a shot cut), 1.2 s talking head
    ffmpeg("-i", str(short_clip), "-f", "lavfi", "-i", "testsrc2=size=256x256:rate=25:duration=1",
           "-filter_complex",
           "[0:v]trim=0:1.2,setpts=PTS-STARTPTS[a];[1:v]format=yuv420p[b];"
           "[0:v]trim=0.8:2,setpts=PTS-STARTPTS[c];[a][b][c]concat=n=3:v=1:a=0[v]",
           "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(spliced))
    result = process_video(VideoSpec(str(spliced), "s", "v", "c", {}), tiny_config(), str(tmp_path / "out"))
    assert result.ok, result.error
    metas = [json.loads(s["meta.json"]) for s in read_sample_members(result.staged).values()]
    # each 30-frame segment gives one 25-frame chunk; the 5 left over are under min_chunk_frames
    assert [(m["frame_start"], m["frame_end"]) for m in metas] == [(0, 25), (55, 80)]
    assert all(m["face_frames"] == 25 for m in metas)
