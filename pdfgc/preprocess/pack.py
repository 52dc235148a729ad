"""Gather staged per-video samples into numbered shards; keep the tables and resume state.

Write order, so that a kill at any point loses and duplicates nothing:
1. ``{prefix}-{NNNNNN}.tar`` (atomic);
2. ``{prefix}-{NNNNNN}_stats.json`` (atomic, last for the shard): it lists the packed uids and
   keys and carries the shard's manifest rows, so it alone marks the shard as done;
3. ``manifest.parquet`` gains the rows of every shard whose stats exist but whose rows are not
   in it yet; ``quarantine.parquet`` gains the staged failures (both atomic, deduplicated);
4. the packed staging files are removed.
A rerun skips staged uids already listed in a stats file, and removes a shard tar that has no
stats file (a kill between steps 1 and 2) before reusing its number. A kill -9 can also leave
the hidden temp file of an atomic write (``.<name>.<random>.tmp``): ``pack_shards`` removes
those in the output root and ``pending_videos`` those in ``_staging``, so only one preprocessing
run may use an output folder at a time.

An output root may also be an fsspec URL (``s3://bucket/shards``): then all of the above
happens in a local mirror, and ``pdfgc.preprocess.remote`` copies state down before and uploads
results after, in the same done-marker order.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from pdfgc.config import DataConfig, PdfgcConfig, SplitConfig
from pdfgc.preprocess import manifest, remote, splits, writer
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.preprocess.shard_worker import VideoResult, file_sha256, staging_dir, uid_from
from pdfgc.io import atomic_path, atomic_write_json

_logger = logging.getLogger(__name__)

STATS_SUFFIX = remote.STATS_SUFFIX
SHARD_NAME = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{6})\.tar$")
BYTES_PER_MB = 1 << 20
RETRIED_REASONS = frozenset({"internal_error"})
"""Quarantine reasons that are not the input's fault: ``pending_videos`` offers such videos again."""
TEMP_PATTERN = ".*.tmp"
"""Names ``pdfgc.io.atomic_path`` gives its temp files."""


@dataclass
class PackResult:
    new_shards: list[str]
    n_samples: int
    manifest: str
    quarantine: str


@dataclass
class _Staged:
    uid: str
    marker: Path
    body: dict

    @property
    def tar(self) -> Path:
        return self.marker.with_suffix(".tar")


def shard_stats(out_dir: str, prefix: str | None = None) -> list[dict]:
    """Every shard stats file's content, in shard order."""
    pattern = f"{prefix}-*{STATS_SUFFIX}" if prefix else f"*-*{STATS_SUFFIX}"
    return [json.loads(path.read_text()) for path in sorted(Path(out_dir).glob(pattern))]


def packed_uids(out_dir: str) -> set[str]:
    return {uid for stats in shard_stats(out_dir) for uid in stats["uids"]}


def quarantined_uids(out_dir: str, include_retried: bool = True) -> set[str]:
    table = manifest.read_table(Path(out_dir) / manifest.QUARANTINE_FILE)
    if "uid" not in table.columns:
        return set()
    if not include_retried:
        table = table[~table["reason"].isin(RETRIED_REASONS)]
    return set(table["uid"])


def pending_videos(specs: list[VideoSpec], out_dir: str, cfg: PdfgcConfig) -> list[VideoSpec]:
    """The specs with no staged marker, no packed shard and no quarantine row yet (videos that
    failed with an internal error are offered again).

    Hashes every source file (the uid includes its content), so edited files are redone; the
    returned specs carry the hash, so the worker does not read the file a second time.
    """
    if remote.is_remote(out_dir):
        out_dir = str(remote.sync_down(out_dir))
    remove_stale_temp_files(staging_dir(out_dir))
    staged = {path.stem for path in staging_dir(out_dir).glob("*.json")}
    done = staged | packed_uids(out_dir) | quarantined_uids(out_dir, include_retried=False)
    hashed = [replace(spec, sha256=file_sha256(spec.source)) for spec in specs]
    pending = [spec for spec in hashed if uid_from(spec.source, spec.sha256, cfg) not in done]
    _logger.info("%d of %d videos pending in %s", len(pending), len(specs), out_dir)
    return pending


