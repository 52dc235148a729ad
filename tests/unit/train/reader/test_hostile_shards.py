"""Defects 5 and 9 of the reliability issue: shard content that must not exhaust memory, or be
read silently when it is damaged or unsafe."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pdfgc.config import load_config
from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.media.image import read_image as read_image_file
from pdfgc.media.image_header import image_size
from pdfgc.preprocess.splits import clip_id, split_of
from pdfgc.train.reader.loader import build_loader
from pdfgc.train.reader.tarstream import iter_regular_members
from tests.helpers.hostile import pax_huge_size_tar, png_header, sparse_member_tar, with_jpeg_size, write_bytes
from tests.helpers.shards import _clip_members, write_tar

KEY = next(k for k in (f"spk0_vid{i:02d}_0_000" for i in range(50))
           if split_of(clip_id(k), load_config("tiny").split) == "train")
"""A key the training split reads (shards without a manifest split by clip id)."""


@pytest.fixture(scope="module")
def cfg():
    return load_config("tiny", ["train.shuffle_buffer=1", "limits.max_member_mb=8"])


@pytest.fixture(scope="module")
def members() -> dict[str, bytes]:
    return _clip_members(KEY, 0, 6, 64)


def batches(shard: Path, cfg) -> list:
    return list(build_loader(str(shard), "critic", cfg, rank=0, world_size=1, seed=0, num_batches=1))


def test_sparse_member_is_refused_naming_shard_and_member(tmp_path: Path, cfg) -> None:
    shard = write_bytes(tmp_path / "sparse.tar", sparse_member_tar())
    with pytest.raises(UnsafeShardError, match=r"sparse\.tar: member 'clip_000\.frames\.mjpeg' is a sparse file"):
        batches(shard, cfg)


def test_pax_size_beyond_the_cap_is_refused_before_reading(tmp_path: Path, cfg) -> None:
    shard = write_bytes(tmp_path / "pax.tar", pax_huge_size_tar(10**13))
    with pytest.raises(UnsafeShardError, match=r"pax\.tar: member 'clip_000\.face_ok\.npy': size 10000000000000 bytes exceeds"):
        batches(shard, cfg)


def test_member_over_max_member_mb_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("clip_000.mel.npy")
    info.size = 3 << 20
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w") as tar:
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with pytest.raises(UnsafeShardError, match=r"big\.tar: member 'clip_000\.mel\.npy': size 3145728 bytes exceeds the limit of 2097152"):
        list(iter_regular_members(io.BytesIO(blob.getvalue()), 2 << 20, "big.tar"))


def test_jpeg_header_claiming_65500_squared_is_refused(tmp_path: Path, cfg, members: dict[str, bytes]) -> None:
    offsets = np.load(io.BytesIO(members["frame_offsets.npy"]))
    blob = members["frames.mjpeg"]
    frames = [with_jpeg_size(blob[a:b], 65500, 65500) for a, b in zip(offsets[:-1], offsets[1:])]
    assert image_size(frames[0]) == (65500, 65500)
    shard = write_tar(tmp_path / "bomb.tar", {KEY: {**members, "frames.mjpeg": b"".join(frames)}})
    with pytest.raises(UnsafeShardError, match=rf"bomb\.tar: {KEY}\.frames\.mjpeg: frame \d+: image of 65500 x 65500 pixels exceeds"):
        batches(shard, cfg)


def test_png_of_10000_squared_is_refused_before_decoding(tmp_path: Path) -> None:
    png = write_bytes(tmp_path / "huge.png", png_header(10000, 10000))
    with pytest.raises(InputError, match=r"huge\.png: image of 10000 x 10000 pixels exceeds"):
        read_image_file(png)
    from pdfgc.synth.synthesize import read_image

    with pytest.raises(InputError, match="exceeds"):
        read_image(png, load_config("tiny").limits.max_image_pixels)


def test_small_png_still_reads(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "ok.png"
    cv2.imwrite(str(path), np.full((5, 7, 3), 9, np.uint8))
    assert read_image_file(path).shape == (5, 7, 3)


def test_shard_cut_on_a_block_boundary_warns(tmp_path: Path, members: dict[str, bytes], caplog: pytest.LogCaptureFixture) -> None:
    whole = write_tar(tmp_path / "whole.tar", {KEY: members}).read_bytes()
    end = len(whole.rstrip(b"\0"))
    cut = whole[: end + (-end) % 512]
    with caplog.at_level(logging.WARNING):
        names = [name for name, _ in iter_regular_members(io.BytesIO(cut), 8 << 20, "cut.tar")]
    assert len(names) == len(members)
    assert "cut.tar: ends without the end-of-archive blocks" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        list(iter_regular_members(io.BytesIO(whole), 8 << 20, "whole.tar"))
    assert "end-of-archive" not in caplog.text


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/shadow", "..\\evil"])
def test_unsafe_names_without_an_extension_stop_the_run(tmp_path: Path, cfg, members: dict[str, bytes], name: str) -> None:
    shard = tmp_path / "noext.tar"
    write_tar(shard, {KEY: members})
    with tarfile.open(shard, "a") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(UnsafeShardError, match=r"noext\.tar: member .* refused"):
        batches(shard, cfg)
