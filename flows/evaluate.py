"""Evaluation as a Prefect task: ``pdfgc evaluate`` on a trained model.

The training flow runs it after its last stage on the registered model (``evaluation.*`` in
the config says which split and how many clips), so retraining gets it too. A model that cannot
be evaluated (no clip in the split, shards without that split) does not fail a finished
training: the task returns ``{"error": reason}`` and the flow prints it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfgc.config import EvaluationConfig
from pdfgc.errors import PdfgcError
from pdfgc.eval.evaluate import EvalRequest, evaluate

_logger = logging.getLogger(__name__)


@task(cache_policy=NO_CACHE, task_run_name="evaluate-{split}")
def evaluate_model(model: str, shards: str, out: Path, split: str = "test", max_clips: int | None = None,
                   tracking_uri: str | None = None, sync_model: str | None = None) -> dict[str, Any]:
    """``pdfgc evaluate``; returns the metrics.json document (with ``paths`` and ``mlflow``)."""
    return evaluate(EvalRequest(model, shards, Path(out), split, max_clips, tracking_uri, sync_model))


def evaluate_after_training(model: str | None, shards: str, out: Path, cfg: EvaluationConfig,
                            tracking_uri: str | None) -> dict[str, Any] | None:
    """Run ``evaluate_model`` for the training flow; None when off or nothing was registered."""
    if not cfg.after_training or model is None:
        return None
    try:
        return evaluate_model(model, shards, out, cfg.split, cfg.max_clips, tracking_uri, cfg.sync_model)
    except PdfgcError as exc:
        print(f"evaluation skipped: {exc}")
        return {"error": str(exc)}
