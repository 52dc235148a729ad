"""Preprocessing reliability: the bad-input matrix and kill -9 during process + pack.

Every input is made here with the ffmpeg binary from the real sample clips (cut short and
small to stay fast). ``process_video`` must never raise: each bad file ends in quarantine with
the right reason, and each awkward-but-valid file (8 kHz audio, 4K, rotated, VFR) is processed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import webdataset as wds

from pdfgc.preprocess.discover import VideoSpec, discover_videos
from pdfgc.preprocess.pack import pending_videos
from pdfgc.preprocess.shard_worker import VideoResult, process_video, staging_dir
from pdfgc.preprocess.writer import read_sample_members
from tests.helpers.media import tiny_config
from tests.helpers.media import FAST_H264, cut_clip, ffmpeg

pytestmark = pytest.mark.e2e
REPO_ROOT = Path(__file__).resolve().parents[2]
KILL_WAIT_S = 120


@pytest.fixture(scope="module")
def base_clip(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_clip(real_videos[0], tmp_path_factory.mktemp("base") / "base.mp4", seconds=1.6)


def make_zero_byte(base: Path, target: Path) -> None:
    target.write_bytes(b"")


def make_truncated(base: Path, target: Path) -> None:
    data = base.read_bytes()
    target.write_bytes(data[: len(data) // 3])


def make_text(base: Path, target: Path) -> None:
    target.write_text("this is a text file with a video's name\n" * 50)


def make_no_audio(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-an", "-c:v", "copy", str(target))


def make_silent(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-c:v", "copy", "-af", "volume=0", "-c:a", "aac", str(target))


def make_no_face(base: Path, target: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=256x256:rate=25:duration=1.6", "-i", str(base), "-map", "0:v",
           "-map", "1:a", *FAST_H264, "-c:a", "aac", "-shortest", str(target))


def make_two_faces(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-filter_complex", "[0:v]split[a][b];[a][b]hstack", *FAST_H264, "-c:a", "aac", str(target))


def make_one_frame(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-frames:v", "1", *FAST_H264, "-c:a", "aac", str(target))


def make_8k_mono(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-c:v", "copy", "-ac", "1", "-ar", "8000", "-c:a", "aac", str(target))


def make_4k(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-t", "1.2", "-vf", "scale=2160:2160,pad=3840:2160:840:0", *FAST_H264, "-c:a", "copy", str(target))


def make_rotated_phone(base: Path, target: Path) -> None:
    """Pixels stored turned a quarter clockwise, with the metadata that turns them back upright."""
    stored = target.with_name("stored_" + target.name)
    ffmpeg("-i", str(base), "-vf", "transpose=clock", *FAST_H264, "-c:a", "copy", str(stored))
    ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(target))


def make_vfr(base: Path, target: Path) -> None:
    ffmpeg("-i", str(base), "-vf", r"select='lt(mod(n\,4)\,3)'", "-fps_mode", "vfr", *FAST_H264, "-c:a", "copy", str(target))


BAD_INPUTS = [
    (make_zero_byte, "empty_file"),
    (make_truncated, "truncated"),
    (make_text, "not_a_video"),
    (make_no_audio, "no_audio"),
    (make_silent, "silent_audio"),
    (make_no_face, "no_face"),
    (make_two_faces, "multiple_faces"),
    (make_one_frame, "too_short"),
]
GOOD_INPUTS = [make_8k_mono, make_4k, make_rotated_phone, make_vfr]


def run_one(path: Path, out_dir: Path) -> VideoResult:
    return process_video(VideoSpec(str(path), path.stem, "v", "0", {}), tiny_config(), str(out_dir))


@pytest.mark.parametrize(("make", "reason"), BAD_INPUTS, ids=[r for _, r in BAD_INPUTS])
def test_bad_input_is_quarantined_with_its_reason(make, reason: str, base_clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "input.mp4"
    make(base_clip, path)
    result = run_one(path, tmp_path / "out")
    assert (result.ok, result.reason) == (False, reason), result.error
    assert result.staged is None and not list((tmp_path / "out").glob("_staging/*.tar"))


@pytest.mark.parametrize("make", GOOD_INPUTS, ids=[m.__name__.removeprefix("make_") for m in GOOD_INPUTS])
def test_awkward_but_valid_input_is_processed(make, base_clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "input.mp4"
    make(base_clip, path)
    result = run_one(path, tmp_path / "out")
    assert result.ok, f"{result.reason}: {result.error}"
    samples = read_sample_members(result.staged)
    assert result.n_samples >= 1 and len(samples) == result.n_samples
    assert 25 <= result.n_frames <= 41  # 25 fps out of every input


LOOP_SCRIPT = textwrap.dedent("""
    import sys
    from pdfgc.preprocess.discover import discover_videos
    from pdfgc.preprocess.pack import pack_shards, pending_videos
    from pdfgc.preprocess.shard_worker import process_video
    from tests.helpers.media import tiny_config

    cfg = tiny_config()
    cfg.data.shard_target_mb = 0.01
    input_dir, out_dir = sys.argv[1], sys.argv[2]
    for spec in pending_videos(discover_videos(input_dir), out_dir, cfg):
        result = process_video(spec, cfg, out_dir)
        pack_shards(out_dir, cfg.data, [result])
    pack_shards(out_dir, cfg.data, [])
