"""The sample set generator: real ffmpeg/espeak-ng/dlib on one short clip, checked against its truth."""

import importlib
import json
import math
import subprocess
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pdfgc.sample import clip as clip_plan
from pdfgc.sample import portrait as photo_rig

SIZE = 256
SECONDS = 2.0
N_FRAMES = 50
ROLL_TOLERANCE_DEG = 2.0


def _load_generator() -> ModuleType:
    return importlib.import_module("pdfgc.sample.generate")


def _generate_one_clip(generator: ModuleType, out_dir: Path) -> list[Path]:
    return generator.generate_sample_set(out_dir, speakers=1, clips_per_speaker=1, seconds=SECONDS, size=SIZE)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sample")


@pytest.fixture(scope="module")
def clip(generator: ModuleType, sample_dir: Path) -> Path:
    paths = _generate_one_clip(generator, sample_dir)
    assert len(paths) == 1
    return paths[0]


@pytest.fixture(scope="module")
def truth(clip: Path) -> dict:
    return json.loads(clip.with_name(clip.stem + ".truth.json").read_text())


@pytest.fixture(scope="module")
def decoded(clip: Path) -> np.ndarray:
    command = ["ffmpeg", "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, SIZE, SIZE, 3)  # (T, H, W, 3)


@pytest.fixture(scope="module")
def face_models(generator: ModuleType) -> tuple:
    return photo_rig._face_models()


def _probe(path: Path) -> dict:
    command = ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)]
    streams = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)["streams"]
    return {stream["codec_type"]: stream for stream in streams}


def _eye_line_deg(points: np.ndarray) -> float:
    """Angle of the line from the subject's right eye centre (36-41) to the left (42-47)."""
    dx, dy = points[42:48].mean(axis=0) - points[36:42].mean(axis=0)
    return math.degrees(math.atan2(dy, dx))


def _detect_landmarks(face_models: tuple, frame: np.ndarray) -> tuple[int, np.ndarray]:
    detector, predictor = face_models
    boxes = list(detector(frame, 1))
    if not boxes:
        return 0, np.empty((0, 2))
    shape = predictor(frame, boxes[0])
    return len(boxes), np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def test_layout_is_voxceleb_style(clip: Path, sample_dir: Path, truth: dict) -> None:
    speaker, video, name = clip.relative_to(sample_dir).parts
    assert speaker == "id00001" == truth["speaker"]
    assert len(video) == 11 and video == truth["video"]
    assert name == "00001.mp4" and truth["clip"] == "00001"


def test_ffprobe_shows_25_fps_frame_count_and_16k_mono_audio(clip: Path) -> None:
    streams = _probe(clip)
    video, audio = streams["video"], streams["audio"]
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert video["r_frame_rate"] == "25/1"
    assert int(video["nb_read_frames"]) == N_FRAMES
    assert (video["width"], video["height"]) == (SIZE, SIZE)
    assert audio["codec_name"] == "aac"
    assert int(audio["sample_rate"]) == 16000 and audio["channels"] == 1
    assert float(audio["duration"]) == pytest.approx(SECONDS, abs=0.07)


def test_truth_has_one_entry_per_decoded_frame(truth: dict, decoded: np.ndarray) -> None:
    assert truth["n_frames"] == len(truth["frames"]) == len(decoded) == N_FRAMES
    assert [frame["t"] for frame in truth["frames"]] == list(range(N_FRAMES))
    assert truth["fps"] == 25 and truth["sample_rate"] == 16000 and truth["size"] == [SIZE, SIZE]
    assert np.array(truth["frames"][0]["landmarks68"]).shape == (68, 2)
    assert np.array(truth["frames"][0]["affine"]).shape == (2, 3)


def test_blink_frames_are_the_frames_with_closed_eyes(truth: dict) -> None:
    openness = np.array([[f["eye_open_left"], f["eye_open_right"]] for f in truth["frames"]])
    blink_frames = truth["blink_frames"]
    assert blink_frames, "a 2 s clip must hold at least one blink"
    assert np.all(openness[blink_frames] < 0.5)
    assert openness[blink_frames].min() < 0.1
    others = np.setdiff1d(np.arange(N_FRAMES), blink_frames)
    assert np.all(openness[others] >= 0.5)


def test_truth_roll_is_the_eye_line_angle_of_truth_landmarks(truth: dict) -> None:
    for frame in truth["frames"]:
        if min(frame["eye_open_left"], frame["eye_open_right"]) == 1.0:
            assert _eye_line_deg(np.array(frame["landmarks68"])) == pytest.approx(frame["roll_deg"], abs=0.1)


def test_affine_puts_face_centre_at_frame_centre_plus_shift(truth: dict) -> None:
    photo_centre = np.array(truth["photo_landmarks68"]).mean(axis=0)
    for frame in truth["frames"][::10]:
        affine = np.array(frame["affine"])
        centre = affine[:, :2] @ photo_centre + affine[:, 2]
        np.testing.assert_allclose(centre, [SIZE / 2 + frame["tx"], SIZE / 2 + frame["ty"]], atol=0.02)
        zoom = math.hypot(affine[0, 0], affine[1, 0])
        assert zoom == pytest.approx(truth["base_scale"] * frame["scale"], rel=1e-4)


