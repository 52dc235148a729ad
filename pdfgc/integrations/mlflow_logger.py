"""MLflow behind the MetricLogger protocol: the only place pdfgc talks to MLflow.

``mlflow`` is imported inside the constructors, so importing this module costs nothing.
Runs are created with ``MlflowClient`` (no global active run): one parent run per ``pdfgc
train`` and one child run per stage (tag ``mlflow.parentRunId``). Metric names get the
``train/`` prefix. Models are registered without any pickled object: the run's ``model/``
artifact folder holds ``export.pt`` (a plain state dict) and the resolved config, and the model
version's source points at that folder, so ``mlflow.artifacts.download_artifacts(
"models:/NAME/VERSION")`` returns the folder with ``export.pt`` in it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from pdfgc.telemetry import quiet_telemetry

_logger = logging.getLogger(__name__)

METRIC_PREFIX = "train/"
SPLIT_PREFIXES = ("val/",)

MODEL_ARTIFACT_DIR = "model"
MAX_PARAM_LENGTH = 6000
PARAMS_PER_BATCH = 100


def metric_name(name: str) -> str:
    """``loss`` -> ``train/loss``; a name that already names its split (``val/...``) is kept."""
    return name if name.startswith(SPLIT_PREFIXES) else METRIC_PREFIX + name


def default_tracking_uri(out_dir: str | Path) -> str:
    """Embedded store beside the run: ``sqlite:///<out>/mlflow.db``."""
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def _client(tracking_uri: str) -> Any:
    quiet_telemetry()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(client: Any, name: str, artifact_location: str | None = None) -> str:
    """The experiment's id, creating it (with artifacts beside a local store) if needed."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def local_artifact_location(tracking_uri: str) -> str | None:
    """For a sqlite store, artifacts go to ``mlartifacts/`` beside the database (not the cwd)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()


def start_parent_run(tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str] | None = None) -> str:
    """Create the parent run of a multi-stage training job; returns its run id."""
    client = _client(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, local_artifact_location(tracking_uri))
    return client.create_run(experiment_id, run_name=run_name, tags=tags or {}).info.run_id


def end_run(tracking_uri: str, run_id: str, status: str = "FINISHED") -> None:
    _client(tracking_uri).set_terminated(run_id, status=status)


class MLflowLogger:
    """A MetricLogger writing to one MLflow run (a child of ``parent_run_id`` when given).

    Args:
        tracking_uri: e.g. ``http://127.0.0.1:5000`` or ``sqlite:///.../mlflow.db``.
        experiment: experiment name (created when missing).
        run_name: name of the new run; ignored when ``run_id`` attaches to an existing run.
        parent_run_id: the parent run, for one child run per stage.
        run_id: attach to this existing run instead of creating one.
        tags: extra run tags.
    """

    def __init__(self, tracking_uri: str, experiment: str, run_name: str | None = None,
                 parent_run_id: str | None = None, run_id: str | None = None,
                 tags: dict[str, str] | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.client = _client(tracking_uri)
        if run_id is None:
            experiment_id = ensure_experiment(self.client, experiment, local_artifact_location(tracking_uri))
            run_tags = dict(tags or {})
            if parent_run_id:
                run_tags["mlflow.parentRunId"] = parent_run_id
            run_id = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags).info.run_id
        self.run_id = run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in sorted(params.items())]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(metric_name(k), float(v), now, step) for k, v in sorted(metrics.items())]
        self.client.log_batch(self.run_id, metrics=items)

    def log_image(self, image: np.ndarray, name: str, step: int) -> None:
        self.client.log_image(self.run_id, np.ascontiguousarray(image), key=name, step=step)

    def log_artifact(self, path: str | Path, folder: str | None = "checkpoints") -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def register_export(self, export_path: str | Path, name: str, tags: dict[str, str],
                        config_path: str | Path | None = None) -> str:
        """Log ``export.pt`` (+ config) under ``model/`` and register that folder as a new
        version of ``name``; returns ``models:/NAME/VERSION``."""
        from mlflow.exceptions import MlflowException

        self.client.log_artifact(self.run_id, str(export_path), MODEL_ARTIFACT_DIR)
        if config_path is not None:
            self.client.log_artifact(self.run_id, str(config_path), MODEL_ARTIFACT_DIR)
        try:
            self.client.create_registered_model(name)
        except MlflowException:
            _logger.debug("registered model %s exists", name)
        artifact_uri = self.client.get_run(self.run_id).info.artifact_uri
        version = self.client.create_model_version(
            name, source=f"{artifact_uri}/{MODEL_ARTIFACT_DIR}", run_id=self.run_id, tags=tags
        )
        _logger.info("registered %s version %s", name, version.version)
        return f"models:/{name}/{version.version}"

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
