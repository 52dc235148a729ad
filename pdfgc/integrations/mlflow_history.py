"""Loss curves read back from MLflow for the HTML report (``mlflow`` imported lazily)."""

from __future__ import annotations

LOSS_PREFIX = "train/loss"
MAX_CURVES_PER_STAGE = 6


def loss_curves(tracking_uri: str, stage_run_ids: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """``{stage: {loss name: values by step}}``: the first six ``train/loss*`` metrics of each
    stage's run, names without the ``train/`` prefix."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    curves: dict[str, dict[str, list[float]]] = {}
    for stage, run_id in stage_run_ids.items():
        run = client.get_run(run_id)
        keys = sorted(k for k in run.data.metrics if k.startswith(LOSS_PREFIX))
        curves[stage] = {
            key.removeprefix("train/"): [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
            for key in keys[:MAX_CURVES_PER_STAGE]
        }
    return curves
