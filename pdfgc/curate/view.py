"""Curated views: which samples of a shard folder to train on, and why the others are left out.

A view is one Parquet file with a row per sample of the manifest: ``key``, ``shard`` (the tar
path relative to the shard folder), ``speaker``, ``video``, ``clip``, ``split``, ``kept``,
``reason`` and ``detail`` (empty when kept) and the measures the rules read. Shards are never
rewritten; ``pdfgc train --view`` reads the kept keys. The view's identity is the sha256 of
its file (``view_sha256``), logged as a run parameter and a model-version tag.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pdfgc.config import SplitConfig
from pdfgc.config.ops import CurateConfig
from pdfgc.curate.filters import duplicate_drops, speaker_cap_drops, threshold_drops
from pdfgc.curate.measures import SampleFacts, sample_facts
from pdfgc.errors import InputError
from pdfgc.io import atomic_path
from pdfgc.preprocess.manifest import MANIFEST_FILE
from pdfgc.preprocess.splits import with_splits
from pdfgc.preprocess.writer import iter_tar_members

_logger = logging.getLogger(__name__)

MANIFEST_MEASURES = {"face_px": "quality_face_px", "sharpness": "quality_sharpness",
                     "pose_range_deg": "quality_pose_range_deg", "audio_dbfs": "quality_audio_dbfs",
                     "duration_s": "quality_duration_s"}
MEMBER_MEASURES = ("yaw_deg", "landmark_jitter", "lip_sync")
VIEW_COLUMNS = ("key", "shard", "speaker", "video", "clip", "split", "kept", "reason", "detail",
                *MANIFEST_MEASURES, *MEMBER_MEASURES)
TEST_SPLIT = "test"


@dataclass
class CuratedView:
    table: pd.DataFrame
    """One row per sample (``VIEW_COLUMNS``)."""
    facts: dict[str, SampleFacts]
    """Hashes and thumbnails per key (for the report; not stored in the view)."""


def read_manifest(shards: Path) -> pd.DataFrame:
    path = Path(shards) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"{path}: no manifest (is {shards} a shard folder written by pdfgc preprocess?)")
    return pd.read_parquet(path)


def iter_shard_samples(tar_path: Path) -> dict[str, dict[str, bytes]]:
    """``{key: {field: bytes}}`` of a shard, built from its members in order (safety-checked)."""
    samples: dict[str, dict[str, bytes]] = {}
    for name, data in iter_tar_members(tar_path):
        key, _, member = name.partition(".")
        samples.setdefault(key, {})[member] = data
    return samples


def collect_facts(shards: Path, manifest: pd.DataFrame, cfg: CurateConfig) -> dict[str, SampleFacts]:
    """Read every shard the manifest names once and compute each sample's facts."""
    facts: dict[str, SampleFacts] = {}
    wanted = set(manifest["key"])
    for shard in sorted(manifest["shard"].unique()):
        tar_path = Path(shards) / shard
        if not tar_path.is_file():
            raise InputError(f"{tar_path}: shard named by the manifest is missing")
        for key, members in iter_shard_samples(tar_path).items():
            if key in wanted:
                facts[key] = sample_facts(members, cfg)
    missing = wanted - set(facts)
    if missing:
        raise InputError(f"{shards}: {len(missing)} manifest sample(s) not found in their shards, e.g. {sorted(missing)[0]}")
    return facts


def measures_table(manifest: pd.DataFrame, facts: dict[str, SampleFacts]) -> pd.DataFrame:
    table = pd.DataFrame({
        "key": manifest["key"].astype(str), "shard": manifest["shard"].astype(str),
        "speaker": manifest["speaker"].astype(str), "video": manifest["video"].astype(str),
        "clip": manifest["clip"].astype(str),
        "split": manifest["split"].astype(str),
    })
    for name, column in MANIFEST_MEASURES.items():
        table[name] = manifest[column].astype(float) if column in manifest.columns else np.nan
    for name in MEMBER_MEASURES:
        table[name] = [float(getattr(facts[key], name)) for key in table["key"]]
    table["clip_id"] = table["speaker"] + "/" + table["video"] + "/" + table["clip"]
    return table


def apply_rules(table: pd.DataFrame, facts: dict[str, SampleFacts], cfg: CurateConfig) -> pd.DataFrame:
    """Thresholds, then near-duplicates among what is left, then the per-speaker cap."""
    drops = threshold_drops(table, cfg)
    if cfg.dedupe:
        drops |= duplicate_drops(table[~table["key"].isin(drops)], facts, cfg)
    drops |= speaker_cap_drops(table[~table["key"].isin(drops)], cfg.max_clips_per_speaker)
    view = table.copy()
    view["kept"] = ~view["key"].isin(drops)
    view["reason"] = [drops.get(key, ("", ""))[0] for key in view["key"]]
    view["detail"] = [drops.get(key, ("", ""))[1] for key in view["key"]]
    return view[list(VIEW_COLUMNS)].reset_index(drop=True)


def build_view(shards: str | Path, cfg: CurateConfig, split_cfg: SplitConfig | None = None) -> CuratedView:
    """Measure every sample of the shard folder and apply the configured rules.

    Examples
    --------
    >>> view = build_view("data/shards", load_config("paper", ["curate.min_face_px=64"]).curate)
    >>> view.table.loc[~view.table.kept, ["key", "reason"]]
    """
    shards = Path(shards)
    manifest = read_manifest(shards)
    if "split" not in manifest.columns:  # a manifest written before splits: the readers' rule
        manifest, _ = with_splits(manifest, split_cfg or SplitConfig())
    facts = collect_facts(shards, manifest, cfg)
    view = apply_rules(measures_table(manifest, facts), facts, cfg)
    _logger.info("view of %s: %d of %d samples kept", shards, int(view["kept"].sum()), len(view))
    return CuratedView(view, facts)


def write_view(view: pd.DataFrame, path: str | Path) -> str:
    """Write the view atomically; returns its sha256."""
    with atomic_path(path) as tmp:
        view.to_parquet(tmp, index=False)
    return view_sha256(path)


def view_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def training_keys(view_path: str | Path, shard_urls: list[str]) -> frozenset[str]:
    """Keys a training run on this view reads: kept and outside the test split.

    Raises InputError when the file is not a view or names a shard that ``shard_urls`` lacks."""
    path = Path(view_path)
    if not path.is_file():
        raise InputError(f"{path}: view not found")
    try:
        view = pd.read_parquet(path, columns=["key", "shard", "kept", "split"])
    except Exception as exc:  # pyarrow raises several types for a file that is not a view
        raise InputError(f"{path}: not a curated view ({type(exc).__name__}: {exc})") from None
    available = {Path(url).name for url in shard_urls}
    missing = sorted(set(view["shard"].map(lambda shard: Path(shard).name)) - available)
    if missing:
        raise InputError(f"{path}: the view names shard(s) missing from the training shards: {', '.join(missing[:3])}")
    chosen = view[view["kept"].astype(bool) & (view["split"] != TEST_SPLIT)]
    return frozenset(chosen["key"].astype(str))


def check_view(view_path: str | Path, shards: str) -> str:
    """The view's absolute path, after checking that it names only shards of ``shards`` and
    keeps at least one training sample (one-line InputError otherwise)."""
    from pdfgc.train.reader.loader import expand_shards

    if not training_keys(view_path, expand_shards(shards)):
        raise InputError(f"{view_path}: the view keeps no sample outside the test split")
    return str(Path(view_path).resolve())
