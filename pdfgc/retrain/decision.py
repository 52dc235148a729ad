"""Whether a challenger replaces the champion, from two ``pdfgc evaluate`` metrics.json dicts.

Both models are scored on the same fixed test split. The challenger wins when it beats the
champion on the primary metric by more than the margin and loses no guard metric by more than
its tolerance. Only the ``model`` rows count (not the ground-truth or repeated-source
baselines). The primary metric must be measured (finite) for both models, else the champion
stays: a model is never promoted on a score nobody measured. A guard the challenger lacks while
the champion has it counts as lost; a guard neither model has (e.g. no face found in either
output) is skipped and named in the reason. With no champion at all, the challenger is promoted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pdfgc.config.ops import MetricRule, RetrainConfig

MODEL_METHOD = "model"


@dataclass
class Decision:
    promote: bool
    reason: str
    primary: str
    champion_scores: dict[str, float] = field(default_factory=dict)
    challenger_scores: dict[str, float] = field(default_factory=dict)
    champion_version: str | None = None
    challenger_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "PROMOTED" if self.promote else "KEPT CHAMPION"
        return f"{verdict}: {self.reason}"


def model_scores(metrics: dict[str, Any]) -> dict[str, float]:
    """``{metric: value}`` of the ``model`` rows of a metrics.json dict (finite values only)."""
    scores: dict[str, float] = {}
    for row in metrics.get("rows", []):
        value = row.get("value")
        if row.get("method") == MODEL_METHOD and isinstance(value, (int, float)) and math.isfinite(value):
            scores[str(row["metric"])] = float(value)
    return scores


def _gain(rule: MetricRule, champion: float, challenger: float) -> float:
    """How much better the challenger is (negative: worse), in the metric's own units."""
    return challenger - champion if rule.higher_is_better else champion - challenger


def _compare(rule: MetricRule, champion: dict[str, float], challenger: dict[str, float]) -> float | str:
    """The gain, or the reason it cannot be computed."""
    for side, scores in (("champion", champion), ("challenger", challenger)):
        if rule.metric not in scores:
            return f"{side} has no {rule.metric} score"
    return _gain(rule, champion[rule.metric], challenger[rule.metric])


def decide(champion_metrics: dict[str, Any] | None, challenger_metrics: dict[str, Any], cfg: RetrainConfig) -> Decision:
    """The promotion decision.

    Examples
    --------
    >>> decide(None, challenger, cfg).promote
    True
    """
    challenger = model_scores(challenger_metrics)
    primary = cfg.primary.metric
    if champion_metrics is None:
        return Decision(True, "no champion yet: the first model becomes champion", primary, {}, challenger)
    champion = model_scores(champion_metrics)
    decision = Decision(False, "", primary, champion, challenger)
    gain = _compare(cfg.primary, champion, challenger)
    if isinstance(gain, str):
        decision.reason = f"primary metric not comparable: {gain}"
        return decision
    if gain <= cfg.primary.margin:
        decision.reason = f"{primary} gain {gain:+.4g} is not above the margin {cfg.primary.margin:g}"
        return decision
    lost, skipped = _guards(cfg.guards, champion, challenger)
    if lost:
        decision.reason = lost
        return decision
    decision.promote = True
    decision.reason = f"{primary} gain {gain:+.4g} above the margin {cfg.primary.margin:g}, guards within tolerance"
    if skipped:
        decision.reason += f" (not measured for either model: {', '.join(skipped)})"
    return decision


def _guards(guards: list[MetricRule], champion: dict[str, float], challenger: dict[str, float]) -> tuple[str, list[str]]:
    """The first lost guard's reason ('' when none) and the guards neither model has."""
    skipped = []
    for guard in guards:
        if guard.metric not in champion:
            if guard.metric not in challenger:
                skipped.append(guard.metric)
            continue
        if guard.metric not in challenger:
            return f"guard {guard.metric}: the challenger has no score, the champion has", skipped
        loss = -_gain(guard, champion[guard.metric], challenger[guard.metric])
        if loss > guard.tolerance:
            return f"guard {guard.metric} worse by {loss:.4g} (tolerance {guard.tolerance:g})", skipped
    return "", skipped
