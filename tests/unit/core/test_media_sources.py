"""Test media on a plain clone: download from the pinned sources (here a local HTTP server
serving a copy of the mirror), SHA-256 checks, and a one-line error when nothing works."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.media_sources import MediaUnavailable, fetch_samples, find_samples, sources


@pytest.fixture()
def served(shared_samples: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 laid out like raw.githubusercontent.com (owner/repo/commit/path)."""
    root = tmp_path / "www"
    for entry in sources()["files"]:
        target = root / entry["repo"] / entry["commit"] / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_samples / entry["file"], target)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_fetch_downloads_and_verifies_every_file(served: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = served
    cache = fetch_samples(tmp_path / "cache", url)
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) == sorted(
        e["file"] for e in sources()["files"])
    assert len(sorted((cache / "videos").glob("*.mp4"))) == 2


def test_find_samples_falls_back_to_the_download(served: tuple[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = served
    monkeypatch.setenv("PDFGC_SAMPLES_BASE_URL", url)
    assert find_samples(tmp_path / "no-mirror", tmp_path / "cache") == tmp_path / "cache"


def test_a_file_with_another_hash_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    url, root = served
    entry = sources()["files"][0]
    (root / entry["repo"] / entry["commit"] / entry["path"]).write_bytes(b"not the video")
    with pytest.raises(MediaUnavailable, match="SHA-256 differs"):
        fetch_samples(tmp_path / "cache", url)
    assert not (tmp_path / "cache" / entry["file"]).exists()


def test_unreachable_sources_give_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFGC_SAMPLES_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(MediaUnavailable) as err:
        find_samples(tmp_path / "no-mirror", tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message and "no mirror at" in message and "cannot download http://127.0.0.1:9/" in message
