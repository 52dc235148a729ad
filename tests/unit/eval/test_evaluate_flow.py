"""The evaluation step of the training flow: off, nothing registered, or a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import flows.evaluate as evaluate_flow
from pdfgc.config import EvaluationConfig
from pdfgc.errors import InputError


def test_no_evaluation_when_off_or_nothing_was_registered(tmp_path: Path) -> None:
    assert evaluate_flow.evaluate_after_training("models:/m/1", "s", tmp_path, EvaluationConfig(after_training=False), None) is None
    assert evaluate_flow.evaluate_after_training(None, "s", tmp_path, EvaluationConfig(), None) is None


def test_an_evaluation_that_cannot_run_returns_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    calls = []

    def refuse(*args):
        calls.append(args)
        raise InputError("shards/manifest.parquet: split 'test' has no clips (6 samples in all)")

    monkeypatch.setattr(evaluate_flow, "evaluate_model", refuse)
    result = evaluate_flow.evaluate_after_training("models:/m/1", "shards", tmp_path, EvaluationConfig(max_clips=3), "uri")
    assert result == {"error": "shards/manifest.parquet: split 'test' has no clips (6 samples in all)"}
    assert calls == [("models:/m/1", "shards", tmp_path, "test", 3, "uri", None)]
    assert "evaluation skipped: shards/manifest.parquet" in capsys.readouterr().out
