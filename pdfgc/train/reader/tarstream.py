"""A fast reader for the regular members of a seekable tar (the training loader's hot path).

Python's ``tarfile`` builds a ``TarInfo`` per member (about a third of the loader's time on
small members). Shards are plain ustar, or PAX when written by tools that store float mtimes,
so this reader parses those two header kinds directly and hands anything else (GNU long names,
sparse files) to ``tarfile`` from that member on, so no member is lost or read twice.

Shards are untrusted: a member larger than ``max_member_bytes`` (a PAX header may claim 10^13
bytes) and any sparse member (a 4 MB tar can expand to gigabytes) are refused with an
``UnsafeShardError`` naming the shard and the member, before anything is allocated. A tar that
ends without its end-of-archive blocks (cut on a block boundary) is read with a warning.
"""

from __future__ import annotations

import logging
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from pdfgc.errors import UnsafeShardError

_logger = logging.getLogger(__name__)

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")
DIRECTORY_LIKE = (b"1", b"2", b"3", b"4", b"5", b"6")
PAX_LOCAL = b"x"
PAX_GLOBAL = b"g"
GNU_SPARSE = b"S"
DEFAULT_MAX_MEMBER_BYTES = 512 << 20


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


def iter_regular_members(stream: BinaryIO, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
                         where: str = "tar") -> Iterator[tuple[str, bytes]]:
    """``(name, data)`` of every regular member of a seekable tar stream, in order; ``where``
    (the shard's URL) names the shard in errors and warnings."""
    pax: dict[str, str] = {}
    while True:
        start = stream.tell()
        header = stream.read(BLOCK)
        if len(header) < BLOCK:
            _logger.warning("%s: ends without the end-of-archive blocks (truncated?) at byte %d", where, start)
            return
        if header == b"\0" * BLOCK:
            return
        _check_sum(header)
        kind = header[156:157]
        name = pax.get("path", _name(header))
        size = _checked_size(pax.get("size", _octal(header, 124, 136)), max_member_bytes, f"{where}: member {name!r}")
        if kind == GNU_SPARSE or any(key.startswith("GNU.sparse") for key in pax):
            raise UnsafeShardError(f"{where}: member {name!r} is a sparse file; refusing the shard")
        if kind not in REGULAR + DIRECTORY_LIKE + (PAX_LOCAL, PAX_GLOBAL):
            stream.seek(start)
            yield from _rest_with_tarfile(stream, max_member_bytes, where)
            return
        data = _read_exact(stream, size)
        stream.seek((-size) % BLOCK, 1)
        if kind == PAX_LOCAL:
            pax = _pax_records(data)
            continue
        if kind in REGULAR:
            yield name, data
        pax = {}


def _checked_size(raw: str | int, limit: int, what: str) -> int:
    try:
        size = int(raw)
    except ValueError:
        raise tarfile.HeaderError(f"{what}: bad size {raw!r}") from None
    if size < 0 or size > limit:
        raise UnsafeShardError(f"{what}: size {size} bytes exceeds the limit of {limit} (limits.max_member_mb)")
    return size


def _rest_with_tarfile(stream: BinaryIO, max_member_bytes: int, where: str) -> Iterator[tuple[str, bytes]]:
    """tarfile starts reading at the stream's current position."""
    with tarfile.open(fileobj=stream, mode="r:") as tar:
        for member in tar:
            what = f"{where}: member {member.name!r}"
            if member.issparse():
                raise UnsafeShardError(f"{what} is a sparse file; refusing the shard")
            if member.isreg():
                _checked_size(member.size, max_member_bytes, what)
                yield member.name, tar.extractfile(member).read()
