"""Image dimensions from the header alone, so a hostile file cannot make a decoder allocate
gigabytes: a 378-byte JPEG may claim 65500 x 65500 pixels, a 120 KB PNG 10000 x 10000."""

from __future__ import annotations

import struct

from pdfgc.errors import InputError

JPEG_MAGIC = b"\xff\xd8"
JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_PIXELS = 4096 * 4096


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG, WebP, GIF or BMP header; None when not recognised."""
    if data[:2] == JPEG_MAGIC:
        return _jpeg_size(data)
    if data[:8] == PNG_MAGIC and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in JPEG_SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def check_pixels(data: bytes, max_pixels: int, where: str, error: type[Exception] = InputError) -> tuple[int, int]:
    """The header's (width, height); ``error`` naming ``where`` when the header is unreadable
    or claims more than ``max_pixels`` pixels."""
    size = image_size(data)
    if size is None:
        raise error(f"{where}: unrecognised image header (JPEG, PNG, WebP, GIF or BMP expected)")
    if size[0] * size[1] > max_pixels:
        raise error(f"{where}: image of {size[0]} x {size[1]} pixels exceeds the limit of {max_pixels} "
                    "(limits.max_image_pixels)")
    return size
