"""Champion/challenger decisions from two metrics.json dicts, checked by hand."""

from __future__ import annotations

import math

from pdfgc.config.ops import MetricRule, RetrainConfig
from pdfgc.retrain.decision import decide, model_scores


def metrics(**scores: float) -> dict:
    rows = [{"method": "model", "metric": name, "value": value} for name, value in scores.items()]
    rows.append({"method": "ground_truth", "metric": "psnr", "value": 99.0})
    return {"model": "x", "split": "test", "clips": 3, "skipped": [], "rows": rows}


CFG = RetrainConfig(primary=MetricRule(metric="psnr", margin=0.5),
                    guards=[MetricRule(metric="lmd", higher_is_better=False, tolerance=0.1)])


def test_first_run_promotes():
    decision = decide(None, metrics(psnr=10.0, lmd=3.0), CFG)
    assert decision.promote and "first model" in decision.reason
    assert decision.challenger_scores == {"psnr": 10.0, "lmd": 3.0}


def test_wins_by_more_than_the_margin():
    decision = decide(metrics(psnr=20.0, lmd=3.0), metrics(psnr=20.6, lmd=3.05), CFG)
    assert decision.promote, decision.reason


def test_gain_not_above_the_margin_keeps_the_champion():
    decision = decide(metrics(psnr=20.0, lmd=3.0), metrics(psnr=20.5, lmd=3.0), CFG)
    assert not decision.promote and "margin" in decision.reason


def test_losing_a_guard_keeps_the_champion():
    decision = decide(metrics(psnr=20.0, lmd=3.0), metrics(psnr=25.0, lmd=3.2), CFG)
    assert not decision.promote and "guard lmd" in decision.reason


def test_lower_is_better_primary():
    cfg = RetrainConfig(primary=MetricRule(metric="lmd", higher_is_better=False, margin=0.0))
    assert decide(metrics(lmd=3.0), metrics(lmd=2.9), cfg).promote
    assert not decide(metrics(lmd=3.0), metrics(lmd=3.1), cfg).promote


def test_missing_or_nan_scores_keep_the_champion():
    assert not decide(metrics(psnr=20.0, lmd=3.0), metrics(lmd=1.0), CFG).promote
    nan = decide(metrics(psnr=20.0, lmd=3.0), metrics(psnr=math.nan, lmd=1.0), CFG)
    assert not nan.promote and "challenger has no psnr" in nan.reason
    assert model_scores(metrics(psnr=math.nan)) == {}


def test_guard_missing_on_one_or_both_sides():
    lost = decide(metrics(psnr=20.0, lmd=3.0), metrics(psnr=25.0), CFG)
    assert not lost.promote and "challenger has no score" in lost.reason
    neither = decide(metrics(psnr=20.0), metrics(psnr=25.0), CFG)
    assert neither.promote and "not measured for either model: lmd" in neither.reason
    assert decide(metrics(psnr=20.0), metrics(psnr=25.0, lmd=9.0), CFG).promote


def test_default_rules_guard_against_a_psnr_gain_that_loses_the_face():
    """The defaults: PSNR by more than 0.05 dB, face_found within 0.05, ST-LPIPS within 0.02."""
    champion = metrics(**{"self/psnr": 13.0, "self/face_found": 0.5, "self/perceptual": 0.50})
    defaults = RetrainConfig()
    lost_face = decide(champion, metrics(**{"self/psnr": 14.0, "self/face_found": 0.4, "self/perceptual": 0.50}), defaults)
    assert not lost_face.promote and "guard self/face_found" in lost_face.reason
    blurrier = decide(champion, metrics(**{"self/psnr": 14.0, "self/face_found": 0.5, "self/perceptual": 0.53}), defaults)
    assert not blurrier.promote and "guard self/perceptual" in blurrier.reason
    tiny_gain = decide(champion, metrics(**{"self/psnr": 13.04, "self/face_found": 0.5, "self/perceptual": 0.50}), defaults)
    assert not tiny_gain.promote and "margin" in tiny_gain.reason
    better = decide(champion, metrics(**{"self/psnr": 13.1, "self/face_found": 0.46, "self/perceptual": 0.515}), defaults)
    assert better.promote, better.reason
