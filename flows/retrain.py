"""Scheduled retraining with a champion and a challenger, and the deployment entry points.

Steps of ``retrain`` (one at a time per registry: ``pdfgc.retrain.lock``):
1. read the model holding the ``champion`` alias (a broken one is an error before any work);
2. preprocess the source incrementally (only videos not yet in the shards);
3. when at least ``retrain.min_new_samples`` samples were added (or there is no champion yet),
   train a challenger: it fine-tunes ``retrain.stages`` from the champion's export (all stages
   on a first run) into a new run folder under ``runs``, and registers a new version;
4. score challenger and champion with ``pdfgc evaluate`` on the same fixed test split;
5. decide (``pdfgc.retrain.decision``), tag the new version with both scores and the decision,
   log ``decision/decision.json`` in its run and move the alias only when the challenger won.
A failure anywhere before step 5's alias move leaves the champion where it was.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.notify import notify_failure
from flows.preprocess import preprocess
from flows.train import train
from pdfgc.config import PdfgcConfig, load_config
from pdfgc.io import atomic_write_json
from pdfgc.retrain.decision import Decision, decide
from pdfgc.retrain.lock import registry_lock

DECISION_FILE = "decision.json"
EVAL_DIR = "eval"


@flow(name="preprocess-deployment", on_failure=[notify_failure])
def preprocess_deployment(source: str, out: str, config: str = "paper", overrides: list[str] | None = None) -> dict[str, Any]:
    return preprocess(source, out, load_config(config, overrides))


def registry_tracking_uri(cfg: PdfgcConfig, runs: str | Path) -> str:
    """``tracking.uri``, or one SQLite store for every run under ``runs`` (so the registry and
    its champion persist from one retrain to the next)."""
    from pdfgc.integrations.mlflow_logger import default_tracking_uri

    return cfg.tracking.uri or default_tracking_uri(runs)


@task(cache_policy=NO_CACHE, task_run_name="evaluate-{label}")
def score_model(export: Path, shards: str, cfg: PdfgcConfig, out: Path, label: str) -> dict[str, Any]:
    """metrics.json of ``pdfgc evaluate`` for one model on the split ``evaluation.split`` (test)."""
    from pdfgc.eval.evaluate import EvalRequest, evaluate

    ev = cfg.evaluation
    return evaluate(EvalRequest(str(export), shards, Path(out), ev.split, ev.max_clips, cfg.tracking.uri, ev.sync_model))


def _challenger_config(cfg: PdfgcConfig, fine_tune: bool) -> tuple[list[str], PdfgcConfig]:
    stages = list(cfg.retrain.stages) if fine_tune else ["critic", "1", "2", "3"]
    tuned = cfg.model_copy(deep=True)
    tuned.evaluation.after_training = False  # the retrain flow scores both models itself
    if fine_tune and cfg.retrain.steps is not None:
        for stage in stages:
            section = tuned.train.critic if stage == "critic" else getattr(tuned.train, f"stage{stage}")
            section.steps = cfg.retrain.steps
    return stages, tuned


def _decide_and_record(registry: Any, champion: Any, challenger_version: str, scores: dict[str, Any],
                       cfg: PdfgcConfig, run_dir: Path) -> Decision:
    decision = decide(scores.get("champion"), scores["challenger"], cfg.retrain)
    decision.champion_version = champion.version if champion else None
    decision.challenger_version = challenger_version
    registry.record_decision(challenger_version, decision.to_json())
    atomic_write_json(run_dir / DECISION_FILE, decision.to_json())
    if decision.promote:
        registry.set_champion(challenger_version)
    return decision


def _retrain_locked(source: str, shards: str, runs: Path, cfg: PdfgcConfig, max_steps: int | None) -> dict[str, Any]:
    from pdfgc.integrations.mlflow_registry import ModelRegistry

    registry = ModelRegistry(cfg.tracking.uri, cfg.tracking.registered_model, cfg.retrain.alias)
    champion = registry.champion()  # a broken champion is an error before any work
    prepared = preprocess(source, shards, cfg)
    if champion is not None and prepared["samples_new"] < cfg.retrain.min_new_samples:
        print(f"only {prepared['samples_new']} new samples (< {cfg.retrain.min_new_samples}): not retraining; "
              f"champion stays version {champion.version}")
        return {"preprocess": prepared, "trained": None, "decision": None}
    run_dir = runs / time.strftime("%Y%m%d-%H%M%S")
    champion_export = registry.download_export(champion, run_dir / "champion") if champion else None
    stages, train_cfg = _challenger_config(cfg, fine_tune=champion is not None)
    trained = train(shards, run_dir, train_cfg, stage=stages, max_steps=max_steps,
                    init_from=champion_export, critic_from=champion_export)
    challenger_version = trained["registered_model_uri"].rsplit("/", 1)[-1]
    challenger_export = Path(trained["exports"][stages[-1]])
    try:
        scores = {"challenger": score_model(challenger_export, shards, cfg, run_dir / EVAL_DIR / "challenger", "challenger")}
        if champion_export is not None:
            scores["champion"] = score_model(champion_export, shards, cfg, run_dir / EVAL_DIR / "champion", "champion")
        decision = _decide_and_record(registry, champion, challenger_version, scores, cfg, run_dir)
    except Exception as exc:
        registry.mark_failed(challenger_version, f"{type(exc).__name__}: {exc}")
        raise
    print(f"version {challenger_version} vs champion {decision.champion_version or 'none'}: {decision.summary()}")
    return {"preprocess": prepared, "trained": trained, "decision": decision.to_json(),
            "decision_file": str(run_dir / DECISION_FILE)}


@flow(name="retrain", log_prints=True, on_failure=[notify_failure])
def retrain(
    source: str, shards: str, runs: str, config: str = "paper", overrides: list[str] | None = None,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Preprocess new videos, fine-tune a challenger from the champion, evaluate both, decide."""
    cfg = load_config(config, overrides)
    runs_dir = Path(runs).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    cfg.tracking.uri = registry_tracking_uri(cfg, runs_dir)
    with registry_lock(cfg.tracking.uri, cfg.tracking.registered_model, cfg.retrain.lock_dir):
        return _retrain_locked(source, shards, runs_dir, cfg, max_steps)


def format_decision(result: dict[str, Any]) -> str:
    """What ``pdfgc retrain`` prints: the decision as indented JSON, or why nothing was trained."""
    if result.get("decision") is None:
        return f"no retraining: {result['preprocess']['samples_new']} new samples"
    return json.dumps(result["decision"], indent=2, sort_keys=True)
