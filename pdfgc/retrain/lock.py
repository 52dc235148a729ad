"""One retrain at a time per registry: an exclusive ``flock`` on a lock file named after the
tracking URI and registered model. The kernel drops the lock when the holding process dies, so
a crashed retrain never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from pdfgc.errors import PdfgcError

DEFAULT_LOCK_DIR = Path.home() / ".cache" / "pdfgc" / "locks"


class RetrainBusyError(PdfgcError):
    """Another retrain holds the lock of this registry."""


def lock_path(tracking_uri: str, registered_model: str, lock_dir: str | Path | None = None) -> Path:
    digest = hashlib.sha256(f"{tracking_uri}\n{registered_model}".encode()).hexdigest()[:16]
    return Path(lock_dir or DEFAULT_LOCK_DIR) / f"retrain-{digest}.lock"


@contextlib.contextmanager
def registry_lock(tracking_uri: str, registered_model: str, lock_dir: str | Path | None = None) -> Iterator[Path]:
    """Hold the registry's retrain lock; raise RetrainBusyError at once when it is taken."""
    path = lock_path(tracking_uri, registered_model, lock_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RetrainBusyError(
                f"another retrain of {registered_model} on {tracking_uri} is running (pid {holder}; lock {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)
