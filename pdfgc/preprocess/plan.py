"""What a preprocessing run has to do, found before any engine (Prefect, Dask) starts, and the
summary table it prints.

A re-run with nothing new must cost seconds: discovering and hashing the inputs and reading the
stats files needs none of the engines, so ``plan_run`` does that first and the CLI returns at
once when no video is pending and no earlier run left staged work to pack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdfgc.config import PdfgcConfig
from pdfgc.preprocess import remote
from pdfgc.preprocess.discover import VideoSpec, discover_videos
from pdfgc.preprocess.pack import STATS_SUFFIX, pending_videos, summarize
from pdfgc.errors import DiskFullError
from pdfgc.preprocess.shard_worker import DISK_FULL_REASON, VideoResult, staging_dir


@dataclass
class RunPlan:
    n_total: int
    pending: list[VideoSpec]
    leftovers: bool
    """An earlier run left staged videos or an unfinished shard that the pack step must finish."""

    @property
    def nothing_to_do(self) -> bool:
        return not self.pending and not self.leftovers


def plan_run(source: str, out: str, cfg: PdfgcConfig) -> RunPlan | None:
    """The pending videos of a local output folder; None for a remote output (the flow plans it)."""
    if remote.is_remote(out):
        return None
    specs = discover_videos(source)
    pending = pending_videos(specs, out, cfg)
    return RunPlan(len(specs), pending, _has_leftovers(Path(out), cfg.data.shard_prefix))


def _has_leftovers(root: Path, prefix: str) -> bool:
    staging = staging_dir(str(root))
    if staging.is_dir() and any(staging.iterdir()):
        return True
    return any(not tar.with_name(tar.stem + STATS_SUFFIX).exists() for tar in root.glob(f"{prefix}-*.tar"))


def no_op_summary(plan: RunPlan, out: str) -> dict[str, Any]:
    return {**summarize(out), "videos_total": plan.n_total, "videos_new": 0, "videos_ok": 0, "samples_new": 0,
            "new_shards": [], "frames_per_s": 0.0}


def stop_if_disk_full(out: str, results: list[VideoResult]) -> None:
    """One clear error when a worker ran out of space; its videos have no marker and are redone."""
    full = [r for r in results if r.reason == DISK_FULL_REASON]
    if full:
        raise DiskFullError(f"{out}: no space left while staging {len(full)} video(s) (first: {full[0].spec.source}: "
                            f"{full[0].error}); free space and run again: unfinished videos are redone")


def format_summary(summary: dict[str, Any]) -> str:
    rows = [
        ("videos (total / new / ok)", f"{summary['videos_total']} / {summary['videos_new']} / {summary['videos_ok']}"),
        ("samples (new / total)", f"{summary['samples_new']} / {summary.get('samples', 0)}"),
        ("frames (total)", str(summary.get("frames", 0))),
        ("hours (total)", f"{summary.get('hours', 0.0):.4f}"),
        ("new shards", str(len(summary["new_shards"]))),
        ("frames/s (this run)", f"{summary['frames_per_s']:.1f}"),
    ]
    for name, counts in summary.get("splits", {}).items():
        rows.append((f"split {name} (speakers / samples)", f"{counts['speakers']} / {counts['samples']}"))
    if summary.get("split_mode") not in (None, "speaker"):
        rows.append(("split WARNING", f"fewer than split.min_speakers speakers: clip-level split {summary['split_mode']!r}"))
    for reason, count in sorted(summary.get("quarantined", {}).items()):
        rows.append((f"quarantined: {reason}", str(count)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)
