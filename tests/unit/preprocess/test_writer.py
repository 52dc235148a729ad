"""Tar sample writer/reader: round trip, deterministic bytes, refusal of unsafe members."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from pdfgc.preprocess.writer import (
    TarSampleWriter, decode_frames, encode_frames, json_bytes, load_npy, npy_bytes, read_sample_members,
)
from pdfgc.shardformat import sanitize_key
from pdfgc.errors import UnsafeShardError


def gradient_image(shift: int) -> np.ndarray:
    y, x = np.mgrid[0:32, 0:48]
    return np.stack([(x * 5 + shift) % 256, y * 7 % 256, np.full_like(x, 90)], axis=-1).astype(np.uint8)


def write_tar(path: Path, samples: dict[str, dict[str, bytes]]) -> Path:
    with open(path, "wb") as stream, TarSampleWriter(stream) as tar:
        for key, members in samples.items():
            tar.write_sample(key, members)
    return path


def test_sanitize_key_leaves_only_safe_characters() -> None:
    assert sanitize_key("id001/../a b.c_d-E9") == "id001----a-b-c_d-E9"


def test_round_trip_of_frames_arrays_and_json(tmp_path: Path) -> None:
    images = [gradient_image(0), gradient_image(40)]
    blob, offsets = encode_frames(images, "jpg", 95)
    mel = np.linspace(0, 1, 40, dtype=np.float16).reshape(8, 5)
    path = write_tar(tmp_path / "s.tar", {"spk_vid_000": {
        "frames.mjpeg": blob, "frame_offsets.npy": npy_bytes(offsets), "mel.npy": npy_bytes(mel),
        "meta.json": json_bytes({"n": 2}),
    }})
    sample = read_sample_members(path)["spk_vid_000"]
    decoded = decode_frames(sample["frames.mjpeg"], load_npy(sample["frame_offsets.npy"]))
    assert decoded.shape == (2, 32, 48, 3)
    assert np.abs(decoded.astype(int) - np.stack(images)).mean() < 3.0  # lossy, but close
    assert offsets[0] == 0 and offsets[-1] == len(blob) and offsets.dtype == np.int64
    assert np.array_equal(load_npy(sample["mel.npy"]), mel)
    assert sample["meta.json"] == b'{"n": 2}'


def test_headers_are_deterministic_and_ustar(tmp_path: Path) -> None:
    members = {"a.npy": npy_bytes(np.arange(3)), "meta.json": b"{}"}
    first = write_tar(tmp_path / "1.tar", {"k": members}).read_bytes()
    second = write_tar(tmp_path / "2.tar", {"k": members}).read_bytes()
    assert first == second
    with tarfile.open(tmp_path / "1.tar") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == ["k.a.npy", "k.meta.json"]
    assert all(i.mtime == 0 and i.uid == 0 and i.uname == "" for i in infos)


def test_webp_frames_round_trip(tmp_path: Path) -> None:
    blob, offsets = encode_frames([gradient_image(3)], "webp", 90)
    assert blob[8:12] == b"WEBP"
    assert decode_frames(blob, offsets).shape == (1, 32, 48, 3)


def test_plain_webdataset_reads_the_shard(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "w.tar", {f"k{i}": {"mel.npy": npy_bytes(np.full(2, i)), "meta.json": b"{}"} for i in range(3)})
    keys = [sample["__key__"] for sample in wds.WebDataset(str(path), shardshuffle=False)]
    assert keys == ["k0", "k1", "k2"]


def test_writer_refuses_unsafe_keys() -> None:
    with TarSampleWriter(io.BytesIO()) as tar, pytest.raises(UnsafeShardError):
        tar.write_sample("../evil", {"meta.json": b"{}"})


@pytest.mark.parametrize("name", ["../up.npy", "/abs/x.npy", "k.payload.pyd", "k.obj.pickle", "k.x.pkl", "k.model.pth"])
def test_reader_refuses_unsafe_members(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(UnsafeShardError):
        read_sample_members(path)
