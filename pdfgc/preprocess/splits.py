"""Train / val / test assignment of samples by speaker, stable as the data grow.

A speaker's split is a pure function of ``(split.seed, speaker id)``: the id is hashed to a
number ``u`` in [0, 1); ``u < test_fraction`` is test, then val up to
``test_fraction + val_fraction``, the rest train. No speaker is ever in two splits, adding
speakers never moves an existing one, and a new speaker gets its split by the same rule.

With fewer than ``split.min_speakers`` distinct speakers a speaker-level split cannot hold
out anyone, so the rule falls back to ``clip-hash``: the same hash of the clip id (sample key
without its chunk suffix), so the chunks of one clip stay together but a speaker's clips
spread over the splits. The fallback is named in the manifest's ``split_mode`` column and
warned about in the preprocessing report and in every training run that reads it. When the
set grows past the threshold, every sample is reassigned by speaker once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

import pandas as pd

from pdfgc.config import SplitConfig

_logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPEAKER_MODE = "speaker"
CLIP_MODE = "clip-hash"
CHUNK_SUFFIX = re.compile(r"_\d+$")
HASH_DENOMINATOR = float(2**64)


def unit_hash(seed: int, name: str) -> float:
    """A stable number in [0, 1) from (seed, name): sha256, never Python's salted ``hash``."""
    digest = hashlib.sha256(f"{seed}\n{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / HASH_DENOMINATOR


def split_of(name: str, cfg: SplitConfig) -> str:
    """The split of a speaker id (or, in the fallback, of a clip id)."""
    u = unit_hash(cfg.seed, name)
    if u < cfg.test_fraction:
        return "test"
    if u < cfg.test_fraction + cfg.val_fraction:
        return "val"
    return "train"


def clip_id(key: str) -> str:
    """A sample key without its ``_NNN`` chunk suffix: the clip all its chunks share."""
    return CHUNK_SUFFIX.sub("", key)


@dataclass(frozen=True)
class SplitAssignment:
    """The split of each row, the rule that made it, and a warning when the rule fell back."""

    splits: list[str]
    mode: str
    warning: str | None = None


def assign_splits(keys: list[str], speakers: list[str], cfg: SplitConfig) -> SplitAssignment:
    """Splits of samples given their keys and speaker ids (same order)."""
    distinct = len(set(speakers))
    if distinct >= cfg.min_speakers:
        return SplitAssignment([split_of(s, cfg) for s in speakers], SPEAKER_MODE)
    warning = (f"only {distinct} speaker(s) (split.min_speakers={cfg.min_speakers}): speaker-disjoint "
               f"splits are impossible, falling back to the clip-level split {CLIP_MODE!r}")
    return SplitAssignment([split_of(clip_id(k), cfg) for k in keys], CLIP_MODE, warning)


def with_splits(table: pd.DataFrame, cfg: SplitConfig) -> tuple[pd.DataFrame, SplitAssignment]:
    """``table`` (manifest rows with ``key`` and ``speaker``) with ``split`` and ``split_mode`` columns."""
    if table.empty:
        return table, SplitAssignment([], SPEAKER_MODE)
    assignment = assign_splits(table["key"].astype(str).tolist(), table["speaker"].astype(str).tolist(), cfg)
    if assignment.warning:
        _logger.warning("%s", assignment.warning)
    return table.assign(split=assignment.splits, split_mode=assignment.mode), assignment


def split_summary(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{split: {"speakers": n, "samples": n}}`` for each of train, val and test (zeros when empty)."""
    summary = {}
    for name in SPLITS:
        rows = table[table["split"] == name] if "split" in table.columns else table.iloc[0:0]
        speakers = rows["speaker"].nunique() if "speaker" in rows.columns else 0
        summary[name] = {"speakers": int(speakers), "samples": int(len(rows))}
    return summary


def split_mode(table: pd.DataFrame) -> str | None:
    """The rule the manifest's splits were made with, or None before splits existed."""
    if "split_mode" not in table.columns or table.empty:
        return None
    return str(table["split_mode"].iloc[0])