def pack_shards(out_dir: str, cfg: DataConfig, results: list[VideoResult], split: SplitConfig | None = None) -> PackResult:
    """Pack every staged video of ``out_dir`` into new shards and update the tables; every
    manifest row gets its train/val/test ``split`` by ``split`` (default: ``SplitConfig()``).

    The staging markers, not ``results``, are the source of truth, so videos staged by a run
    that was killed before its pack are packed too; ``results`` is only counted in the log.
    """
    if remote.is_remote(out_dir):
        return _pack_remote(out_dir, cfg, results, split)
    root = Path(out_dir)
    remove_stale_temp_files(root)
    _remove_orphan_shards(root, cfg.shard_prefix)
    staged = _read_staged(root)
    _logger.info("%s: %d staged videos (%d results from this run)", out_dir, len(staged), len(results))
    done = packed_uids(out_dir)
    good = [item for item in staged if item.body["result"]["ok"] and item.uid not in done and _has_tar(item)]
    new_shards, n_samples = _write_shards(root, cfg, good, _packed_keys(out_dir))
    _update_manifest(root, split or SplitConfig())
    _update_quarantine(root, [item for item in staged if not item.body["result"]["ok"]])
    _remove_staging(staged, packed_uids(out_dir) | quarantined_uids(out_dir))
    return PackResult(new_shards, n_samples, str(root / manifest.MANIFEST_FILE), str(root / manifest.QUARANTINE_FILE))


def _pack_remote(url: str, cfg: DataConfig, results: list[VideoResult], split: SplitConfig | None) -> PackResult:
    mirror = str(remote.sync_down(url))
    packed = pack_shards(mirror, cfg, results, split)
    uploaded = remote.publish(url, packed_uids(mirror) | quarantined_uids(mirror))
    base = url.rstrip("/")
    return PackResult(uploaded, packed.n_samples, f"{base}/{manifest.MANIFEST_FILE}", f"{base}/{manifest.QUARANTINE_FILE}")


def remove_stale_temp_files(folder: Path) -> None:
    """Delete temp files left by atomic writes that were killed (no live writer may share ``folder``)."""
    for path in folder.glob(TEMP_PATTERN):
        _logger.warning("removing %s: left by an interrupted write", path)
        path.unlink(missing_ok=True)


def _remove_orphan_shards(root: Path, prefix: str) -> None:
    for tar in root.glob(f"{prefix}-*.tar"):
        if not tar.with_name(tar.stem + STATS_SUFFIX).exists():
            _logger.warning("removing %s: no stats file (an interrupted pack)", tar)
            tar.unlink()


def _read_staged(root: Path) -> list[_Staged]:
    items = []
    for marker in sorted(staging_dir(str(root)).glob("*.json")):
        items.append(_Staged(marker.stem, marker, json.loads(marker.read_text())))
    return items


def _has_tar(item: _Staged) -> bool:
    if not item.tar.is_file():
        _logger.warning("%s: marker without its staged tar; the video will be redone", item.marker)
        item.marker.unlink(missing_ok=True)
        return False
    return True


def _packed_keys(out_dir: str) -> set[str]:
    return {key for stats in shard_stats(out_dir) for key in stats["keys"]}


def _next_index(root: Path, prefix: str) -> int:
    """After every shard tar and every stats file (a remote root's mirror holds stats only)."""
    names = [p.name for p in root.glob(f"{prefix}-*.tar")]
    names += [p.name.removesuffix(STATS_SUFFIX) + ".tar" for p in root.glob(f"{prefix}-*{STATS_SUFFIX}")]
    indices = [int(m["index"]) for name in names if (m := SHARD_NAME.match(name))]
    return max(indices, default=-1) + 1


def _write_shards(root: Path, cfg: DataConfig, items: list[_Staged], known_keys: set[str]) -> tuple[list[str], int]:
    """Group staged videos (whole videos, in uid order) into shards of about the target size."""
    shards, group, size, n_samples = [], [], 0, 0
    target = cfg.shard_target_mb * BYTES_PER_MB
    for item in items:
        group.append(item)
        size += item.tar.stat().st_size
        if size >= target:
            n_samples += _write_one_shard(root, cfg.shard_prefix, group, known_keys, shards)
            group, size = [], 0
    if group:
        n_samples += _write_one_shard(root, cfg.shard_prefix, group, known_keys, shards)
    return shards, n_samples


