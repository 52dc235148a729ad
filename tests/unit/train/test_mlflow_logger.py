"""MLflowLogger against a file-based sqlite store: params, metrics, images, registry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mlflow")

from pdfgc.config import load_config  # noqa: E402
from pdfgc.integrations.mlflow_logger import MLflowLogger, default_tracking_uri, start_parent_run  # noqa: E402


def test_child_run_params_metrics_image_and_registered_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # a stray default store would land here, not in the checkout

    uri = default_tracking_uri(tmp_path)
    parent = start_parent_run(uri, "pdfgc-test", "train-x")
    logger = MLflowLogger(uri, "pdfgc-test", run_name="stage-3", parent_run_id=parent)
    cfg = load_config("tiny")
    logger.log_params(cfg.to_flat_dict())
    logger.log_metrics({"loss": 0.5, "loss_mot": 0.25}, step=3)
    logger.log_metrics({"loss": 0.4}, step=4)
    logger.log_image(np.full((8, 8, 3), 200, np.uint8), "3_grid", step=3)
    torch.save({"format": "pdfgc-export/1", "model": {"w": torch.ones(2)}}, tmp_path / "export.pt")
    uri_of_model = logger.register_export(tmp_path / "export.pt", "pdfgc-gen", {"stage": "3", "data_manifest_sha256": "abc"})
    logger.close()

    client = MlflowClient(uri)
    run = client.get_run(logger.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent and run.info.status == "FINISHED"
    assert run.data.params["model.net_image_size"] == "64" and run.data.params["train.stage3.k_frames"] == "3"
    assert [m.value for m in client.get_metric_history(logger.run_id, "train/loss")] == [0.5, 0.4]
    assert run.data.metrics["train/loss_mot"] == 0.25
    images = [f.path for f in client.list_artifacts(logger.run_id, "images")]
    assert any(p.startswith("images/3_grid") and p.endswith(".png") for p in images)
    assert uri_of_model == "models:/pdfgc-gen/1"
    version = client.get_model_version("pdfgc-gen", "1")
    assert version.tags == {"stage": "3", "data_manifest_sha256": "abc"}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # models:/ resolves through the registry URI
    local = mlflow.artifacts.download_artifacts(uri_of_model, dst_path=str(tmp_path / "download"))
    export = torch.load(os.path.join(local, "export.pt"), weights_only=True)
    assert torch.equal(export["model"]["w"], torch.ones(2))
