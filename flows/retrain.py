"""Scheduled retraining and deployment entry points with plain parameters.

Steps of ``retrain``:
1. preprocess the source incrementally (only videos not yet in the shards);
2. when at least ``min_new_samples`` samples were added (or ``force``), train all stages into
   a new run folder under ``runs``; otherwise stop and say why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow

from flows.preprocess import preprocess
from flows.train import train
from pdfgc.config import load_config


@flow(name="preprocess-deployment")
def preprocess_deployment(source: str, out: str, config: str = "paper", overrides: list[str] | None = None) -> dict[str, Any]:
    return preprocess(source, out, load_config(config, overrides))


@flow(name="retrain", log_prints=True)
def retrain(
    source: str, shards: str, runs: str, config: str = "paper", overrides: list[str] | None = None,
    min_new_samples: int = 1, force: bool = False,
) -> dict[str, Any]:
    cfg = load_config(config, overrides)
    prepared = preprocess(source, shards, cfg)
    if prepared["samples_new"] < min_new_samples and not force:
        print(f"only {prepared['samples_new']} new samples (< {min_new_samples}): not retraining")
        return {"preprocess": prepared, "trained": None}
    run_dir = Path(runs) / time.strftime("%Y%m%d-%H%M%S")
    return {"preprocess": prepared, "trained": train(shards, run_dir, cfg, stage="all")}
