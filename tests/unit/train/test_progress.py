"""The launcher's per-stage progress bar follows rank 0's metrics.jsonl, even a half-written line."""

from __future__ import annotations

import json
from pathlib import Path

from pdfgc.train.progress import StageProgress


def test_bar_follows_the_metrics_file(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 2, "loss": 9.0}) + "\n")  # an earlier run's lines are not shown again
    progress = StageProgress("1", metrics, total=10)
    with open(metrics, "a") as handle:
        handle.write(json.dumps({"step": 3, "loss": 1.5, "samples_per_s": 40.0}) + "\n" + '{"step": 4, "lo')
    progress.update()
    assert progress.bar.n == 3 and progress.bar.postfix == "loss=1.5, samples/s=40"
    with open(metrics, "a") as handle:
        handle.write('ss": 1.25}\n')
    progress.close()
    assert progress.bar.n == 4 and "loss=1.25" in progress.bar.postfix
