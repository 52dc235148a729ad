import stat

import pytest

from pdfgc.io import atomic_path, atomic_write_json


def test_atomic_write_leaves_only_the_target_readable_by_others(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "stats.json", {"a": 1})
    assert path.read_text().strip().startswith("{")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["stats.json"]


def test_a_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
