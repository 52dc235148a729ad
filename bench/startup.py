"""Start-up overhead of ``pdfgc preprocess``: what a re-run with nothing new costs, and where
the time of a run with one new video goes before any video is processed.

Prints, as Markdown, side by side (median of ``--repeats`` runs, wall seconds):
- ``import pdfgc.cli`` and ``import flows.preprocess`` (Prefect, Dask, prefect-dask);
- ``pdfgc preprocess`` with nothing new (finds the pending videos before any engine starts);
- the same with the engines forced (``PDFGC_BENCH_FORCE_FLOW=1`` runs the Prefect flow on a
  Dask LocalCluster even though nothing is pending: the cost the early exit avoids).

    .venv/bin/python bench/startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers.media import cut_clip  # noqa: E402
from tests.helpers.media_sources import find_samples  # noqa: E402

SHARED = Path(os.environ.get("PDFGC_SHARED_SAMPLES", REPO_ROOT.parent / "shared" / "samples"))
ENV = os.environ | {"PYTHONPATH": str(REPO_ROOT), "DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
SETTINGS = ["--config", "tiny", "--set", "compute.n_workers=1"]
FORCED_FLOW = """
import sys
from flows.preprocess import preprocess
from pdfgc.config import load_config
preprocess(sys.argv[1], sys.argv[2], load_config("tiny", ["compute.n_workers=1"]))
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def median_of(command: list[str], repeats: int) -> float:
    return statistics.median(timed(command) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description="start-up overhead of pdfgc preprocess")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="pdfgc-startup-") as tmp:
        inputs, out = Path(tmp) / "in", Path(tmp) / "out"
        inputs.mkdir()
        video = sorted((find_samples(SHARED) / "videos").glob("*.mp4"))[1]
        cut_clip(video, inputs / "clip.mp4", seconds=1.2)
        subprocess.run([python, "-m", "pdfgc.cli", "preprocess", str(inputs), "--out", str(out), *SETTINGS],
                       cwd=REPO_ROOT, env=ENV, check=True, capture_output=True)
        rows = [
            ("python -c pass (interpreter)", median_of([python, "-c", "pass"], args.repeats)),
            ("import pdfgc.cli", median_of([python, "-c", "import pdfgc.cli"], args.repeats)),
            ("import pdfgc.preprocess.plan (discover, hash, stats)", median_of([python, "-c", "import pdfgc.preprocess.plan"], args.repeats)),
            ("import flows.preprocess (Prefect, Dask)", median_of([python, "-c", "import flows.preprocess"], args.repeats)),
            ("pdfgc preprocess, nothing new (early exit)",
             median_of([python, "-m", "pdfgc.cli", "preprocess", str(inputs), "--out", str(out), *SETTINGS], args.repeats)),
            ("the flow, nothing new (Prefect server + LocalCluster)", median_of([python, "-c", FORCED_FLOW, str(inputs), str(out)], args.repeats)),
        ]
    early, forced = rows[4][1], rows[5][1]
    print(f"| step ({os.cpu_count()} cores, median of {args.repeats}) | wall s |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print(f"\nearly exit vs engines started: {early:.2f} s vs {forced:.2f} s ({forced / early:.1f}x)")


if __name__ == "__main__":
    main()
