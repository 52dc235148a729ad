"""Evaluation clips: which samples of a shard folder a split holds, and their frames and audio.

An evaluation clip is one shard sample (one chunk of a clip, ``data.chunk_frames`` frames):
its aligned crops are used as they are (preprocessing already aligned them), with its log-mel
rows (4 per frame) and its ``face_ok`` flags. Samples are picked from ``manifest.parquet``
by its ``split`` column (train / val / test), in key order, so two runs see the same clips.
"""

from __future__ import annotations

import json
import logging
import tarfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import fsspec
import numpy as np
import pandas as pd

from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.preprocess.manifest import MANIFEST_FILE
from pdfgc.preprocess.writer import check_member_name, decode_frames, load_npy

_logger = logging.getLogger(__name__)

SPLITS = ("test", "val", "train", "all")
SPLIT_COLUMN = "split"
CLIP_MEMBERS = ("frames.mjpeg", "frame_offsets.npy", "mel.npy", "face_ok.npy", "meta.json")


@dataclass(frozen=True)
class ClipRef:
    """Where one evaluation clip lives."""

    key: str
    speaker: str
    shard: str


@dataclass
class ClipData:
    """One clip's aligned crops and audio features."""

    key: str
    speaker: str
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB aligned crops
    mel: np.ndarray  # (4T, n_mels) float32 log-mel in [0, 1]
    face_ok: np.ndarray  # (T,) bool

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def source_index(self) -> int:
        """The first frame with a face: the portrait of self-driven reconstruction."""
        return int(np.flatnonzero(self.face_ok)[0])


def _join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def read_manifest(shards: str) -> pd.DataFrame:
    """``manifest.parquet`` of a shard folder (local or fsspec URL)."""
    path = _join(shards, MANIFEST_FILE)
    try:
        with fsspec.open(path, "rb") as stream:
            table = pd.read_parquet(stream)
    except FileNotFoundError:
        raise InputError(f"{path}: no manifest (is {shards} a folder written by pdfgc preprocess?)") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt table: one line naming it
        raise InputError(f"{path}: unreadable manifest ({type(exc).__name__}: {exc})") from None
    missing = {"key", "speaker", "shard"} - set(table.columns)
    if missing:
        raise InputError(f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}")
    return table


def select_clips(manifest: pd.DataFrame, split: str, max_clips: int | None, where: str = "manifest") -> list[ClipRef]:
    """The split's samples in key order, at most ``max_clips`` (spread over speakers: the first
    sample of each speaker before the second of any)."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r} (allowed: {', '.join(SPLITS)})")
    table = manifest
    if split != "all":
        if SPLIT_COLUMN not in manifest.columns:
            raise InputError(f"{where}: no '{SPLIT_COLUMN}' column (shards written before speaker-disjoint "
                             f"splits); re-run pdfgc preprocess on them or pass --split all")
        table = manifest[manifest[SPLIT_COLUMN] == split]
    if table.empty:
        present = sorted(set(manifest[SPLIT_COLUMN])) if SPLIT_COLUMN in manifest.columns else []
        raise InputError(f"{where}: split {split!r} has no clips ({len(manifest)} samples in all"
                         + (f"; splits present: {', '.join(present)})" if present else ")"))
    table = table.sort_values("key")
    table = table.assign(_rank=table.groupby("speaker").cumcount()).sort_values(["_rank", "key"])
    if max_clips is not None:
        table = table.head(max_clips)
    return [ClipRef(str(r.key), str(r.speaker), str(r.shard)) for r in table.itertuples()]


def _shard_url(shards: str, shard: str) -> str:
    name = PurePosixPath(shard).name
    if name != shard or "\\" in shard or not name.endswith(".tar") or name.startswith("."):
        raise UnsafeShardError(f"manifest names an unsafe shard {shard!r}")
    return _join(shards, name)


def _wanted_members(url: str, keys: set[str]) -> dict[str, dict[str, bytes]]:
    """Members of ``keys`` in one shard (streamed; other samples' members are skipped)."""
    found: dict[str, dict[str, bytes]] = {}
    with fsspec.open(url, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            check_member_name(info.name)
            key, _, field = info.name.partition(".")
            if key in keys and field in CLIP_MEMBERS and info.isreg():
                found.setdefault(key, {})[field] = tar.extractfile(info).read()
    return found


def _to_clip(ref: ClipRef, members: dict[str, bytes]) -> ClipData:
    missing = [m for m in CLIP_MEMBERS if m not in members]
    if missing:
        raise InputError(f"sample {ref.key} in {ref.shard}: missing member(s) {', '.join(missing)}")
    frames = decode_frames(members["frames.mjpeg"], load_npy(members["frame_offsets.npy"]))
    mel = load_npy(members["mel.npy"]).astype(np.float32)
    face_ok = load_npy(members["face_ok.npy"]).astype(bool)
    json.loads(members["meta.json"])  # a sample whose meta does not parse is refused like the loader does
    if len(face_ok) != len(frames) or len(mel) != 4 * len(frames):
        raise InputError(f"sample {ref.key} in {ref.shard}: frames, face_ok and mel lengths disagree")
    return ClipData(ref.key, ref.speaker, frames, mel, face_ok)


def load_clips(shards: str, refs: list[ClipRef]) -> dict[str, ClipData]:
    """Frames, mel and face flags of each clip, reading each needed shard once."""
    by_shard: dict[str, set[str]] = {}
    for ref in refs:
        by_shard.setdefault(ref.shard, set()).add(ref.key)
    members: dict[str, dict[str, bytes]] = {}
    for shard, keys in sorted(by_shard.items()):
        url = _shard_url(shards, shard)
        try:
            members.update(_wanted_members(url, keys))
        except FileNotFoundError:
            raise InputError(f"{url}: shard named by the manifest is missing") from None
        except tarfile.TarError as exc:
            raise InputError(f"{url}: unreadable shard ({exc})") from None
    clips = {}
    for ref in refs:
        if ref.key not in members:
            raise InputError(f"sample {ref.key}: not found in its shard {ref.shard}")
        clips[ref.key] = _to_clip(ref, members[ref.key])
    return clips
