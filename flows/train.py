"""Training flow: the critic and the three progressive stages, each a torchrun job.

Steps:
1. write the resolved config into the run folder and open the MLflow parent run;
2. run each requested stage (critic -> 1 -> 2 -> 3) as one Prefect task that launches
   ``torchrun -m pdfgc.train`` and streams its log; each stage's export initialises the next;
3. register the last export in the MLflow Model Registry and write RUN/summary.json;
4. evaluate the registered model (``flows/evaluate.py``, ``evaluation.*`` in the config) into
   RUN/evaluation/, unless ``evaluation.after_training`` is off.

The chaining lives in ``pdfgc.train.launch.train_all``; this flow makes each stage a task run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.evaluate import evaluate_after_training
from pdfgc.config import PdfgcConfig
from pdfgc.stages import in_order, select_stages
from pdfgc.train.launch import launch_stage, train_all
from pdfgc.train.layout import RunLayout
from pdfgc.train.loop import StageResult
from pdfgc.train.plan import StageLaunch, Topology, TrainPlan


@task(cache_policy=NO_CACHE, task_run_name="stage-{launch.request.stage}")
def run_stage(launch: StageLaunch) -> StageResult:
    return launch_stage(launch)


def plan_for(shards: str, out: Path, cfg: PdfgcConfig, stage: str | list[str], max_steps: int | None) -> TrainPlan:
    """The stages of ``stage`` (a name, ``all`` or a list of names) with the config's topology."""
    topology = Topology(nproc=cfg.train.nproc_per_node, nnodes=cfg.train.nnodes)
    stages = select_stages(stage, cfg.sync.in_all) if isinstance(stage, str) else in_order(list(stage))
    return TrainPlan(stages, str(shards), Path(out), topology, max_steps)


@flow(name="train", log_prints=True)
def train_flow(shards: str, out: Path, cfg: PdfgcConfig, stage: str | list[str] = "all", max_steps: int | None = None,
               init_from: Path | None = None, critic_from: Path | None = None) -> dict[str, Any]:
    plan = dataclasses.replace(plan_for(shards, out, cfg, stage, max_steps), init_from=init_from, critic_from=critic_from)
    summary = train_all(cfg, plan, run_stage=run_stage)
    registered = ", ".join(uri for uri in (summary.registered_model_uri, summary.sync_model_uri) if uri)
    print(f"trained stages {', '.join(summary.child_run_ids)}; registered {registered or 'nothing'}")
    evaluation = evaluate_after_training(summary.registered_model_uri, str(shards), RunLayout(Path(out).resolve()).evaluation,
                                         cfg.evaluation, summary.tracking_uri)
    return {
        "tracking_uri": summary.tracking_uri,
        "parent_run_id": summary.parent_run_id,
        "stage_run_ids": summary.child_run_ids,
        "registered_model_uri": summary.registered_model_uri,
        "sync_model_uri": summary.sync_model_uri,
        "exports": summary.exports,
        "last_checkpoints": summary.last_checkpoints,
        "summary": str(Path(out).resolve() / "summary.json"),
        "evaluation": evaluation,
    }


def train(shards: str, out: Path, cfg: PdfgcConfig, stage: str | list[str] = "all", max_steps: int | None = None,
          init_from: Path | None = None, critic_from: Path | None = None) -> dict[str, Any]:
    """Train ``stage`` (a name, ``all`` or a list of stages); ``init_from``/``critic_from``
    start the first stage from an earlier export (fine-tuning)."""
    return train_flow(str(shards), Path(out), cfg, stage, max_steps, init_from, critic_from)
