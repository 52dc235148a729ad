"""Preprocessing throughput with 1 vs 2 Dask workers (LocalCluster processes), side by side.

    .venv/bin/python bench/dask_workers.py [--seconds 60] [--side 224]

The real sample clips, re-encoded at SIDE x SIDE (VoxCeleb2-like) and repeated to about SECONDS
of video, are preprocessed by ``process_video`` mapped over a LocalCluster of 1 and then 2
single-threaded worker processes, started with the flows' worker environment
(``compute.worker_env``). Each worker processes one warm-up clip before the clock starts (model
loading is a once-per-worker cost). Prefect is left out on purpose: this measures the Dask fan-out.

Two placements are measured:
- free: workers float over all cores. One worker already uses more than one core (its ffmpeg
  decoder runs beside it), so on a 2-core machine 2 workers cannot double it.
- pinned: worker i and its ffmpeg children are bound to core i (``os.sched_setaffinity``), one
  core per worker, the way a cluster gives one core per worker process. This shows how
  throughput scales with cores.

For scale, the script ends with the speed-up of a cache-resident pure-Python loop in 2 pinned
processes vs 1 on the same machine: the best a 2-core virtual machine gives.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import dask
from distributed import Client, LocalCluster
from preprocess import SAMPLES, playlist, scaled_copies

from flows.runners import worker_environment
from pdfgc.config import PdfgcConfig, load_config
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.preprocess.shard_worker import process_video


def _pin_to_core(core: int) -> None:
    os.sched_setaffinity(0, {core})


def _warm_up(clip: str, cfg: PdfgcConfig, out: str, dask_worker) -> None:
    """Load the models in this worker by processing one clip into its own folder."""
    process_video(VideoSpec(clip, "warmup", "w", "0", {}), cfg, f"{out}/{dask_worker.name}")


def _reference_loop(core: int, iterations: int) -> None:
    """Cache-resident pure-Python arithmetic on one core: how this machine scales at best."""
    os.sched_setaffinity(0, {core})
    total = 0
    for i in range(iterations):
        total += i * i


def reference_speedup(iterations: int = 5_000_000) -> float:
    """2 pinned processes vs 1 running ``_reference_loop`` (the machine's own ceiling)."""
    rates = {}
    cores = sorted(os.sched_getaffinity(0))
    for processes in (1, 2):
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            started = time.perf_counter()
            pool.starmap(_reference_loop, [(cores[i % len(cores)], iterations) for i in range(processes)])
            rates[processes] = processes / (time.perf_counter() - started)
    return rates[2] / rates[1]


def run(workers: int, pinned: bool, clips: list[Path], cfg: PdfgcConfig, out: Path) -> tuple[float, int]:
    specs = [VideoSpec(str(c), f"s{i}", c.stem, "0", {}) for i, c in enumerate(clips)]
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(cfg.compute)}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        if pinned:
            cores = sorted(os.sched_getaffinity(0))
            for core, address in zip(cores, sorted(client.scheduler_info()["workers"])):
                client.run(_pin_to_core, core, workers=[address])
        client.run(_warm_up, str(clips[0]), cfg, str(out / "warmup"))
        started = time.perf_counter()
        results = client.gather(client.map(process_video, specs, cfg=cfg, out_dir=str(out), pure=False))
        elapsed = time.perf_counter() - started
    return elapsed, sum(r.n_frames for r in results if r.ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of video per run")
    parser.add_argument("--side", type=int, default=224, help="re-encode the clips at SIDE x SIDE first")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="folder of real .mp4 clips")
    args = parser.parse_args()
    cfg = load_config("paper")
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print("| placement | 1 worker, frames/s | 2 workers, frames/s | 2 vs 1 |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="pdfgc-bench-") as tmp:
        clips = scaled_copies(playlist(sorted(args.samples.glob("*.mp4")), args.seconds), args.side, Path(tmp))
        for pinned in (False, True):
            rates = {}
            for workers in (1, 2):
                elapsed, frames = run(workers, pinned, clips, cfg, Path(tmp) / f"out-{pinned}-{workers}")
                rates[workers] = frames / elapsed
            print(f"| {'pinned' if pinned else 'free'} | {rates[1]:.1f} | {rates[2]:.1f} | {rates[2] / rates[1]:.2f}x |")
    print(f"\nreference: a cache-resident Python loop in 2 pinned processes vs 1: {reference_speedup():.2f}x")


if __name__ == "__main__":
    main()
