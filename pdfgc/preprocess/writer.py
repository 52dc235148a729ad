"""WebDataset tar samples: deterministic headers, image and array encoding.

A sample is a dict ``{field: bytes}`` stored as members ``{key}.{field}`` (``frames.mjpeg``,
``mel.npy``, ``meta.json``, ...); the key and member-name rules are ``pdfgc.shardformat``'s.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from pdfgc.errors import UnsafeShardError
from pdfgc.shardformat import check_member_name, sanitize_key

_logger = logging.getLogger(__name__)

MEMBER_MODE = 0o644
IMAGE_EXTENSIONS = {"jpg": ".jpg", "webp": ".webp"}


def encode_image(rgb: np.ndarray, image_format: str, quality: int) -> bytes:
    """JPEG or WebP bytes of an RGB uint8 image (H, W, 3)."""
    flag = cv2.IMWRITE_JPEG_QUALITY if image_format == "jpg" else cv2.IMWRITE_WEBP_QUALITY
    ok, encoded = cv2.imencode(IMAGE_EXTENSIONS[image_format], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [flag, quality])
    if not ok:
        raise ValueError(f"cv2 could not encode a {rgb.shape} image as {image_format}")
    return encoded.tobytes()


def encode_frames(crops: Iterable[np.ndarray], image_format: str, quality: int) -> tuple[bytes, np.ndarray]:
    """Concatenated images and their byte offsets, int64 (T + 1,)."""
    parts = [encode_image(crop, image_format, quality) for crop in crops]
    offsets = np.zeros(len(parts) + 1, np.int64)
    offsets[1:] = np.cumsum([len(part) for part in parts])
    return b"".join(parts), offsets


def decode_frames(blob: bytes, offsets: np.ndarray) -> np.ndarray:
    """Inverse of ``encode_frames``: RGB uint8 (T, H, W, 3)."""
    images = []
    for start, stop in zip(offsets[:-1], offsets[1:]):
        bgr = cv2.imdecode(np.frombuffer(blob[start:stop], np.uint8), cv2.IMREAD_COLOR)
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return np.stack(images)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, default=str).encode("utf-8")


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class TarSampleWriter:
    """Appends samples to an open binary stream as a ustar tar with fixed headers.

    Args:
        stream: a writable binary file; the caller owns it (and makes the write atomic).
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._tar = tarfile.open(fileobj=stream, mode="w", format=tarfile.USTAR_FORMAT)

    def write_sample(self, key: str, members: dict[str, bytes]) -> None:
        if key != sanitize_key(key) or not key:
            raise UnsafeShardError(f"sample key {key!r}: only [A-Za-z0-9_-] is allowed")
        for field in sorted(members):
            self.write_member(f"{key}.{field}", members[field])

    def write_member(self, name: str, data: bytes) -> None:
        check_member_name(name)
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, MEMBER_MODE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> TarSampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_tar_members(tar_path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every regular member, in order, after the safety checks."""
    with tarfile.open(tar_path, mode="r:") as tar:
        for info in tar:
            check_member_name(info.name)
            if not info.isreg():
                raise UnsafeShardError(f"{tar_path}: member {info.name!r} is not a regular file")
            yield info.name, tar.extractfile(info).read()


def read_sample_members(tar_path: str | Path) -> dict[str, dict[str, bytes]]:
    """``{key: {field: bytes}}`` of a shard, refusing unsafe members with UnsafeShardError."""
    samples: dict[str, dict[str, bytes]] = {}
    for name, data in iter_tar_members(tar_path):
        key, _, field = name.partition(".")
        samples.setdefault(key, {})[field] = data
    return samples
