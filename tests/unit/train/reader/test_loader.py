"""The shard loader: batch contract per stage, determinism, exact resume, safety, splits."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from pdfgc.config import load_config
from pdfgc.train.reader.loader import (
    ReaderSlot, _EpochShardSource, audio_window, batch_to_device, build_loader, expand_shards, jpeg_width, read_npy,
    reduction_factor, write_model_images,
)
from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.labels.expression import EXPRESSION_DIM
from tests.helpers.shards import write_tar, write_test_shards

CROP = 96
SIZE = 64
EXPECTED = {
    "critic": {"image": (3, SIZE, SIZE)},
    "1": {"driver": (3, SIZE, SIZE), "app_frames": (2, 3, SIZE, SIZE)},
    "2": {"frames": (3, SIZE, SIZE), "mel": (1, 80, 20), "frames2": (3, SIZE, SIZE), "landmarks2": (68, 2)},
    "3": {"driver": (3, SIZE, SIZE), "app_frames": (2, 3, SIZE, SIZE), "window": (3, 3, SIZE, SIZE),
          "mel": (1, 80, 20), "mel_window": (3, 1, 80, 20)},
}
IMAGE_NAMES = ("image", "driver", "frames", "frames2", "app_frames", "window")
LABELS = {"pose": (6,), "expression": (EXPRESSION_DIM,), "gaze": (2,), "blink": (2,), "landmarks": (68, 2)}


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    write_test_shards(out, n_clips=6, frames=10, crop_size=CROP, seed=0, clips_per_shard=3)
    return out


@pytest.fixture(scope="module")
def cfg():
    return load_config("tiny", ["train.shuffle_buffer=4"])


def _batches(shards, stage, cfg, n, **kwargs) -> list[dict]:
    defaults = {"rank": 0, "world_size": 1, "seed": 0}
    return list(build_loader(shards, stage, cfg, num_batches=n, **{**defaults, **kwargs}))


def _shard_landmarks(shard_dir: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(shard_dir.glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".landmarks.npy"):
                    key = member.name.split(".")[0]
                    found[key] = np.load(io.BytesIO(tar.extractfile(member).read()), allow_pickle=False)
    return found


@pytest.mark.parametrize("stage", ["critic", "1", "2", "3"])
def test_batches_follow_the_stage_contract(shard_dir: Path, cfg, stage: str) -> None:
    batch = _batches(str(shard_dir), stage, cfg, 1)[0]
    size = cfg.train.critic.batch_size if stage == "critic" else getattr(cfg.train, f"stage{stage}").batch_size
    assert set(batch) == {"key", *EXPECTED[stage], *LABELS}
    assert len(batch["key"]) == size
    image_names = [n for n in EXPECTED[stage] if n in IMAGE_NAMES]
    for name, shape in {**EXPECTED[stage], **LABELS}.items():
        assert batch[name].shape == (size, *shape), name
        assert batch[name].dtype == (torch.uint8 if name in image_names else torch.float32), name
    moved = batch_to_device(batch, torch.device("cpu"))
    for name in {**EXPECTED[stage], **LABELS}:
        assert moved[name].dtype == torch.float32, name
        assert not torch.isnan(moved[name]).any(), f"{name}: a face_ok=False frame was drawn"
    images = [moved[n] for n in image_names]
    assert all(img.min() >= -1.0 and img.max() <= 1.0 for img in images)
    assert any(img.min() < -0.5 and img.max() > 0.5 for img in images)  # real pixels, not a flat picture
    for name in image_names:
        torch.testing.assert_close(moved[name], batch[name].float() / 127.5 - 1.0)


def test_landmarks_are_scaled_from_crop_to_model_pixels(shard_dir: Path, cfg) -> None:
    stored = _shard_landmarks(shard_dir)
    batch = _batches(str(shard_dir), "critic", cfg, 1)[0]
    for key, landmarks in zip(batch["key"], batch["landmarks"], strict=True):
        scaled = stored[key] * (SIZE / CROP)  # (T, 68, 2)
        assert np.isclose(scaled, landmarks.numpy(), atol=1e-4).all(axis=(1, 2)).any()


def test_audio_window_follows_the_alignment_rule() -> None:
    mel = np.arange(4 * 6 * 80, dtype=np.float16).reshape(24, 80) / 2000  # 6 frames
    window = audio_window(mel, t=0, window_frames=5)  # rows [-8, 12)
    assert window.shape == (1, 80, 20)
    assert (window[0, :, :8] == 0).all()
    np.testing.assert_array_equal(window[0, :, 8:], mel[:12].T.astype(np.float32))
    last = audio_window(mel, t=5, window_frames=5)  # rows [12, 32) -> 12 real, 8 padded
    np.testing.assert_array_equal(last[0, :, :12], mel[12:].T.astype(np.float32))
    assert (last[0, :, 12:] == 0).all()


def test_same_seed_gives_the_same_stream_and_another_seed_does_not(shard_dir: Path, cfg) -> None:
    first = _batches(str(shard_dir), "1", cfg, 4)
    again = _batches(str(shard_dir), "1", cfg, 4)
    other = _batches(str(shard_dir), "1", cfg, 4, seed=1)
    for a, b in zip(first, again, strict=True):
        assert a["key"] == b["key"] and torch.equal(a["app_frames"], b["app_frames"])
    assert any(a["key"] != c["key"] or not torch.equal(a["driver"], c["driver"]) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize("stage", ["1", "3"])
def test_resume_continues_exactly_where_the_stream_stopped(shard_dir: Path, cfg, stage: str) -> None:
    whole = _batches(str(shard_dir), stage, cfg, 7)
    tail = list(build_loader(str(shard_dir), stage, cfg, 0, 1, 0, start_step=4, num_batches=3))
    assert len(tail) == 3
    for a, b in zip(whole[4:], tail, strict=True):
        assert a["key"] == b["key"]
        assert torch.equal(a["driver"], b["driver"]) and torch.equal(a["pose"], b["pose"])


def test_each_epoch_partitions_the_shards_over_ranks() -> None:
    urls = [f"s{i}.tar" for i in range(5)]
    per_rank = []
    for rank in range(2):
        source = iter(_EpochShardSource(urls, seed=0, slot=ReaderSlot(index=rank, count=2)))
        items = [next(source) for _ in range(9)]  # 3 + 3 + 3 over epochs 0..2 (rank 1 gets 2 a time)
        per_rank.append(items)
    for epoch in range(2):
        mine = [[i["url"] for i in items if i["epoch"] == epoch] for items in per_rank]
        assert sorted(mine[0] + mine[1]) == sorted(urls)
    orders = [[i["url"] for i in per_rank[0] if i["epoch"] == e] for e in range(2)]
    assert orders[0] != orders[1] or len(urls) < 2  # reshuffled each epoch


def test_ranks_get_equal_batch_counts_and_different_data(shard_dir: Path, cfg) -> None:
    streams = [_batches(str(shard_dir), "critic", cfg, 3, rank=rank, world_size=2) for rank in range(2)]
    assert [len(s) for s in streams] == [3, 3]
    assert streams[0][0]["key"] != streams[1][0]["key"]


def test_workers_stream_is_deterministic_and_resumable(shard_dir: Path) -> None:
    cfg = load_config("tiny", ["train.shuffle_buffer=4", "train.num_workers=2"])
    whole = _batches(str(shard_dir), "critic", cfg, 5)
    tail = list(build_loader(str(shard_dir), "critic", cfg, 0, 1, 0, start_step=3, num_batches=2))
    assert [b["key"] for b in whole[3:]] == [b["key"] for b in tail]
    assert torch.equal(whole[4]["image"], tail[1]["image"])


def _manifest_with_speakers(shard_dir: Path, out: Path, cfg) -> pd.DataFrame:
    """A copy of the shards with a manifest giving each clip its own speaker (a..f)."""
    import shutil

    from pdfgc.preprocess.splits import with_splits

    out.mkdir()
    for tar in shard_dir.glob("*.tar"):
        shutil.copy(tar, out / tar.name)
    keys = sorted(_shard_landmarks(shard_dir))
    table, _ = with_splits(pd.DataFrame({"key": keys, "speaker": [f"speaker{i}" for i in range(len(keys))]}), cfg.split)
    table.to_parquet(out / "manifest.parquet", index=False)
    return table


def test_loader_reads_only_the_keys_of_its_split(shard_dir: Path, tmp_path: Path) -> None:
    cfg = load_config("tiny", ["train.shuffle_buffer=4", "split.seed=1", "split.val_fraction=0.3",
                               "split.test_fraction=0.3"])
    table = _manifest_with_speakers(shard_dir, tmp_path / "split", cfg)
    assert set(table["split"]) == {"train", "val", "test"}  # this seed fills every split
    for split in ("train", "val", "test"):
        seen = {k for b in _batches(str(tmp_path / "split"), "critic", cfg, 3, split=split) for k in b["key"]}
        assert seen == set(table.loc[table["split"] == split, "key"]), split


def test_a_split_without_samples_is_a_one_line_error(shard_dir: Path, tmp_path: Path) -> None:
    cfg = load_config("tiny", ["split.seed=1", "split.val_fraction=0.0", "split.test_fraction=0.3"])
    _manifest_with_speakers(shard_dir, tmp_path / "split", cfg)
    with pytest.raises(InputError, match="split 'val' has no sample"):
        _batches(str(tmp_path / "split"), "critic", cfg, 1, split="val")
    with pytest.raises(InputError, match="split must be one of"):
        _batches(str(tmp_path / "split"), "critic", cfg, 1, split="holdout")


def test_shards_without_a_manifest_split_by_clip_key(shard_dir: Path, cfg) -> None:
    from pdfgc.preprocess.splits import clip_id, split_of

    train_keys = {k for b in _batches(str(shard_dir), "critic", cfg, 4) for k in b["key"]}
    assert train_keys and all(split_of(clip_id(k), cfg.split) == "train" for k in train_keys)


def test_brace_patterns_and_folders_expand_in_order(shard_dir: Path) -> None:
    from_folder = expand_shards(str(shard_dir))
    from_braces = expand_shards(str(shard_dir / "pdfgc-{000000..000001}.tar"))
    assert from_folder == from_braces == [str(shard_dir / "pdfgc-000000.tar"), str(shard_dir / "pdfgc-000001.tar")]
    with pytest.raises(InputError, match="not found"):
        expand_shards(str(shard_dir / "missing"))


def _sample_with(member: str, payload: bytes) -> dict[str, bytes]:
    return {"face_ok.npy": b"", member: payload}


@pytest.mark.parametrize("member", ["evil.pyd", "weights.pth", "state.pkl"])
def test_pickle_like_members_are_refused(tmp_path: Path, cfg, member: str) -> None:
    shard = write_tar(tmp_path / "bad.tar", {"clip_000": _sample_with(member, b"cos\nsystem\n")})
    with pytest.raises(UnsafeShardError, match=rf"bad\.tar.*clip_000\.{member.split('.')[0]}"):
        _batches(str(shard), "critic", cfg, 1)


def test_member_names_that_leave_the_folder_are_refused(tmp_path: Path, cfg) -> None:
    shard = write_tar(tmp_path / "escape.tar", {"../../etc/clip": {"face_ok.npy": b"x"}})
    with pytest.raises(UnsafeShardError, match=r"escape\.tar.*\.\./\.\./etc/clip"):
        _batches(str(shard), "critic", cfg, 1)


def test_shards_without_usable_samples_stop_with_an_error(tmp_path: Path, cfg) -> None:
    write_test_shards(tmp_path, n_clips=1, frames=2, crop_size=32, seed=3)  # 1 face frame: too few for stage 1
    with pytest.raises(InputError, match="no sample .* usable for stage 1"):
        _batches(str(tmp_path), "1", cfg, 1)


def test_jpeg_header_gives_the_width_and_the_decode_reduction() -> None:
    from skimage import data

    photo = cv2.cvtColor(data.astronaut()[:256, :200], cv2.COLOR_RGB2BGR)  # (256, 200, 3)
    ok, encoded = cv2.imencode(".jpg", photo)
    assert ok and jpeg_width(encoded) == 200
    ok, webp = cv2.imencode(".webp", photo)
    assert jpeg_width(webp) is None
    assert [reduction_factor(224, s) for s in (224, 112, 64, 28, 20)] == [1, 2, 2, 8, 8]
    assert reduction_factor(100, 64) == 1


@pytest.mark.parametrize("crop", [128, 200])
def test_frames_match_the_resize_synthesis_applies_to_a_full_decode(tmp_path: Path, crop: int) -> None:
    """128 px crops are decoded straight at 64 px (DCT scaling), 200 px ones at 100 px and then
    resized; either way the model sees what ``to_tensor`` makes of the full-size crop."""
    from pdfgc.synth.synthesize import to_tensor

    write_test_shards(tmp_path, n_clips=2, frames=4, crop_size=crop, seed=5)
    cfg = load_config("tiny", ["train.shuffle_buffer=1"])
    batch = _batches(str(tmp_path), "critic", cfg, 1)[0]
    with tarfile.open(sorted(tmp_path.glob("*.tar"))[0]) as tar:
        names = {m.name: m for m in tar.getmembers()}
        key = batch["key"][0]
        blob = tar.extractfile(names[f"{key}.frames.mjpeg"]).read()
        offsets = np.load(io.BytesIO(tar.extractfile(names[f"{key}.frame_offsets.npy"]).read()))
    full = np.stack([cv2.imdecode(np.frombuffer(blob[offsets[t] : offsets[t + 1]], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
                     for t in range(len(offsets) - 1)])
    reference = to_tensor(np.ascontiguousarray(full), SIZE)
    errors = (batch_to_device(batch, torch.device("cpu"))["image"][0] - reference).abs().mean(dim=(1, 2, 3)) * 127.5
    assert errors.min() < 3.0  # grey levels out of 255; the neighbouring frames differ by more than 7


def test_frames_of_mixed_sizes_keep_their_order() -> None:
    frames = [np.full((side, side, 3), level, np.uint8) for side, level in ((128, 0), (64, 255), (128, 51))]
    images = torch.zeros((3, 3, SIZE, SIZE), dtype=torch.uint8)
    write_model_images(frames, images)
    assert [round(float(i.float().mean())) for i in images] == [0, 255, 51]


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(2, 3, 2), np.array([True, False, True]), np.arange(5, dtype=np.int64),
    np.linspace(0, 1, 16, dtype=np.float16).reshape(4, 4), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.zeros((0, 2), np.float32), np.array(2.5),
])
def test_read_npy_equals_np_load(array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    loaded = read_npy(buffer.getvalue())
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_read_npy_refuses_object_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="object"):
        read_npy(buffer.getvalue())


def test_frames_with_a_missing_label_are_never_drawn():
    """A face whose gaze is NaN (eyes closed) must not reach a batch."""
    from pdfgc.train.reader.loader import usable_frames
    from pdfgc.preprocess.writer import npy_bytes

    face_ok = np.array([True, True, True, False])
    gaze = np.zeros((4, 2), np.float32)
    gaze[1] = np.nan
    sample = {"face_ok.npy": npy_bytes(face_ok), "gaze.npy": npy_bytes(gaze)}
    for name, shape in (("pose", (6,)), ("expression", (14,)), ("blink", (2,)), ("landmarks", (68, 2))):
        sample[f"{name}.npy"] = npy_bytes(np.zeros((4, *shape), np.float32))
    assert usable_frames(sample).tolist() == [True, False, True, False]


def test_frames_at_the_model_size_become_rgb_planes() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    images = torch.zeros((2, 3, SIZE, SIZE), dtype=torch.uint8)
    write_model_images([frame], images[1:])
    np.testing.assert_array_equal(images[1].numpy(), frame[:, :, ::-1].transpose(2, 0, 1))  # BGR in, RGB planes out
    assert not images[0].any()


def test_sync_batches_hold_a_window_its_audio_and_off_sync_audio(shard_dir: Path) -> None:
    cfg = load_config("tiny", ["train.shuffle_buffer=4", "split.val_fraction=0", "split.test_fraction=0"])
    batch = _batches(str(shard_dir), "sync", cfg, 1)[0]
    size, sync = cfg.train.sync.batch_size, cfg.sync
    assert batch["window"].shape == (size, sync.frames, 3, SIZE, SIZE) and batch["window"].dtype == torch.uint8
    assert batch["mel"].shape == (size, 1, 80, 4 * sync.frames)
    assert batch["mel_shifted"].shape == (size, sync.shifted_negatives, 1, 80, 4 * sync.frames)
    assert not torch.isnan(batch_to_device(batch, torch.device("cpu"))["window"]).any()


def test_sync_plan_keeps_off_sync_centres_away_from_the_true_one() -> None:
    from pdfgc.train.reader.sync_plan import plan_sync_window

    cfg = load_config("tiny").sync
    face_ok = np.ones(40, dtype=bool)
    face_ok[10] = False
    for seed in range(20):
        t, shifted, window = plan_sync_window(face_ok, np.random.default_rng(seed), cfg)
        assert window == tuple(range(t - 2, t + 3)) and 10 not in window
        assert len(shifted) == cfg.shifted_negatives
        assert all(abs(c - t) >= cfg.min_shift and 2 <= c <= 37 for c in shifted)
    assert plan_sync_window(np.ones(4, dtype=bool), np.random.default_rng(0), cfg) is None
