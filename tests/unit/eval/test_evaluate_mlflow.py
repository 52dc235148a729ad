"""What the evaluation sends to MLflow: model URIs, metric names and model-version tags."""

from __future__ import annotations

import pytest

from pdfgc.errors import InputError
from pdfgc.integrations.mlflow_eval import flat_metrics, parse_model_uri, version_tags

DOCUMENT = {
    "split": "test", "clips": 3, "skipped": [{"clip": "k", "reason": "no face"}],
    "rows": [
        {"method": "model", "metric": "self/psnr", "value": 21.25, "clips": 3},
        {"method": "ground_truth", "metric": "self/psnr", "value": 30.5, "clips": 3},
        {"method": "model", "metric": "self/lse_d", "value": None, "clips": 0, "reason": "no sync expert given (--sync-model)"},
    ],
}


def test_model_uris_name_a_run_or_a_registered_version() -> None:
    assert parse_model_uri("runs:/abc123/model") == {"run_id": "abc123"}
    assert parse_model_uri("models:/pdfgc-generator/3") == {"name": "pdfgc-generator", "version": "3"}
    assert parse_model_uri("models:/pdfgc-generator@champion") == {"name": "pdfgc-generator", "alias": "champion"}
    for bad in ("models:/only-a-name", "runs:/", "s3://bucket/export.pt"):
        with pytest.raises(InputError):
            parse_model_uri(bad)


def test_metrics_are_named_by_setting_metric_and_method_and_nulls_are_left_out() -> None:
    assert flat_metrics(DOCUMENT) == {"eval/self/psnr/model": 21.25, "eval/self/psnr/ground_truth": 30.5}


def test_version_tags_hold_the_model_rows_and_say_why_a_value_is_missing() -> None:
    tags = version_tags(DOCUMENT, "run-1")
    assert tags == {"eval.test.run_id": "run-1", "eval.test.clips": "3", "eval.test.skipped": "1",
                    "eval.test.self/psnr": "21.25", "eval.test.self/lse_d": "n/a: no sync expert given (--sync-model)"}
