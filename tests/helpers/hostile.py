"""Hostile shard and image content (defect 5 of the reliability issue), built in memory."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

from pdfgc.media.image_header import JPEG_SOF


def tar_bytes(members: list[tarfile.TarInfo], payloads: list[bytes], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, payload in zip(members, payloads, strict=True):
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def sparse_member_tar(name: str = "clip_000.frames.mjpeg", claimed: int = 2 << 30) -> bytes:
    """A GNU sparse member: a tiny header whose real size claims ``claimed`` bytes."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 512
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[483:495] = f"{claimed:011o}\0".encode()  # realsize of an old-GNU sparse header
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header) + b"\0" * 512 + b"\0" * 1024


def pax_huge_size_tar(size: int = 10**13) -> bytes:
    """A PAX header that claims ``size`` bytes for the member after it."""
    info = tarfile.TarInfo("clip_000.face_ok.npy")
    info.size = 3
    info.pax_headers = {"size": str(size)}
    return tar_bytes([info], [b"abc"], tarfile.PAX_FORMAT)


def with_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG bytes with the SOF header claiming ``width`` x ``height``."""
    data, pos = bytearray(jpeg), 2
    while data[pos + 1] not in JPEG_SOF:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR says ``width`` x ``height`` (one compressed row of zeros follows)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * (1 + 3 * min(width, 16)))
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat)))


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
