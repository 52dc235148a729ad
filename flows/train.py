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
from pdfgc.storage import RunStore, is_remote
from pdfgc.train.launch import launch_stage, train_all
from pdfgc.train.layout import RunLayout
from pdfgc.train.loop import StageResult
from pdfgc.train.plan import StageLaunch, Topology, TrainPlan


@task(cache_policy=NO_CACHE, task_run_name="stage-{launch.request.stage}")
def run_stage(launch: StageLaunch) -> StageResult:
    return launch_stage(launch)


def plan_for(shards: str, out: str | Path, cfg: PdfgcConfig, stage: str | list[str], max_steps: int | None,
             node_rank: int = 0) -> TrainPlan:
    """The stages of ``stage`` (a name, ``all`` or a list of names) with the config's topology;
    ``node_rank`` is this machine's place in a multi-node run."""
    topology = Topology(nproc=cfg.train.nproc_per_node, nnodes=cfg.train.nnodes, node_rank=node_rank)
    stages = select_stages(stage, cfg.sync.in_all) if isinstance(stage, str) else in_order(list(stage))
    return TrainPlan(stages, str(shards), _run_folder(out), topology, max_steps)


def _run_folder(out: str | Path) -> str | Path:
    return str(out) if is_remote(out) else Path(out)


@flow(name="train", log_prints=True)
def train_flow(shards: str, out: str, cfg: PdfgcConfig, stage: str | list[str] = "all", max_steps: int | None = None,
               node_rank: int = 0, init_from: Path | None = None, critic_from: Path | None = None) -> dict[str, Any]:
    plan = dataclasses.replace(plan_for(shards, out, cfg, stage, max_steps, node_rank), init_from=init_from,
                               critic_from=critic_from)
    summary = train_all(cfg, plan, run_stage=run_stage)
    if node_rank > 0:
        print(f"node {node_rank}: trained stages {stage}; node 0 tracks the run")
        return {"node_rank": node_rank, "exports": summary.exports}
    registered = ", ".join(uri for uri in (summary.registered_model_uri, summary.sync_model_uri) if uri)
    print(f"trained stages {', '.join(summary.child_run_ids)}; registered {registered or 'nothing'}")
    evaluation_cfg = cfg.evaluation.model_copy(update={"sync_model": cfg.evaluation.sync_model or summary.sync_model_uri})
    local = RunStore.at(_run_folder(out)).local.resolve()
    evaluation = evaluate_after_training(summary.registered_model_uri, str(shards), RunLayout(local).evaluation,
                                         evaluation_cfg, summary.tracking_uri)
    folder = _run_folder(out)
    return {
        "tracking_uri": summary.tracking_uri,
        "parent_run_id": summary.parent_run_id,
        "stage_run_ids": summary.child_run_ids,
        "registered_model_uri": summary.registered_model_uri,
        "sync_model_uri": summary.sync_model_uri,
        "exports": summary.exports,
        "last_checkpoints": summary.last_checkpoints,
        "summary": f"{folder}/summary.json" if isinstance(folder, str) else str(folder.resolve() / "summary.json"),
        "evaluation": evaluation,
    }


def train(shards: str, out: str | Path, cfg: PdfgcConfig, stage: str | list[str] = "all", max_steps: int | None = None,
          node_rank: int = 0, init_from: Path | None = None, critic_from: Path | None = None) -> dict[str, Any]:
    """Train ``stage`` (a name, ``all`` or a list of stages); ``init_from``/``critic_from``
    start the first stage from an earlier export (fine-tuning)."""
    return train_flow(str(shards), str(out), cfg, stage, max_steps, node_rank, init_from, critic_from)