""")


def loop_command(script: Path, input_dir: Path, out_dir: Path) -> list[str]:
    return [sys.executable, str(script), str(input_dir), str(out_dir)]


def start_loop(script: Path, input_dir: Path, out_dir: Path) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(loop_command(script, input_dir, out_dir), cwd=REPO_ROOT, env=env, start_new_session=True)


def kill_when(process: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + KILL_WAIT_S
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the loop finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def all_shard_keys(out_dir: Path) -> list[str]:
    keys = []
    for tar in sorted(out_dir.glob("pdfgc-*.tar")):
        keys += [sample["__key__"] for sample in wds.WebDataset(str(tar), shardshuffle=False)]
    return keys


def test_kill_9_during_process_and_pack_loses_and_duplicates_nothing(real_videos: list[Path], tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    for index, start in enumerate((0.0, 2.0, 4.0)):
        cut_clip(real_videos[0], input_dir / f"katie{index}.mp4", seconds=1.6, start=start)
    cut_clip(real_videos[1], input_dir / "retalk.mp4", seconds=1.6)
    script = tmp_path / "loop.py"
    script.write_text(LOOP_SCRIPT)

    reference = tmp_path / "reference"
    subprocess.run(loop_command(script, input_dir, reference), cwd=REPO_ROOT, check=True,
                   env=os.environ | {"PYTHONPATH": str(REPO_ROOT)})
    expected = sorted(all_shard_keys(reference))
    assert len(expected) >= 4

    out_dir = tmp_path / "out"
    kill_when(start_loop(script, input_dir, out_dir), lambda: any(out_dir.glob("pdfgc-*_stats.json")))
    kill_when(start_loop(script, input_dir, out_dir), lambda: len(list(out_dir.glob("_staging/*.json"))) > 0
              or len(list(out_dir.glob("pdfgc-*_stats.json"))) >= 2)
    subprocess.run(loop_command(script, input_dir, out_dir), cwd=REPO_ROOT, check=True,
                   env=os.environ | {"PYTHONPATH": str(REPO_ROOT)})

    keys = all_shard_keys(out_dir)
    assert sorted(keys) == expected and len(keys) == len(set(keys))
    assert pending_videos(discover_videos(str(input_dir)), str(out_dir), _loop_cfg()) == []
    hidden = [p.name for p in out_dir.rglob(".*")]
    assert hidden == [] and not list(staging_dir(str(out_dir)).iterdir())
    for tar in out_dir.glob("pdfgc-*.tar"):
        read_sample_members(tar)  # every shard opens and passes the safety checks


def _loop_cfg():
    cfg = tiny_config()
    cfg.data.shard_target_mb = 0.01
    return cfg
