"""An evaluation in MLflow: a run nested under the model's training run, and tags on the
registered model version.

The model's run is the one that logged its export (for ``models:/NAME/VERSION`` or
``models:/NAME@ALIAS``, the version's ``run_id``; for ``runs:/ID/...``, ``ID``); the
evaluation run becomes a child of that run's parent (the ``pdfgc train`` run that holds every
stage) when it has one, else of that run. Metric names: ``eval/<setting>/<metric>/<method>``.
A registered version gets one tag per ``model`` row, ``eval.<split>.<setting>/<metric>``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from pdfgc.errors import InputError
from pdfgc.integrations.mlflow_logger import _client

_logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
METRIC_PREFIX = "eval/"


def parse_model_uri(uri: str) -> dict[str, str]:
    """``{"run_id"}`` for ``runs:/ID/PATH``; ``{"name", "version"}`` or ``{"name", "alias"}`` for ``models:/``."""
    if uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").strip("/").split("/")[0]
        if not run_id:
            raise InputError(f"{uri}: no run id")
        return {"run_id": run_id}
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/").strip("/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return {"name": name, "alias": alias}
        name, _, version = rest.partition("/")
        if not name or not version:
            raise InputError(f"{uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
        return {"name": name, "version": version}
    raise InputError(f"{uri}: not an MLflow model URI")


def _model_version(client: Any, parsed: dict[str, str]) -> Any:
    if "alias" in parsed:
        return client.get_model_version_by_alias(parsed["name"], parsed["alias"])
    return client.get_model_version(parsed["name"], parsed["version"])


def flat_metrics(document: dict[str, Any]) -> dict[str, float]:
    """``eval/<setting>/<metric>/<method>`` -> value, finite values only."""
    return {f"{METRIC_PREFIX}{row['metric']}/{row['method']}": float(row["value"]) for row in document["rows"]
            if row["value"] is not None and math.isfinite(row["value"])}


def version_tags(document: dict[str, Any], run_id: str) -> dict[str, str]:
    """Tags for the registered version: the model's value of each metric (or why it is missing)."""
    split = document["split"]
    tags = {f"eval.{split}.run_id": run_id, f"eval.{split}.clips": str(document["clips"]),
            f"eval.{split}.skipped": str(len(document["skipped"]))}
    for row in document["rows"]:
        if row["method"] == "model":
            tags[f"eval.{split}.{row['metric']}"] = f"{row['value']:.6g}" if row["value"] is not None else "n/a: " + row["reason"][:200]
    return tags


def log_evaluation(model_uri: str, tracking_uri: str | None, document: dict[str, Any], out: Path) -> dict[str, Any]:
    """Log the evaluation run (+ tags on the model version); returns where it went."""
    from mlflow.entities import Metric, Param

    client = _client(tracking_uri) if tracking_uri else _client_default()
    parsed = parse_model_uri(model_uri)
    version = _model_version(client, parsed) if "name" in parsed else None
    model_run_id = version.run_id if version is not None else parsed["run_id"]
    if not model_run_id:
        raise InputError(f"{model_uri}: the model version names no run to nest the evaluation under")
    model_run = client.get_run(model_run_id)
    parent = model_run.data.tags.get(PARENT_TAG, model_run_id)
    run = client.create_run(model_run.info.experiment_id, run_name=f"evaluate-{document['split']}",
                            tags={PARENT_TAG: parent, "pdfgc.model_uri": model_uri, "pdfgc.kind": "evaluation"})
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    params = [Param("model", model_uri), Param("split", document["split"]), Param("clips", str(document["clips"])),
              Param("skipped", str(len(document["skipped"])))]
    metrics = [Metric(k, v, now, 0) for k, v in sorted(flat_metrics(document).items())]
    client.log_batch(run_id, params=params)
    for start in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[start: start + 500])
    for name in ("metrics.json", "report.html"):
        if (out / name).exists():
            client.log_artifact(run_id, str(out / name), "evaluation")
    client.set_terminated(run_id)
    result: dict[str, Any] = {"run_id": run_id, "parent_run_id": parent}
    if version is not None:
        for key, value in version_tags(document, run_id).items():
            client.set_model_version_tag(version.name, version.version, key, value)
        result["model_version"] = f"{version.name}/{version.version}"
    _logger.info("evaluation logged to MLflow run %s (under %s)", run_id, parent)
    return result


def _client_default() -> Any:
    import mlflow

    return _client(mlflow.get_tracking_uri())
