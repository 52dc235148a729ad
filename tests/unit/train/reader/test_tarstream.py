import io
import tarfile

import pytest

from pdfgc.train.reader.tarstream import iter_regular_members

LONG = "k" * 120 + ".meta.json"


def _tar(fmt: int, members: list[tuple[str, bytes]], mtime: float = 1700000000.5, directory: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        if directory:
            info = tarfile.TarInfo("folder")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _with_tarfile(blob: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar if m.isreg()]


MEMBERS = [("a.frames.mjpeg", b"\xff\xd8" * 700), ("a.pose.npy", b"x" * 513), ("b.meta.json", b"{}"), (LONG, b"long")]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_same_members_as_tarfile(fmt):
    members = MEMBERS if fmt != tarfile.USTAR_FORMAT else MEMBERS[:3]  # ustar cannot hold LONG
    blob = _tar(fmt, members, directory=True)
    assert list(iter_regular_members(io.BytesIO(blob))) == _with_tarfile(blob) == members


def test_pax_long_name_and_float_mtime_use_the_fast_path():
    blob = _tar(tarfile.PAX_FORMAT, [(LONG, b"data")])
    assert list(iter_regular_members(io.BytesIO(blob))) == [(LONG, b"data")]


def test_truncated_tar_raises():
    blob = _tar(tarfile.USTAR_FORMAT, MEMBERS[:1])
    with pytest.raises(tarfile.ReadError):
        list(iter_regular_members(io.BytesIO(blob[: 512 + 100])))


def test_corrupt_header_raises():
    blob = bytearray(_tar(tarfile.USTAR_FORMAT, MEMBERS[:1]))
    blob[10] ^= 0xFF
    with pytest.raises(tarfile.HeaderError):
        list(iter_regular_members(io.BytesIO(bytes(blob))))
