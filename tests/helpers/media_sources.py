"""Test media on a plain clone: the offline mirror when present, else the pinned public files
(``tests/media_sources.json``) downloaded once into a cache and checked by SHA-256."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

SOURCES_FILE = Path(__file__).resolve().parents[1] / "media_sources.json"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pdfgc" / "samples"
TIMEOUT_S = 30


class MediaUnavailable(Exception):
    """Neither the mirror nor the download worked; the message is one line saying what is missing."""


def sources() -> dict:
    return json.loads(SOURCES_FILE.read_text())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _complete(folder: Path, files: list[dict]) -> bool:
    return all((folder / f["file"]).is_file() and _sha256(folder / f["file"]) == f["sha256"] for f in files)


def source_url(base_url: str, entry: dict) -> str:
    return f"{base_url.rstrip('/')}/{entry['repo']}/{entry['commit']}/{entry['path']}"


def fetch_samples(cache: Path = DEFAULT_CACHE, base_url: str | None = None) -> Path:
    """The cache folder holding every listed file with its pinned hash, downloading what is missing."""
    listing = sources()
    base = base_url or os.environ.get("PDFGC_SAMPLES_BASE_URL") or listing["base_url"]
    for entry in listing["files"]:
        target = cache / entry["file"]
        if target.is_file() and _sha256(target) == entry["sha256"]:
            continue
        url = source_url(base, entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(partial, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise MediaUnavailable(f"cannot download {url} ({getattr(exc, 'reason', exc)})") from None
        if _sha256(partial) != entry["sha256"]:
            partial.unlink()
            raise MediaUnavailable(f"{url}: SHA-256 differs from the pinned {entry['sha256'][:12]}...")
        partial.replace(target)
    return cache


def find_samples(mirror: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """``mirror`` when it holds the files, else the verified download cache; MediaUnavailable
    with one line naming both when neither works."""
    files = sources()["files"]
    if _complete(mirror, files):
        return mirror
    try:
        return fetch_samples(cache)
    except MediaUnavailable as exc:
        raise MediaUnavailable(
            f"test media missing: no mirror at {mirror} and {exc}; lay shared/samples beside the "
            "clone, set PDFGC_SHARED_SAMPLES, or allow downloads (tests/media_sources.json)"
        ) from None
