"""A fast reader for the regular members of a seekable tar (the training loader's hot path).

Python's ``tarfile`` builds a ``TarInfo`` per member (about a third of the loader's time on
small members). Shards are plain ustar, or PAX when written by tools that store float mtimes,
so this reader parses those two header kinds directly and hands anything else (GNU long names,
sparse files) to ``tarfile`` from that member on, so no member is lost or read twice.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")
DIRECTORY_LIKE = (b"1", b"2", b"3", b"4", b"5", b"6")
PAX_LOCAL = b"x"
PAX_GLOBAL = b"g"


def _field(header: bytes, start: int, stop: int) -> bytes:
    return header[start:stop].split(b"\0", 1)[0]


def _octal(header: bytes, start: int, stop: int) -> int:
    raw = _field(header, start, stop).strip()
    try:
        return int(raw or b"0", 8)
    except ValueError:
        raise tarfile.HeaderError(f"bad octal field {raw!r}") from None


def _check_sum(header: bytes) -> None:
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if _octal(header, 148, 156) != unsigned:
        raise tarfile.HeaderError("tar header checksum mismatch")


def _name(header: bytes) -> str:
    name = _field(header, 0, 100)
    if header[257:262] == b"ustar":
        prefix = _field(header, 345, 500)
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<len> key=value\\n"`` records of a PAX extended header."""
    records, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        length = int(data[pos:data.index(b" ", pos)])
        key, _, value = data[data.index(b" ", pos) + 1:pos + length - 1].partition(b"=")
        records[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise tarfile.ReadError("unexpected end of tar data")
    return data


def iter_regular_members(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """``(name, data)`` of every regular member of a seekable tar stream, in order."""
    pax: dict[str, str] = {}
    while True:
        start = stream.tell()
        header = stream.read(BLOCK)
        if len(header) < BLOCK or header == b"\0" * BLOCK:
            return
        _check_sum(header)
        kind = header[156:157]
        size = int(pax.get("size", _octal(header, 124, 136)))
        if kind not in REGULAR + DIRECTORY_LIKE + (PAX_LOCAL, PAX_GLOBAL):
            stream.seek(start)
            yield from _rest_with_tarfile(stream)
            return
        data = _read_exact(stream, size)
        stream.seek((-size) % BLOCK, 1)
        if kind == PAX_LOCAL:
            pax = _pax_records(data)
            continue
        if kind in REGULAR:
            yield pax.get("path", _name(header)), data
        pax = {}


def _rest_with_tarfile(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """tarfile starts reading at the stream's current position."""
    with tarfile.open(fileobj=stream, mode="r:") as tar:
        for member in tar:
            if member.isreg():
                yield member.name, tar.extractfile(member).read()
