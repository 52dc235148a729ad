"""Preprocessing flow: talking-head videos -> WebDataset shards with a manifest.

Steps:
1. discover the input (folder, fsspec URL or a CSV/Parquet list) into video specs;
2. skip videos whose results are already staged or packed (resume, incremental runs);
3. process each remaining video as one Dask task (decode, track, align, audio features,
   labels); a bad video comes back quarantined with its reason, it never fails the run;
4. pack the staged samples into new shards, append to manifest.parquet and quarantine.parquet;
5. print a summary table.

All work is done by ``pdfgc.preprocess``; the tasks only call it.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from tqdm import tqdm

from flows.runners import build_task_runner
from pdfgc.config import DataConfig, PdfgcConfig, SplitConfig
from pdfgc.preprocess.discover import VideoSpec, discover_videos
from pdfgc.preprocess.pack import PackResult, pack_shards, pending_videos, summarize
from pdfgc.preprocess.shard_worker import VideoResult, process_video


@task(cache_policy=NO_CACHE)
def discover(source: str, out: str, cfg: PdfgcConfig) -> tuple[int, list[VideoSpec]]:
    specs = discover_videos(source)
    return len(specs), pending_videos(specs, out, cfg)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10], task_run_name="video-{spec.clip}")
def process(spec: VideoSpec, cfg: PdfgcConfig, out: str) -> VideoResult:
    return process_video(spec, cfg, out)


@task(cache_policy=NO_CACHE)
def pack(out: str, data_cfg: DataConfig, results: list[VideoResult], split_cfg: SplitConfig) -> PackResult:
    return pack_shards(out, data_cfg, results, split_cfg)


def _collect(futures: list[Any]) -> list[VideoResult]:
    results = []
    with tqdm(total=len(futures), desc="videos", unit="video") as bar:
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            bar.set_postfix_str("ok" if result.ok else f"quarantined: {result.reason}")
            bar.update()
    return results


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


@flow(name="preprocess", log_prints=True)
def preprocess_flow(source: str, out: str, cfg: PdfgcConfig) -> dict[str, Any]:
    started = time.perf_counter()
    n_total, todo = discover(source, out, cfg)
    if not todo:
        print(f"nothing to do: all {n_total} videos of {source} are already in {out}")
    results = _collect(process.map(todo, unmapped(cfg), unmapped(out))) if todo else []
    packed = pack(out, cfg.data, results, cfg.split)
    new_frames = sum(r.n_frames for r in results if r.ok)
    summary = {
        **summarize(out),
        "videos_total": n_total,
        "videos_new": len(todo),
        "videos_ok": sum(r.ok for r in results),
        "samples_new": packed.n_samples,
        "new_shards": packed.new_shards,
        "manifest": packed.manifest,
        "quarantine": packed.quarantine,
        "frames_per_s": new_frames / max(time.perf_counter() - started, 1e-9),
    }
    print("preprocess summary\n" + format_summary(summary))
    return summary


def preprocess(source: str, out: str, cfg: PdfgcConfig) -> dict[str, Any]:
    """Run the preprocessing flow on the Dask cluster that ``cfg.compute`` names."""
    runner = build_task_runner(cfg.compute)
    return preprocess_flow.with_options(task_runner=runner)(str(source), str(out), cfg)
