"""The registry adapter against a real MLflow SQLite store: champion alias, decision tags and
artifact, listing, promotion, and one-line errors for a broken champion."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("mlflow")

from pdfgc.errors import InputError  # noqa: E402
from pdfgc.integrations.mlflow_logger import MLflowLogger, default_tracking_uri  # noqa: E402
from pdfgc.integrations.mlflow_registry import ModelRegistry  # noqa: E402
from pdfgc.retrain.decision import Decision  # noqa: E402
from pdfgc.ops_cli import format_versions  # noqa: E402

NAME = "pdfgc-gen"


def register(uri: str, folder: Path, value: float, name: str) -> str:
    logger = MLflowLogger(uri, "pdfgc-test", run_name="stage-3")
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "pdfgc-export/1", "model": {"w": torch.full((2,), value)}}, folder / "export.pt")
    uri_of_model = logger.register_export(folder / "export.pt", name, {"stage": "3"})
    logger.close()
    return uri_of_model.rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One SQLite store for the module (creating one costs seconds); each test its own model name."""
    return default_tracking_uri(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture()
def store(tracking_uri: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    name = f"{NAME}-{request.node.name[-20:]}"
    return tracking_uri, ModelRegistry(tracking_uri, name), name


def test_champion_alias_decisions_and_listing(store, tmp_path):
    uri, registry, name = store
    assert registry.champion() is None and registry.versions() == []
    first = register(uri, tmp_path / "a", 1.0, name)
    registry.set_champion(first)
    second = register(uri, tmp_path / "b", 2.0, name)
    decision = Decision(False, "self/psnr gain -1 is not above the margin 0", "self/psnr",
                        {"self/psnr": 20.0}, {"self/psnr": 19.0}, first, second)
    registry.record_decision(second, decision.to_json())

    champion = registry.champion()
    assert champion.version == first
    export = torch.load(registry.download_export(champion, tmp_path / "dl"), weights_only=True)
    assert torch.equal(export["model"]["w"], torch.ones(2))
    rows = registry.versions()
    assert [row["version"] for row in rows] == [second, first] and rows[1]["aliases"] == ["champion"]
    tags = rows[0]["tags"]
    assert tags["decision"] == "kept_champion" and tags["score.challenger.self/psnr"] == "19"
    assert tags["score.champion.self/psnr"] == "20" and tags["champion_before"] == first
    artifacts = [f.path for f in registry.client.list_artifacts(rows[0]["run_id"], "decision")]
    assert artifacts == ["decision/decision.json"]
    listing = format_versions(rows, "champion")
    assert "kept_champion" in listing and "self/psnr=19|20" in listing

    registry.set_champion(second)  # rollback / manual promotion
    assert registry.champion().version == second


def test_unknown_version_and_deleted_champion_are_one_line_errors(store, tmp_path):
    uri, registry, name = store
    version = register(uri, tmp_path / "a", 1.0, name)
    registry.set_champion(version)
    with pytest.raises(InputError, match="version 7 does not exist"):
        registry.set_champion("7")
    registry.client.delete_run(registry.version(version).run_id)
    registry.client.delete_model_version(name, version)
    with pytest.raises(InputError, match=f"alias 'champion' was on version {version}, which no longer exists"):
        registry.champion()  # MLflow dropped the alias with the version; the registry remembers it
    second = register(uri, tmp_path / "b", 2.0, name)
    registry.set_champion(second)  # the way out the error names
    assert registry.champion().version == second


def test_champion_whose_run_is_not_on_this_server(store, tmp_path):
    uri, registry, name = store
    version = register(uri, tmp_path / "a", 1.0, name)
    registry.set_champion(version)
    run_id = registry.version(version).run_id
    registry.client.delete_run(run_id)
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, str(tmp_path / "mlartifacts"))._hard_delete_run(run_id)
    with pytest.raises(InputError, match="not on this tracking server") as err:
        registry.champion()
    assert "\n" not in str(err.value)
