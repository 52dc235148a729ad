"""Find the input videos: a VoxCeleb-style tree, a flat folder, or a CSV/Parquet list.

Layouts recognised under a folder (local path or fsspec URL):
- VoxCeleb: ``idNNNNN/<video_id>/<clip>.mp4``; a ``<clip>.txt`` beside the clip (VoxCeleb2
  metadata: identity, reference, offset, FV conf and the per-frame face boxes) is read into
  ``VideoSpec.extra``.
- flat (HDTF-like): ``<name>.mp4`` directly in the folder; the speaker is the file stem.
A ``.csv`` or ``.parquet`` file lists videos in a ``path`` column with an optional ``speaker``.

An input that cannot be read (a dangling symlink, a symlink loop, a file or folder without read
permission) does not stop the run: it becomes a spec with ``problem`` set, which the worker
quarantines with that reason while the other videos are processed.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

import fsspec
import pandas as pd

from pdfgc.errors import InputError

_logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
VOXCELEB_ID = re.compile(r"^id\d+$")
META_HEADER_FIELDS = ("Identity", "Reference", "Offset", "FV Conf", "ASD Conf")


@dataclass(frozen=True)
class VideoSpec:
    """One input video and where it belongs."""

    source: str
    """Path or URL of the video file."""
    speaker: str
    video: str
    clip: str
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    """VoxCeleb2 per-clip metadata when a .txt is present (header fields and ``n_track_frames``)."""
    sha256: str = field(default="", compare=False)
    """Content hash, once ``pending_videos`` has read the file (so the worker need not read it again)."""
    problem: str = field(default="", compare=False)
    """'' for a readable input, else why it cannot be read (a quarantine reason such as
    'dangling_symlink', 'symlink_loop', 'permission_denied', 'unlistable_folder')."""
    problem_detail: str = field(default="", compare=False)
    """The system's words for the problem (``PermissionError: Permission denied``)."""


def discover_videos(input: str) -> list[VideoSpec]:
    """List the videos under ``input``, sorted by source path.

    Examples
    --------
    >>> specs = discover_videos("/data/vox2/dev/mp4")  # doctest: +SKIP
    >>> specs[0].speaker, specs[0].video, specs[0].clip  # doctest: +SKIP
    ('id00012', '21Uxsk56VDQ', '00001')
    """
    fs, root = fsspec.core.url_to_fs(str(input))
    if not fs.exists(root):
        raise InputError(f"{input}: input not found")
    if root.endswith((".csv", ".parquet")):
        specs = _from_table(fs, root, str(input))
    elif fs.isdir(root) and _protocol_prefix(str(input)) in ("", "file://"):
        specs = _from_local_folder(fs, root, _protocol_prefix(str(input)))
    elif fs.isdir(root):
        specs = _from_folder(fs, root, _protocol_prefix(str(input)))
    else:
        raise InputError(f"{input}: expected a folder of videos or a .csv/.parquet list")
    _logger.info("discovered %d videos in %s", len(specs), input)
    return sorted(specs, key=lambda spec: spec.source)


def _protocol_prefix(url: str) -> str:
    return url.split("://", 1)[0] + "://" if "://" in url else ""


def _from_folder(fs: fsspec.AbstractFileSystem, root: str, prefix: str) -> list[VideoSpec]:
    specs = []
    for path in fs.find(root):
        if not path.lower().endswith(VIDEO_EXTENSIONS):
            continue
        relative = PurePosixPath(path).relative_to(PurePosixPath(root))
        specs.append(_spec_for(fs, path, relative, prefix))
    return specs


def _from_local_folder(fs: fsspec.AbstractFileSystem, root: str, prefix: str) -> list[VideoSpec]:
    """Walk a local tree (following directory symlinks once each); unreadable entries become
    specs with a ``problem`` instead of aborting the walk or vanishing silently."""
    specs: list[VideoSpec] = []
    seen_dirs: set[str] = set()

    def unlistable(error: OSError) -> None:
        path = str(error.filename)
        _logger.warning("%s: folder cannot be listed (%s); quarantined", path, error.strerror)
        spec = VideoSpec(prefix + path, *_names_for(path, root), {})
        specs.append(replace(spec, problem="unlistable_folder", problem_detail=str(error.strerror)))

    for folder, dirnames, filenames in os.walk(root, onerror=unlistable, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                path = os.path.join(folder, name)
                relative = PurePosixPath(path).relative_to(PurePosixPath(root))
                specs.append(_with_problem(_spec_for(fs, path, relative, prefix), path))
    return specs


def _names_for(path: str, root: str) -> tuple[str, str, str]:
    relative = PurePosixPath(path).relative_to(PurePosixPath(root)) if path != root else PurePosixPath(".")
    stem = relative.name or PurePosixPath(root).name
    return stem, stem, "00000"


def unreadable_reason(path: str) -> tuple[str, str]:
    """('', '') when ``path`` opens for reading, else (quarantine reason, detail)."""
    try:
        with open(path, "rb"):
            return "", ""
    except OSError as exc:
        return _reason_for(path, exc), f"{type(exc).__name__}: {exc.strerror or exc}"


def _reason_for(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink_loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "dangling_symlink"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if exc.errno == errno.EISDIR:
        return "not_a_file"
    return "unreadable"


def _with_problem(spec: VideoSpec, path: str) -> VideoSpec:
    reason, detail = unreadable_reason(path)
    if reason:
        _logger.warning("%s: %s (%s); quarantined", path, reason, detail)
        return replace(spec, problem=reason, problem_detail=detail)
    return spec


def _spec_for(fs: fsspec.AbstractFileSystem, path: str, relative: PurePosixPath, prefix: str) -> VideoSpec:
    parts = relative.parts
    source = prefix + path if prefix else path
    if len(parts) >= 3 and VOXCELEB_ID.match(parts[-3]):
        meta_path = str(PurePosixPath(path).with_suffix(".txt"))
        extra = _read_voxceleb_meta(fs, meta_path) if fs.exists(meta_path) else {}
        return VideoSpec(source, parts[-3], parts[-2], relative.stem, extra)
    return VideoSpec(source, relative.stem, relative.stem, "00000", {})


def _read_voxceleb_meta(fs: fsspec.AbstractFileSystem, path: str) -> dict:
    """Header fields of a VoxCeleb2 clip .txt plus the number of face-track rows."""
    extra: dict = {}
    try:
        with fs.open(path, "r") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _logger.warning("%s: clip metadata unreadable (%s); ignored", path, exc)
        return extra
    n_rows = 0
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() in META_HEADER_FIELDS:
            extra[key.strip().lower().replace(" ", "_")] = value.strip()
        elif line[:1].isdigit():
            n_rows += 1
    extra["n_track_frames"] = n_rows
    return extra


def _from_table(fs: fsspec.AbstractFileSystem, root: str, input: str) -> list[VideoSpec]:
    with fs.open(root, "rb") as handle:
        table = pd.read_parquet(handle) if root.endswith(".parquet") else pd.read_csv(handle)
    if "path" not in table.columns:
        raise InputError(f"{input}: missing column 'path' (found {', '.join(map(str, table.columns))})")
    specs = []
    for row in table.itertuples(index=False):
        stem = PurePosixPath(str(row.path)).stem
        speaker = getattr(row, "speaker", None)
        speaker = str(speaker) if isinstance(speaker, str) and speaker else stem
        specs.append(VideoSpec(str(row.path), speaker, stem, "00000", {}))
    return specs
