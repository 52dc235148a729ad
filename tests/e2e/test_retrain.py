"""Scheduled retraining: the `retrain` flow preprocesses incrementally and trains only when
enough new samples arrived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
STEPS = ["train.critic.steps=2", "train.stage1.steps=2", "train.stage2.steps=2", "train.stage3.steps=2",
         "train.checkpoint_every=2", "train.image_every=0"]


def run_retrain(sample: Path, shards: Path, runs: Path, home: Path, min_new: int) -> dict:
    code = (
        "import json, sys\n"
        "from flows.retrain import retrain\n"
        f"result = retrain({str(sample)!r}, {str(shards)!r}, {str(runs)!r}, config='tiny', overrides={STEPS!r}, "
        f"min_new_samples={min_new})\n"
        "print('RESULT ' + json.dumps({'new': result['preprocess']['samples_new'], 'trained': result['trained']}))\n"
    )
    env = {**os.environ, "PREFECT_HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_retrain_trains_on_new_data_and_skips_when_nothing_is_new(sample_set, tmp_path):
    shards, runs, home = tmp_path / "shards", tmp_path / "runs", tmp_path / ".prefect"
    first = run_retrain(sample_set, shards, runs, home, min_new=1)
    assert first["new"] >= 3
    assert first["trained"]["registered_model_uri"].startswith("models:/")
    assert set(first["trained"]["stage_run_ids"]) == {"critic", "1", "2", "3"}

    second = run_retrain(sample_set, shards, runs, home, min_new=1)
    assert second == {"new": 0, "trained": None}
    assert len(list(runs.iterdir())) == 1  # no second training run folder