def _write_one_shard(root: Path, prefix: str, group: list[_Staged], known_keys: set[str], shards: list[str]) -> int:
    name = f"{prefix}-{_next_index(root, prefix):06d}"
    keys: list[str] = []
    with atomic_path(root / f"{name}.tar") as tmp, open(tmp, "wb") as stream, writer.TarSampleWriter(stream) as tar:
        for item in group:
            keys += _copy_samples(item, tar, known_keys)
    rows = [row | {"shard": f"{name}.tar"} for item in group for row in item.body["rows"] if row["key"] in keys]
    stats = {"shard": f"{name}.tar", "n_samples": len(keys), "uids": [i.uid for i in group], "keys": keys, "rows": rows}
    atomic_write_json(root / f"{name}{STATS_SUFFIX}", stats)
    shards.append(str(root / f"{name}.tar"))
    _logger.info("wrote %s: %d samples from %d videos", name, len(keys), len(group))
    return len(keys)


def _copy_samples(item: _Staged, tar: writer.TarSampleWriter, known_keys: set[str]) -> list[str]:
    """Copy one staged tar's members; a key already in an earlier shard is skipped with a warning."""
    keys: list[str] = []
    for member, data in writer.iter_tar_members(item.tar):
        key = member.partition(".")[0]
        if key in known_keys:
            _logger.warning("%s: key %s is already packed (same clip, other config?); skipped", item.tar, key)
            continue
        tar.write_member(member, data)
        if not keys or keys[-1] != key:
            keys.append(key)
    known_keys.update(keys)
    return keys


def _update_manifest(root: Path, split: SplitConfig) -> None:
    table = manifest.read_table(root / manifest.MANIFEST_FILE)
    listed = set(table["shard"]) if "shard" in table.columns else set()
    rows = [row for stats in shard_stats(str(root)) if stats["shard"] not in listed for row in stats["rows"]]
    if rows:
        manifest.append_rows(root / manifest.MANIFEST_FILE, rows, unique_by="key")
    manifest.update_splits(root / manifest.MANIFEST_FILE, split)


def _update_quarantine(root: Path, failed: list[_Staged]) -> None:
    """Record the staged failures (the latest outcome of a uid wins) and forget uids now packed."""
    path = root / manifest.QUARANTINE_FILE
    manifest.drop_rows(path, "uid", {item.uid for item in failed} | packed_uids(str(root)))
    if failed:
        manifest.append_rows(path, [_quarantine_row(item) for item in failed], unique_by="uid")


def _quarantine_row(item: _Staged) -> dict[str, str]:
    result = item.body["result"]
    return {"uid": item.uid, "source": result["spec"]["source"], "stage": result["stage"],
            "reason": result["reason"], "error": result["error"]}


def _remove_staging(staged: list[_Staged], finished: set[str]) -> None:
    """Delete staging files whose uid is safely in a shard stats file or the quarantine table."""
    for item in staged:
        if item.uid in finished:
            item.tar.unlink(missing_ok=True)
            item.marker.unlink(missing_ok=True)


def summarize(out_dir: str) -> dict:
    """Counts over the whole output: videos, samples, frames, hours, shards and
    ``quarantined`` = ``{reason: number of videos}``."""
    out_dir = remote.local_root(out_dir)
    table = manifest.read_table(Path(out_dir) / manifest.MANIFEST_FILE)
    rejected = manifest.read_table(Path(out_dir) / manifest.QUARANTINE_FILE)
    frames = int(table["n_frames"].sum()) if len(table) else 0
    seconds = float((table["n_frames"] / table["fps"]).sum()) if len(table) else 0.0
    by_reason = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    return {
        "videos": int(table["uid"].nunique()) if len(table) else 0,
        "samples": len(table),
        "frames": frames,
        "hours": seconds / 3600,
        "shards": len(shard_stats(out_dir)),
        "quarantined": {str(k): int(v) for k, v in by_reason.items()},
        "splits": splits.split_summary(table),
        "split_mode": splits.split_mode(table),
    }
