"""Run folders on any fsspec filesystem (``s3://``, ``gs://``, ``file://``): a local working
folder does the work, the remote root keeps what must outlive the machine.

A training stage writes checkpoints, its export and its result files into a local working
folder exactly as for a local run, and ``RunStore`` copies each finished file to the remote
root. Object stores have no rename, so the atomic steps are:

- a whole-object upload is atomic: a reader sees the previous object or the new one, never a
  part (S3 and GCS publish a multipart upload only when it completes);
- ``latest.pt`` is refreshed by uploading ``step_N.pt`` first and then a server-side copy of
  it onto ``latest.pt``: one atomic replace, and no byte travels twice. A crash between the
  two leaves the previous ``latest.pt``, so a resume loses at most ``checkpoint_every`` steps;
- downloads land on a temp name beside the target and are renamed into place, so ranks that
  share a working folder never read a partial file.

The working folder of a remote root is ``$PDFGC_MIRROR_ROOT/<hash of the URL>`` (default
``~/.cache/pdfgc/mirrors``): a cache that a fresh machine rebuilds from the remote root.
Credentials and the endpoint come only from the environment or the standard AWS / GCP
configuration files (``AWS_ENDPOINT_URL`` selects an S3-compatible server); nothing here
takes or logs them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

from pdfgc.errors import InputError
from pdfgc.io import atomic_path

_logger = logging.getLogger(__name__)

MIRROR_ROOT_ENV = "PDFGC_MIRROR_ROOT"
"""Folder holding the local working folders of remote roots (default ``~/.cache/pdfgc/mirrors``)."""
FETCHED_DIR = "fetched"
"""Sub-folder of the mirror root holding single files fetched by URL (models, exports)."""


def is_remote(out: str | Path) -> bool:
    """True for any URL with a protocol (``file://`` included): it goes through fsspec."""
    return "://" in str(out)


def mirror_base() -> Path:
    return Path(os.environ.get(MIRROR_ROOT_ENV, Path.home() / ".cache" / "pdfgc" / "mirrors"))


def mirror_dir(url: str) -> Path:
    """The local working folder of ``url``: one folder per URL under ``$PDFGC_MIRROR_ROOT``."""
    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    return mirror_base() / digest


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of ``url`` and the path inside it (no trailing slash)."""
    fs, root = url_to_fs(url)
    return fs, root.rstrip("/")


def download(url: str, target: Path) -> Path:
    """Copy ``url`` to ``target`` through a temp name (atomic for readers of ``target``)."""
    fs, path = filesystem(url)
    with atomic_path(target) as tmp:
        fs.get_file(path, str(tmp))
    return target


def fetch_file(url: str) -> Path:
    """A local copy of one remote file (re-downloaded each call: a model may be replaced)."""
    fs, path = filesystem(url)
    if not fs.isfile(path):
        raise InputError(f"{url}: no such file")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return download(url, mirror_base() / FETCHED_DIR / digest / Path(path).name)


@dataclass(frozen=True)
class RunStore:
    """A run folder: ``local`` always; ``remote`` (an fsspec URL) when the run lives there.

    Args:
        local: the working folder where files are written and read.
        remote: the durable copy; None for a plain local run (every method is then a no-op).
    """

    local: Path
    remote: str | None = None

    @classmethod
    def at(cls, out: str | Path) -> RunStore:
        """``out`` itself for a local folder; a URL's working folder plus the URL otherwise."""
        text = str(out)
        if not is_remote(text):
            return cls(Path(text))
        return cls(mirror_dir(text), text.rstrip("/"))

    def child(self, name: str) -> RunStore:
        return RunStore(self.local / name, f"{self.remote}/{name}" if self.remote else None)

    def url(self, name: str) -> str:
        """Where ``name`` lives durably: the remote URL of a remote run, the local path otherwise."""
        return f"{self.remote}/{name}" if self.remote else str(self.local / name)

    def upload(self, name: str) -> None:
        """Copy ``local/name`` to ``remote/name`` as one whole-object write."""
        if self.remote is None:
            return
        fs, root = filesystem(self.remote)
        fs.makedirs(root, exist_ok=True)
        fs.put_file(str(self.local / name), f"{root}/{name}")

    def copy_remote(self, source: str, target: str) -> None:
        """Server-side copy ``remote/source`` onto ``remote/target`` (an atomic replace)."""
        if self.remote is None:
            return
        fs, root = filesystem(self.remote)
        fs.copy(f"{root}/{source}", f"{root}/{target}")

    def fetch(self, name: str) -> bool:
        """Refresh ``local/name`` from the remote copy; False when the remote has none (or
        the run is local, where the local file is the only copy)."""
        if self.remote is None:
            return False
        fs, root = filesystem(self.remote)
        if not fs.isfile(f"{root}/{name}"):
            return False
        download(f"{self.remote}/{name}", self.local / name)
        return True

    def exists(self, name: str) -> bool:
        if self.remote is None:
            return (self.local / name).exists()
        fs, root = filesystem(self.remote)
        return fs.isfile(f"{root}/{name}")

    def prune(self, pattern: str, keep: int) -> None:
        """Delete all but the last ``keep`` remote files matching ``pattern`` (sorted by name)."""
        if self.remote is None:
            return
        fs, root = filesystem(self.remote)
        if not fs.exists(root):
            return
        names = sorted(Path(p).name for p in fs.ls(root, detail=False))
        matching = [n for n in names if fnmatch.fnmatch(n, pattern)]
        for name in matching[: max(0, len(matching) - keep)]:
            fs.rm_file(f"{root}/{name}")


def list_urls(url: str, pattern: str) -> list[str]:
    """URLs of the files matching ``pattern`` (a glob) directly under the folder ``url``, sorted."""
    fs, root = filesystem(url)
    return sorted(f"{url.rstrip('/')}/{Path(path).name}" for path in fs.glob(f"{root}/{pattern}"))
