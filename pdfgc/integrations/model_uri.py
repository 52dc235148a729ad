"""Fetch a trained export from the MLflow tracker (``models:/NAME/VERSION``, ``runs:/ID/PATH``)."""

from __future__ import annotations

from pathlib import Path

from pdfgc.errors import InputError
from pdfgc.train.layout import EXPORT_NAME


def download_export(uri: str, tracking_uri: str | None = None) -> Path:
    """Download the artifacts behind ``uri`` and return the ``export.pt`` among them."""
    import mlflow

    if tracking_uri:
        # models:/ URIs resolve through the registry URI and then the default tracking URI;
        # without both, MLflow would open a fresh ./mlflow.db instead.
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri))
    except Exception as exc:  # MLflow raises many types for a bad URI or an absent server
        raise InputError(f"{uri}: cannot download the model ({type(exc).__name__}: {exc})") from None
    if local.is_file():
        return local
    found = sorted(local.rglob(EXPORT_NAME))
    if not found:
        raise InputError(f"{uri}: no {EXPORT_NAME} among the downloaded artifacts in {local}")
    return found[0]