def test_hog_finds_one_face_and_landmarks_match_truth_roll(
    truth: dict, decoded: np.ndarray, face_models: tuple
) -> None:
    open_frames = [f for f in truth["frames"] if min(f["eye_open_left"], f["eye_open_right"]) == 1.0]
    count, _ = _detect_landmarks(face_models, decoded[open_frames[0]["t"]])
    assert count == 1
    tilted = [f for f in open_frames if abs(f["roll_deg"]) > 5.0]
    assert len(tilted) >= 3, "the roll motion must tilt the head beyond 5 degrees"
    for frame in tilted[:: max(1, len(tilted) // 4)][:4]:
        count, points = _detect_landmarks(face_models, decoded[frame["t"]])
        assert count == 1
        assert _eye_line_deg(points) == pytest.approx(frame["roll_deg"], abs=ROLL_TOLERANCE_DEG)
        assert np.median(np.linalg.norm(points - np.array(frame["landmarks68"]), axis=1)) < 0.03 * SIZE


def test_mouth_opening_follows_audio_rms(truth: dict) -> None:
    mouth = np.array([f["mouth_open"] for f in truth["frames"]])
    rms = np.array([f["audio_rms"] for f in truth["frames"]])
    assert np.corrcoef(mouth, rms)[0, 1] > 0.8
    assert mouth.max() == 1.0 and mouth.min() >= 0.0


def test_second_call_does_not_rewrite(generator: ModuleType, clip: Path, sample_dir: Path) -> None:
    truth_path = clip.with_name(clip.stem + ".truth.json")
    before = (clip.stat().st_mtime_ns, truth_path.stat().st_mtime_ns)
    again = _generate_one_clip(generator, sample_dir)
    assert again == [clip]
    assert (clip.stat().st_mtime_ns, truth_path.stat().st_mtime_ns) == before
    assert not [p for p in clip.parent.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_frame_rms_by_hand(generator: ModuleType) -> None:
    audio = np.concatenate([np.full(640, 0.5), np.zeros(640), np.tile([0.3, -0.3], 320)]).astype(np.float32)
    np.testing.assert_allclose(clip_plan.frame_rms(audio, 3), [0.5, 0.0, 0.3], atol=1e-6)


def test_mouth_from_rms_by_hand(generator: ModuleType) -> None:
    # 90th percentile of [0, .05, .1, .2, .4, .4, .4, .4, .4, .4] is 0.4; gate 0.1 -> (r/0.4 - 0.1) / 0.9
    rms = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4])
    expected = [0.0, (0.125 - 0.1) / 0.9, (0.25 - 0.1) / 0.9, (0.5 - 0.1) / 0.9, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(clip_plan.mouth_from_rms(rms), expected, atol=1e-9)


def test_blink_profile_by_hand(generator: ModuleType) -> None:
    openness = clip_plan.blink_openness(np.random.default_rng(3), 50)
    closed = np.flatnonzero(openness < 1.0)
    length = len(closed)
    assert 3 <= length <= 5 and np.all(np.diff(closed) == 1)
    expected = [1.0 - math.sin(math.pi * (k + 1) / (length + 1)) for k in range(length)]
    np.testing.assert_allclose(openness[closed], expected, atol=1e-12)


def test_mirrored_speaker_is_a_detectable_face(generator: ModuleType) -> None:
    mirrored = generator.speaker_look(1)
    assert mirrored.mirror and mirrored.speaker_id == "id00002"
    portrait = photo_rig._portrait(mirrored)
    plain = photo_rig._portrait(generator.speaker_look(0))
    # mirroring swaps the image side of each eye: the subject's left eye (42-47) stays image right
    assert portrait.landmarks[42:48, 0].mean() > portrait.landmarks[36:42, 0].mean()
    assert portrait.photo_roll_deg == pytest.approx(-plain.photo_roll_deg, abs=1.5)


def test_rejects_odd_size(generator: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        generator.generate_sample_set(tmp_path, size=255)


def test_ffmpeg_failure_raises_and_leaves_no_files(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_command = generator._ffmpeg_command

    def broken_command(size: int, wav_path: Path, out_path: Path) -> list[str]:
        command = real_command(size, wav_path, out_path)
        command[command.index("libx264")] = "no-such-encoder"
        return command

    monkeypatch.setattr(generator, "_ffmpeg_command", broken_command)
    with pytest.raises(generator.SampleSetError, match="ffmpeg failed"):
        _generate_one_clip(generator, tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_clip_counts_as_done_only_with_matching_truth(generator: ModuleType, tmp_path: Path) -> None:
    mp4_path = tmp_path / "00001.mp4"
    truth_path = tmp_path / "00001.truth.json"
    mp4_path.write_bytes(b"placeholder")
    assert not generator._clip_is_done(mp4_path, N_FRAMES, SIZE)
    truth_path.write_text(json.dumps({"n_frames": N_FRAMES, "size": [SIZE, SIZE]}))
    assert generator._clip_is_done(mp4_path, N_FRAMES, SIZE)
    assert not generator._clip_is_done(mp4_path, N_FRAMES + 25, SIZE)
    assert not generator._clip_is_done(mp4_path, N_FRAMES, SIZE + 64)
    truth_path.write_text("{cut short")
    assert not generator._clip_is_done(mp4_path, N_FRAMES, SIZE)
