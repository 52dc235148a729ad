"""Output roots on any fsspec filesystem (``s3://``, ``gs://``, ``file://``...): a local mirror
does the packing, the remote root holds the results.

Why a mirror: packing renames files and rewrites tables, which object stores cannot do
atomically; a whole-object upload is atomic there (readers see the old object or the new one).
So every remote write is an upload of a finished local file, in done-marker order:

- a worker stages its video locally, then uploads ``_staging/<uid>.tar`` and after it
  ``_staging/<uid>.json`` (the marker): workers on other machines need no shared disk;
- the packer (``pack.pack_shards``) first copies down what the remote root knows (shard stats
  files, the two tables, staged markers and their tars), packs in the mirror exactly as for a
  local root, then uploads each new shard's tar, then its ``_stats.json``, then the tables, and
  only then deletes the remote staging files of the uids now packed or quarantined.

A kill at any point leaves the remote root consistent: a tar without its stats file is
overwritten by the next pack (its shard number is free again), a marker is never uploaded
before its tar. The mirror is a cache: delete it and the next run rebuilds it from the remote
root. It holds no shard once published (stats files only), so its size stays small.
"""

from __future__ import annotations

import logging
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

from pdfgc.preprocess import manifest
from pdfgc.storage import MIRROR_ROOT_ENV, is_remote, mirror_dir  # noqa: F401 - part of this module's API

_logger = logging.getLogger(__name__)

STAGING_DIR = "_staging"
STATS_SUFFIX = "_stats.json"
TABLES = (manifest.MANIFEST_FILE, manifest.QUARANTINE_FILE)


def local_root(out: str) -> str:
    """Where packing and reading happen: ``out`` itself, or its mirror for a remote URL."""
    return str(mirror_dir(out)) if is_remote(out) else str(out)


def _fs_and_root(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = url_to_fs(url)
    return fs, root.rstrip("/")


def upload_staged(local_out: str, url: str, uid: str) -> None:
    """Upload one video's staged tar (when it has one), then its marker."""
    fs, root = _fs_and_root(url)
    fs.makedirs(f"{root}/{STAGING_DIR}", exist_ok=True)
    local = Path(local_out) / STAGING_DIR
    for name in (f"{uid}.tar", f"{uid}.json"):
        if (local / name).is_file():
            fs.put_file(str(local / name), f"{root}/{STAGING_DIR}/{name}")


def sync_down(url: str) -> Path:
    """Copy into the mirror what it lacks: shard stats, tables, staged tars and markers."""
    fs, root = _fs_and_root(url)
    mirror = mirror_dir(url)
    (mirror / STAGING_DIR).mkdir(parents=True, exist_ok=True)
    if not fs.exists(root):
        return mirror
    names = [Path(path).name for path in fs.ls(root, detail=False)]
    wanted = [n for n in names if n.endswith(STATS_SUFFIX) and not (mirror / n).exists()] + [n for n in TABLES if n in names]
    for name in wanted:
        fs.get_file(f"{root}/{name}", str(mirror / name))
    _fetch_staged(fs, f"{root}/{STAGING_DIR}", mirror / STAGING_DIR)
    return mirror


def _fetch_staged(fs: fsspec.AbstractFileSystem, remote: str, local: Path) -> None:
    """Markers come down after their tars, so a local marker always has its tar."""
    if not fs.exists(remote):
        return
    markers = sorted(Path(p).name for p in fs.ls(remote, detail=False) if p.endswith(".json"))
    for marker in markers:
        if (local / marker).exists():
            continue
        tar = marker.removesuffix(".json") + ".tar"
        if fs.exists(f"{remote}/{tar}"):
            fs.get_file(f"{remote}/{tar}", str(local / tar))
        fs.get_file(f"{remote}/{marker}", str(local / marker))


def publish(url: str, finished_uids: set[str]) -> list[str]:
    """Upload the mirror's shards the remote root lacks (tar, then stats), then the tables,
    then delete remote staging files of ``finished_uids``; returns the uploaded shard URLs."""
    fs, root = _fs_and_root(url)
    mirror = mirror_dir(url)
    fs.makedirs(root, exist_ok=True)
    uploaded = []
    for stats in sorted(mirror.glob(f"*{STATS_SUFFIX}")):
        remote_stats = f"{root}/{stats.name}"
        tar = stats.with_name(stats.name.removesuffix(STATS_SUFFIX) + ".tar")
        if not fs.exists(remote_stats):
            fs.put_file(str(tar), f"{root}/{tar.name}")
            fs.put_file(str(stats), remote_stats)
            uploaded.append(f"{url.rstrip('/')}/{tar.name}")
        tar.unlink(missing_ok=True)  # the mirror keeps stats only, never the data set
    for table in TABLES:
        if (mirror / table).is_file():
            fs.put_file(str(mirror / table), f"{root}/{table}")
    _remove_remote_staging(fs, f"{root}/{STAGING_DIR}", finished_uids)
    _logger.info("published %d shards to %s", len(uploaded), url)
    return uploaded


def _remove_remote_staging(fs: fsspec.AbstractFileSystem, remote: str, uids: set[str]) -> None:
    if not fs.exists(remote):
        return
    for path in fs.ls(remote, detail=False):
        name = Path(path).name
        if name.rsplit(".", 1)[0] in uids:
            fs.rm_file(path)
