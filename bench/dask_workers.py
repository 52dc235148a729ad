"""Preprocessing throughput with 1 vs 2 Dask workers (LocalCluster processes), side by side.

    .venv/bin/python bench/dask_workers.py [--videos N] [--seconds S]

Generates N sample clips, preprocesses them with `pdfgc.data.shard_worker.process_video` mapped
over a LocalCluster of 1 and then 2 single-threaded worker processes (fresh output folders), and
prints frames/s and the ratio. Prefect is left out on purpose: this measures the Dask fan-out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from flows.sample import load_sample_generator
from pdfgc.config import load_config
from pdfgc.data.discover import discover_videos
from pdfgc.data.shard_worker import process_video



def generate(root: Path, videos: int, seconds: float) -> None:
    load_sample_generator().generate_sample_set(root, speakers=videos, clips_per_speaker=1, seconds=seconds)


def run(workers: int, source: Path, out: Path) -> tuple[float, int]:
    cfg = load_config("paper")
    specs = discover_videos(str(source))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(lambda: None).result()  # workers up before the clock starts
        started = time.perf_counter()
        results = client.gather(client.map(process_video, specs, cfg=cfg, out_dir=str(out), pure=False))
        elapsed = time.perf_counter() - started
    return elapsed, sum(r.n_frames for r in results if r.ok)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "sample", args.videos, args.seconds)
        rates = {}
        for workers in (1, 2):
            elapsed, frames = run(workers, root / "sample", root / f"out{workers}")
            rates[workers] = frames / elapsed
            print(f"{workers} worker(s): {frames} frames in {elapsed:.1f} s = {rates[workers]:.1f} frames/s")
        print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
