"""Gather what the HTML report shows: shard labels and thumbnails, and MLflow loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfgc.integrations.mlflow_history import loss_curves
from pdfgc.preprocess.writer import decode_frames, load_npy, read_sample_members
from pdfgc.report import build_report

LABEL_KEYS = ("pose", "blink")


def shard_labels_and_thumbnails(shards: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Concatenated label arrays and the first face of each sample, read with the safe reader."""
    labels: dict[str, list[np.ndarray]] = {key: [] for key in LABEL_KEYS}
    thumbs: list[np.ndarray] = []
    for shard in sorted(shards.glob("*.tar")):
        for sample in read_sample_members(shard).values():
            for key in LABEL_KEYS:
                if f"{key}.npy" in sample:
                    labels[key].append(load_npy(sample[f"{key}.npy"]))
            offsets = load_npy(sample["frame_offsets.npy"])
            thumbs.append(decode_frames(sample["frames.mjpeg"][: int(offsets[1])], offsets[:2])[0])
    return {k: np.concatenate(v) for k, v in labels.items() if v}, thumbs


def _read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


@task(cache_policy=NO_CACHE)
def write_report(shards: Path, out: Path, trained: dict[str, Any] | None = None) -> Path:
    labels, thumbs = shard_labels_and_thumbnails(shards)
    curves = loss_curves(trained["tracking_uri"], trained["stage_run_ids"]) if trained else None
    return build_report(
        out, _read_table(shards / "manifest.parquet"), _read_table(shards / "quarantine.parquet"),
        labels, thumbs, curves,
    )
