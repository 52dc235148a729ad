"""Find the input videos: a VoxCeleb-style tree, a flat folder, or a CSV/Parquet list.

Layouts recognised under a folder (local path or fsspec URL):
- VoxCeleb: ``idNNNNN/<video_id>/<clip>.mp4``; a ``<clip>.txt`` beside the clip (VoxCeleb2
  metadata: identity, reference, offset, FV conf and the per-frame face boxes) is read into
  ``VideoSpec.extra``.
- flat (HDTF-like): ``<name>.mp4`` directly in the folder; the speaker is the file stem.
A ``.csv`` or ``.parquet`` file lists videos in a ``path`` column with an optional ``speaker``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
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
    with fs.open(path, "r") as handle:
        lines = handle.read().splitlines()
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
