"""The Model Registry side of champion/challenger retraining: aliases, version tags, decisions.

``mlflow`` is imported inside ``_client`` only. Every MLflow failure a user can cause (an alias
on a deleted version, a version whose run lives on another tracking server, a registry that
cannot be reached) becomes one InputError line; nothing here moves the alias except
``set_champion``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdfgc.errors import InputError
from pdfgc.integrations.mlflow_logger import _client

_logger = logging.getLogger(__name__)

DECISION_FILE = "decision.json"
DECISION_ARTIFACT_DIR = "decision"
SCORE_TAG_PREFIX = "score."
MAX_TAG_LENGTH = 5000
CHAMPION_TAG = "pdfgc.champion_version"
"""Registered-model tag repeating the alias target: MLflow drops an alias with its version, and
this tag tells a deleted champion apart from a registry that never had one."""


@dataclass(frozen=True)
class ModelVersionRef:
    name: str
    version: str
    run_id: str | None
    source: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ModelRegistry:
    """One registered model on one tracking server.

    Args:
        tracking_uri: the MLflow tracking (and registry) URI.
        name: the registered model's name.
        alias: the alias of the model in service (``champion``).
    """

    def __init__(self, tracking_uri: str, name: str, alias: str = "champion") -> None:
        self.tracking_uri, self.name, self.alias = tracking_uri, name, alias
        self.client = _client(tracking_uri)

    def _fail(self, what: str, exc: Exception) -> InputError:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return InputError(f"registry {self.name} on {self.tracking_uri}: {what} ({message})")

    def exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise self._fail("cannot read the registered model", exc) from None
        return True

    def version(self, version: str) -> ModelVersionRef:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version(self.name, str(version))
        except MlflowException as exc:
            raise self._fail(f"version {version} does not exist", exc) from None
        return ModelVersionRef(self.name, str(found.version), found.run_id, found.source)

    def champion(self) -> ModelVersionRef | None:
        """The version holding the alias, checked to be usable here; None when no alias is set."""
        from mlflow.exceptions import MlflowException

        if not self.exists():
            return None
        model = self.client.get_registered_model(self.name)
        aliases = model.aliases or {}
        if self.alias not in aliases:
            recorded = (model.tags or {}).get(CHAMPION_TAG)
            if recorded:
                raise InputError(f"registry {self.name} on {self.tracking_uri}: alias {self.alias!r} was on version "
                                 f"{recorded}, which no longer exists; choose one with pdfgc registry promote VERSION")
            return None
        try:
            found = self.client.get_model_version_by_alias(self.name, self.alias)
        except MlflowException as exc:
            raise self._fail(f"alias {self.alias!r} points at version {aliases[self.alias]}, which cannot be read", exc) from None
        ref = ModelVersionRef(self.name, str(found.version), found.run_id, found.source)
        self._check_run(ref)
        return ref

    def _check_run(self, ref: ModelVersionRef) -> None:
        """The version's run must be on this tracking server (not a registry copied from another)."""
        from mlflow.exceptions import MlflowException

        if ref.run_id is None:
            return
        try:
            self.client.get_run(ref.run_id)
        except MlflowException as exc:
            raise self._fail(f"version {ref.version}'s run {ref.run_id} is not on this tracking server "
                             "(a registry of another tracking server?)", exc) from None

    def download_export(self, ref: ModelVersionRef, into: Path | None = None) -> Path:
        """The version's ``export.pt`` on local disk."""
        import mlflow

        target = Path(into or tempfile.mkdtemp(prefix=f"pdfgc-{self.name}-v{ref.version}-"))
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.source, dst_path=str(target),
                                                             tracking_uri=self.tracking_uri))
        except Exception as exc:  # MLflow raises many types for missing artifacts or servers
            raise self._fail(f"version {ref.version}'s files cannot be downloaded from {ref.source}", exc) from None
        found = [local] if local.is_file() else sorted(local.rglob("export.pt"))
        if not found:
            raise InputError(f"registry {self.name}: version {ref.version} has no export.pt at {ref.source}")
        return found[0]

    def set_champion(self, version: str) -> None:
        ref = self.version(version)
        self.client.set_registered_model_alias(self.name, self.alias, ref.version)
        self.client.set_registered_model_tag(self.name, CHAMPION_TAG, ref.version)
        _logger.info("%s: alias %s -> version %s", self.name, self.alias, ref.version)

    def record_decision(self, version: str, decision: dict[str, Any]) -> None:
        """Tags on the version (decision, reason, both scores) and ``decision/decision.json`` in its run."""
        ref = self.version(version)
        for key, value in decision_tags(decision).items():
            self.client.set_model_version_tag(self.name, ref.version, key, value)
        if ref.run_id:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / DECISION_FILE
                path.write_text(json.dumps(decision, indent=2, sort_keys=True))
                self.client.log_artifact(ref.run_id, str(path), DECISION_ARTIFACT_DIR)

    def mark_failed(self, version: str, reason: str) -> None:
        """Tag a version whose retrain failed after it was registered (the alias stays put)."""
        try:
            self.client.set_model_version_tag(self.name, str(version), "decision", "failed")
            self.client.set_model_version_tag(self.name, str(version), "decision.reason", reason[:MAX_TAG_LENGTH])
        except Exception as exc:  # noqa: BLE001 - the original failure is what the user must see
            _logger.warning("could not tag failed version %s: %s", version, exc)

    def versions(self) -> list[dict[str, Any]]:
        """Every version, newest first: version, aliases, tags, run id, creation time (ms)."""
        if not self.exists():
            return []
        aliases: dict[str, list[str]] = {}
        for alias, version in (self.client.get_registered_model(self.name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        found = self.client.search_model_versions(f"name='{self.name}'")
        rows = [{"version": str(v.version), "aliases": sorted(aliases.get(str(v.version), [])), "tags": dict(v.tags),
                 "run_id": v.run_id, "created": int(v.creation_timestamp or 0)} for v in found]
        return sorted(rows, key=lambda row: int(row["version"]), reverse=True)


def decision_tags(decision: dict[str, Any]) -> dict[str, str]:
    """Flat version tags: ``decision``, ``decision.reason``, ``score.<side>.<metric>``, versions."""
    tags = {"decision": "promoted" if decision["promote"] else "kept_champion",
            "decision.reason": str(decision["reason"])[:MAX_TAG_LENGTH],
            "decision.primary": str(decision["primary"]),
            "champion_before": str(decision.get("champion_version") or "none")}
    for side in ("champion", "challenger"):
        for metric, value in sorted(decision.get(f"{side}_scores", {}).items()):
            tags[f"{SCORE_TAG_PREFIX}{side}.{metric}"] = f"{value:.6g}"
    return tags
