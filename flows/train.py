"""Training flow: the critic and the three progressive stages, each a torchrun job.

Steps:
1. write the resolved config into the run folder and open the MLflow parent run;
2. run each requested stage (critic -> 1 -> 2 -> 3) as one Prefect task that launches
   ``torchrun -m pdfgc.train`` and streams its log; each stage's export initialises the next;
3. register the last export in the MLflow Model Registry and write RUN/summary.json.

The chaining lives in ``pdfgc.train.launch.train_all``; this flow makes each stage a task run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pdfgc.config import PdfgcConfig
from pdfgc.stages import select_stages
from pdfgc.train.launch import launch_stage, train_all
from pdfgc.train.loop import StageResult
from pdfgc.train.plan import StageLaunch, Topology, TrainPlan


@task(cache_policy=NO_CACHE, task_run_name="stage-{launch.request.stage}")
def run_stage(launch: StageLaunch) -> StageResult:
    return launch_stage(launch)


def plan_for(shards: str, out: Path, cfg: PdfgcConfig, stage: str, max_steps: int | None) -> TrainPlan:
    """The stages of ``stage`` (a name or ``all``) with the config's topology."""
    topology = Topology(nproc=cfg.train.nproc_per_node, nnodes=cfg.train.nnodes)
    return TrainPlan(select_stages(stage), str(shards), Path(out), topology, max_steps)


@flow(name="train", log_prints=True)
def train_flow(shards: str, out: Path, cfg: PdfgcConfig, stage: str = "all", max_steps: int | None = None) -> dict[str, Any]:
    summary = train_all(cfg, plan_for(shards, out, cfg, stage, max_steps), run_stage=run_stage)
    print(f"trained stages {', '.join(summary.child_run_ids)}; registered {summary.registered_model_uri}")
    return {
        "tracking_uri": summary.tracking_uri,
        "parent_run_id": summary.parent_run_id,
        "stage_run_ids": summary.child_run_ids,
        "registered_model_uri": summary.registered_model_uri,
        "exports": summary.exports,
        "last_checkpoints": summary.last_checkpoints,
        "summary": str(Path(out).resolve() / "summary.json"),
    }


def train(shards: str, out: Path, cfg: PdfgcConfig, stage: str = "all", max_steps: int | None = None) -> dict[str, Any]:
    return train_flow(str(shards), Path(out), cfg, stage, max_steps)
