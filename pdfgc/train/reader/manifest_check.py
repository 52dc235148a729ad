"""The manifest that describes the shards a run trains on, checked before training starts.

A run records the SHA-256 of ``manifest.parquet`` as its data version. That hash is only
worth something if the file is a readable manifest and lists every shard of the run with the
sample count its stats file gives; a garbage file, or the manifest of another data set left
beside the shards, stops the run with one line instead of being recorded as the data.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import defaultdict
from pathlib import Path

import pandas as pd

from pdfgc.errors import InputError

_logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.parquet"
STATS_SUFFIX = "_stats.json"
REQUIRED_COLUMNS = ("key", "shard")


def verified_manifest_hash(urls: list[str]) -> str | None:
    """SHA-256 of the manifest beside the shards once it is checked against them (several
    folders: a hash over their manifests' hashes); None for remote shards or when no folder has
    a manifest. InputError naming the file when a manifest is unreadable or does not match."""
    if any("://" in url for url in urls):
        return None
    by_folder: dict[Path, list[str]] = defaultdict(list)
    for url in urls:
        by_folder[Path(url).resolve().parent].append(Path(url).name)
    hashes = []
    for folder, names in sorted(by_folder.items()):
        path = folder / MANIFEST_FILE
        if not path.is_file():
            _logger.warning("%s: no %s beside the shards; the run records no data hash", folder, MANIFEST_FILE)
            continue
        hashes.append(_check_one(path, names))
    if not hashes:
        return None
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _check_one(path: Path, shard_names: list[str]) -> str:
    data = path.read_bytes()
    try:
        table = pd.read_parquet(io.BytesIO(data), columns=list(REQUIRED_COLUMNS))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise InputError(f"{path}: not a readable manifest ({type(exc).__name__}: {str(exc)[:120]})") from None
    counts = table["shard"].value_counts().to_dict()
    missing = [name for name in shard_names if name not in counts]
    if missing:
        raise InputError(f"{path}: does not list shard(s) {', '.join(sorted(missing)[:3])} "
                         "(the manifest of another data set?)")
    for name in shard_names:
        stats = path.parent / (name.removesuffix(".tar") + STATS_SUFFIX)
        if stats.is_file():
            expected = json.loads(stats.read_text()).get("n_samples")
            if expected is not None and counts[name] != expected:
                raise InputError(f"{path}: lists {counts[name]} samples of {name}, its stats file says {expected}")
    return hashlib.sha256(data).hexdigest()
