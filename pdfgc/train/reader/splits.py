"""Which samples of a set of shards belong to a split: read from ``manifest.parquet``.

Preprocessing writes each sample's ``split`` (train / val / test by speaker, see
``pdfgc.preprocess.splits``) into the manifest beside the shards; a reader keeps exactly the
keys of its split. A manifest written before splits existed gets them computed here with the
same rule (``cfg.split``). Shards with no manifest beside them (hand-made test shards, a copied
tar) fall back to the clip-level rule on the sample key, with a warning: their speaker count is
unknown, so speaker-disjointness cannot be promised.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec
import pandas as pd

from pdfgc.config import SplitConfig
from pdfgc.errors import InputError
from pdfgc.preprocess.manifest import MANIFEST_FILE
from pdfgc.preprocess.splits import CLIP_MODE, SPEAKER_MODE, SPLITS, clip_id, split_of, split_summary, with_splits

_logger = logging.getLogger(__name__)

ALL = "all"
READABLE_SPLITS = (*SPLITS, ALL)
NO_MANIFEST_MODE = f"{CLIP_MODE} (no manifest)"


@dataclass(frozen=True)
class SplitSelection:
    """The samples of one split: a key set from the manifest, or the key rule when there is none."""

    split: str
    mode: str
    keys: frozenset[str] | None
    cfg: SplitConfig
    counts: dict[str, dict[str, int]] | None = None
    warning: str | None = None

    def contains(self, key: str) -> bool:
        if self.split == ALL:
            return True
        if self.keys is not None:
            return key in self.keys
        return split_of(clip_id(key), self.cfg) == self.split

    def params(self) -> dict[str, Any]:
        """Run parameters: ``split.name``, ``split.mode``, speakers and samples per split, the warning."""
        out: dict[str, Any] = {"split.name": self.split, "split.mode": self.mode}
        for name, values in (self.counts or {}).items():
            out[f"split.{name}_speakers"] = values["speakers"]
            out[f"split.{name}_samples"] = values["samples"]
        if self.warning:
            out["split.warning"] = self.warning
        return out


def _manifest_urls(urls: list[str]) -> list[str]:
    """``manifest.parquet`` of each folder holding shards, in order of first appearance."""
    folders = dict.fromkeys(posixpath.dirname(url) for url in urls)
    return [posixpath.join(folder, MANIFEST_FILE) if folder else MANIFEST_FILE for folder in folders]


def read_manifests(urls: list[str]) -> pd.DataFrame | None:
    """The manifests beside the shards, concatenated; None when no folder has one."""
    tables = []
    for url in _manifest_urls(urls):
        fs, path = fsspec.core.url_to_fs(url)
        if fs.exists(path):
            try:
                with fs.open(path, "rb") as stream:
                    tables.append(pd.read_parquet(stream))
            except (OSError, ValueError) as exc:
                raise InputError(f"{url}: not a readable manifest ({exc})") from None
    return pd.concat(tables, ignore_index=True) if tables else None


def select_split(urls: list[str], split: str, cfg: SplitConfig) -> SplitSelection:
    """The selection of ``split`` (train, val, test or all) among the samples of ``urls``."""
    if split not in READABLE_SPLITS:
        raise InputError(f"split must be one of {', '.join(READABLE_SPLITS)}, got {split!r}")
    table = read_manifests(urls)
    if table is None:
        warning = (f"no {MANIFEST_FILE} beside the shards: split {split!r} by the clip-level rule on "
                   f"sample keys ({CLIP_MODE}); speakers may be on both sides")
        _logger.warning("%s", warning)
        return SplitSelection(split, NO_MANIFEST_MODE, None, cfg, warning=warning)
    if "split" not in table.columns or table["split"].isna().any():
        table, _ = with_splits(table, cfg)
    mode = str(table["split_mode"].iloc[0]) if len(table) else SPEAKER_MODE
    warning = None
    if mode != SPEAKER_MODE:
        warning = (f"fewer than split.min_speakers={cfg.min_speakers} speakers: the manifest's split is "
                   f"the clip-level rule {mode!r}, not speaker-disjoint")
        _logger.warning("%s", warning)
    chosen = table if split == ALL else table[table["split"] == split]
    return SplitSelection(split, mode, frozenset(chosen["key"].astype(str)), cfg, split_summary(table), warning)


def require_samples(selection: SplitSelection, where: str) -> None:
    """One-line error when the manifest says the split has no sample at all."""
    if selection.keys is not None and not selection.keys:
        counts = ", ".join(f"{k}: {v['speakers']} speakers" for k, v in (selection.counts or {}).items())
        raise InputError(f"{where}: split {selection.split!r} has no sample ({counts}); "
                         "add speakers or change split.seed / split.*_fraction")
