"""Launch stages as torchrun jobs and chain them: critic -> 1 -> 2 -> 3.

``launch_stage`` runs ``python -m torch.distributed.run ... -m pdfgc.train ...`` as a child
process, streams its lines (prefixed with the stage) to the log, and turns a failure into a
PdfgcError naming the stage, the failing rank and the last error lines. ``train_all`` creates
the MLflow parent run, runs the stages with each stage's ``export.pt`` as the next one's
``--init-from``, registers the final export and writes ``OUT/summary.json``. MLflow is reached
only through ``pdfgc.integrations.mlflow_logger``, imported lazily.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pdfgc.config import PdfgcConfig, save_config
from pdfgc.curate.view import view_sha256
from pdfgc.errors import PdfgcError
from pdfgc.io import atomic_write_json
from pdfgc.procs import child_of_this_process
from pdfgc.stages import SYNC, in_order, previous_progressive, stage_config
from pdfgc.storage import RunStore, fetch_file, filesystem, is_remote
from pdfgc.telemetry import quiet_telemetry
from pdfgc.train.checkpoint import LATEST_NAME
from pdfgc.train.layout import EXPORT_NAME, RunLayout, StageLayout
from pdfgc.train.loop import StageResult
from pdfgc.train.plan import (
    DEFAULT_TASK_FACTORY,
    StageLaunch,
    StageRequest,
    Topology,
    TrainPlan,
)
from pdfgc.train.progress import StageProgress
from pdfgc.train.reader.loader import expand_shards
from pdfgc.train.reader.manifest_check import verified_manifest_hash
from pdfgc.train.torchrun import loopback_host_port

_logger = logging.getLogger(__name__)

ERROR_TAIL_LINES = 20
CHILD_ENV = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
LOOPBACK_INTERFACE = "lo"
FAILED_RANK = re.compile(r"(?<![_\w])rank\s*:\s*(\d+)")
LOCAL_RANK = re.compile(r"failed \(exitcode: -?\d+\) local_rank: (\d+)")
REPORT_EXIT_CODE = re.compile(r"^\s*exitcode\s+:\s*(-?\d+)")
"""The ``exitcode  : -9 (pid: N)`` line of a rank's block in torchrun's failure report."""
TORCHRUN_SIGTERM = -15
"""How the ranks torchrun stopped itself, after another one failed, exit."""
ROOT_CAUSE = "Root Cause (first observed failure)"
ERROR_HINT = re.compile(r"error|exception|traceback|failed|killed|signal", re.IGNORECASE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_command(launch: StageLaunch, rdzv_endpoint: str) -> list[str]:
    """``python -m pdfgc.train.torchrun ... -m pdfgc.train ...`` for one stage."""
    topology, request = launch.topology, launch.request
    return [
        sys.executable, "-m", "pdfgc.train.torchrun",
        "--nproc-per-node", str(topology.nproc), "--nnodes", str(topology.nnodes),
        *(["--node-rank", str(topology.node_rank)] if topology.nnodes > 1 else []),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint,
        "--max-restarts", str(launch.cfg.train.max_restarts),
        "-m", "pdfgc.train", "--config", str(launch.config_path), "--stage", request.stage,
        "--shards", request.shards, "--out", str(request.out), *_optional_args(launch),
    ]


def _optional_args(launch: StageLaunch) -> list[str]:
    request = launch.request
    pairs = [("--init-from", request.init_from), ("--critic-from", request.critic_from),
             ("--max-steps", request.max_steps), ("--parent-run-id", launch.parent_run_id),
             ("--tracking-uri", launch.tracking_uri)]
    args = [item for flag, value in pairs if value is not None for item in (flag, str(value))]
    if request.task_factory != DEFAULT_TASK_FACTORY:
        args += ["--task-factory", request.task_factory]
    return args


def _stream(process: subprocess.Popen, prefix: str, progress: StageProgress) -> collections.deque[str]:
    """Log the child's lines with a prefix (the log file; the terminal with -v) and move the
    stage's progress bar; keep the tail for the error message."""
    tail: collections.deque[str] = collections.deque(maxlen=200)
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        _logger.info("%s %s", prefix, line)
        progress.update()
    return tail


def _rank_killed_by_signal(lines: list[str]) -> str | None:
    """The first rank of torchrun's report that a signal stopped (SIGKILL from the OOM killer or
    an operator, SIGSEGV), other than the SIGTERM torchrun sends to the surviving ranks."""
    rank = None
    for line in lines:
        if match := FAILED_RANK.search(line):
            rank = match.group(1)
        elif (match := REPORT_EXIT_CODE.match(line)) and rank is not None:
            code = int(match.group(1))
            if code < 0 and code != TORCHRUN_SIGTERM:
                return rank
    return None


def _failing_rank(lines: list[str]) -> str:
    """The rank that caused the failure.

    A rank killed by a signal comes first: its peers then fail with "Connection closed by peer",
    and torchrun's "Root Cause" (the earliest time stamp) may name one of them, since a killed
    rank leaves no error file and its time is when torchrun noticed. Otherwise the rank under
    "Root Cause", else any rank a failure line names."""
    killed = _rank_killed_by_signal(lines)
    if killed is not None:
        return killed
    start = next((i for i, line in enumerate(lines) if ROOT_CAUSE in line), None)
    after_root = lines[start:] if start is not None else []
    for candidates in (after_root, [line for line in lines if "failed (exitcode" in line], lines):
        for line in candidates:
            match = FAILED_RANK.search(line) or LOCAL_RANK.search(line)
            if match:
                return match.group(1)
    return "unknown"


def _failure(stage: str, returncode: int, tail: collections.deque[str]) -> PdfgcError:
    lines = list(tail)
    errors = [line for line in lines if ERROR_HINT.search(line)][-ERROR_TAIL_LINES:] or lines[-ERROR_TAIL_LINES:]
    rank = _failing_rank(lines)
    return PdfgcError(f"training stage {stage} failed (exit code {returncode}, rank {rank}):\n" + "\n".join(errors))


def stage_environment(launch: StageLaunch) -> dict[str, str]:
    """torchrun's environment: ours, one thread per rank, no telemetry, then ``train.env``.

    On one node, or several meeting at a loopback endpoint, gloo's sockets stay on the loopback
    interface (unless the user names one)."""
    env = {**os.environ, **CHILD_ENV}
    quiet_telemetry(env)
    if launch.topology.nnodes == 1 or loopback_host_port(launch.topology.rdzv_endpoint):
        env.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK_INTERFACE)
    return {**env, **launch.cfg.train.env}


def target_step(cfg: PdfgcConfig, request: StageRequest) -> int:
    """The step a stage ends at: ``--max-steps`` or the stage's configured ``steps``."""
    return request.max_steps if request.max_steps is not None else stage_config(cfg, request.stage).steps


def finished_result(launch: StageLaunch) -> StageResult | None:
    """The result a previous run of this stage left, when it reached the step asked for now."""
    store = RunStore.at(launch.request.out)
    layout = StageLayout(store.local)
    store.fetch(layout.result.name)
    if not layout.result.exists() or not store.exists(layout.export.name):
        return None
    result = _read_result(store, launch.request.stage)
    return result if result.steps >= target_step(launch.cfg, launch.request) else None


def launch_stage(launch: StageLaunch) -> StageResult:
    """Run one stage under torchrun and return what its rank 0 wrote to ``stage_result.json``.

    A stage whose earlier run already reached the step asked for is not started again."""
    request = launch.request
    done = finished_result(launch)
    if done is not None:
        _logger.info("stage %s is complete (step %d); nothing to do", request.stage, done.steps)
        return done
    store = RunStore.at(request.out)
    store.local.mkdir(parents=True, exist_ok=True)
    endpoint = launch.topology.rdzv_endpoint or f"127.0.0.1:{free_port()}"
    command = torchrun_command(launch, endpoint)
    _logger.info("stage %s: %s", request.stage, " ".join(command))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=stage_environment(launch), **child_of_this_process()) as process:
        progress = StageProgress(request.stage, StageLayout(store.local).metrics, target_step(launch.cfg, request))
        tail = _stream(process, f"[stage {request.stage}]", progress)
        returncode = process.wait()
        progress.close()
    if returncode != 0:
        raise _failure(request.stage, returncode, tail)
    store.fetch(StageLayout(store.local).result.name)  # global rank 0 may have run on another node
    return _read_result(store, request.stage)


def _read_result(store: RunStore, stage: str) -> StageResult:
    """The stage's result; for a run on object storage, with the stored export's URL."""
    path = StageLayout(store.local).result
    if not path.exists():
        raise PdfgcError(f"training stage {stage} exited cleanly but wrote no {path}")
    data = json.loads(path.read_text())
    export = store.url(EXPORT_NAME) if store.remote else Path(data["export_path"])
    checkpoint = store.child("checkpoints").url(LATEST_NAME) if store.remote else Path(data["last_checkpoint"])
    return StageResult(export, checkpoint, int(data["steps"]), data.get("final_metrics", {}))


@dataclass
class TrainSummary:
    tracking_uri: str
    parent_run_id: str
    child_run_ids: dict[str, str] = field(default_factory=dict)
    registered_model_uri: str | None = None
    sync_model_uri: str | None = None
    """The sync expert's registered version (``<registered_model><sync.registered_suffix>``) when trained."""
    exports: dict[str, str] = field(default_factory=dict)
    last_checkpoints: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def manifest_hash(shards: str) -> str | None:
    """sha256 of ``manifest.parquet`` beside the shards, None when absent. Local manifests are
    checked against their shards first (``manifest_check``: InputError when unreadable or not
    listing these shards); a manifest on object storage is hashed as it is."""
    urls = expand_shards(shards)
    if not any(is_remote(url) for url in urls):
        return verified_manifest_hash(urls)
    fs, path = filesystem(urls[0])
    manifest = f"{path.rsplit('/', 1)[0]}/manifest.parquet"
    return hashlib.sha256(fs.cat_file(manifest)).hexdigest() if fs.isfile(manifest) else None


def view_identity(cfg: PdfgcConfig) -> dict[str, str]:
    """``{"view_sha256": ...}`` of the curated view training reads (``train.view``), else empty."""
    return {"view_sha256": view_sha256(cfg.train.view)} if cfg.train.view else {}


StageRunner = Callable[[StageLaunch], StageResult]
"""Runs one stage; the Prefect flow passes a task around ``launch_stage`` so each stage is a task run."""


def train_all(cfg: PdfgcConfig, plan: TrainPlan, run_stage: StageRunner = launch_stage) -> TrainSummary:
    """Run the plan's stages in order (critic -> 1 -> 2 -> 3) under one MLflow parent run.

    ``plan.out`` may be an fsspec URL (the run then lives there, see ``pdfgc.storage``). On
    several nodes, the first node's launcher (node rank 0) owns the MLflow parent run, the
    registration and ``summary.json``; the others run the same stages and track nothing."""
    from pdfgc.integrations import mlflow_logger

    if plan.topology.node_rank == 0:
        manifest_hash(plan.shards)  # a garbage or foreign manifest stops the run before any work
    store = RunStore.at(plan.out)
    layout = RunLayout(store.local.resolve())
    plan = replace(plan, out=store.remote or layout.root, stages=in_order(plan.stages))
    config_path = save_config(cfg, layout.config)
    store.upload(layout.config.name)
    base = StageLaunch(cfg, config_path, StageRequest("", plan.shards, plan.out), _topology(cfg, plan))
    if plan.topology.node_rank > 0:
        return _follow(plan, base, run_stage)
    tracking_uri = cfg.tracking.uri or mlflow_logger.default_tracking_uri(layout.root)
    name = str(plan.out).rstrip("/").rsplit("/", 1)[-1]
    parent = mlflow_logger.start_parent_run(tracking_uri, cfg.tracking.experiment, f"train-{name}")
    if cfg.train.view:
        mlflow_logger.MLflowLogger(tracking_uri, cfg.tracking.experiment, run_id=parent).log_params(view_identity(cfg))
    summary = TrainSummary(tracking_uri=tracking_uri, parent_run_id=parent)
    base = replace(base, parent_run_id=parent, tracking_uri=tracking_uri)
    try:
        results = _run_stages(plan, base, summary, run_stage)
        _register_results(base, results, summary)
    except BaseException:
        mlflow_logger.end_run(tracking_uri, parent, "FAILED")
        raise
    mlflow_logger.end_run(tracking_uri, parent)
    atomic_write_json(layout.summary, summary.to_json())
    store.upload(layout.summary.name)
    return summary


def _follow(plan: TrainPlan, base: StageLaunch, run_stage: StageRunner) -> TrainSummary:
    """A node other than the first: the same stages, no MLflow run of its own (the ranks take
    the first node's run, ``pdfgc.train.__main__``)."""
    summary = TrainSummary(tracking_uri="", parent_run_id="")
    _run_stages(plan, base, summary, run_stage)
    return summary


def stage_folder(run: Path | str, stage: str) -> Path | str:
    """``RUN/stage_<s>``: a path for a local run, a URL for a run on object storage."""
    if is_remote(run):
        return f"{str(run).rstrip('/')}/stage_{stage}"
    return RunLayout(Path(run)).stage(stage).root


def _topology(cfg: PdfgcConfig, plan: TrainPlan) -> Topology:
    """A multi-node plan meets at the configured rendezvous; one node picks a free loopback port."""
    if plan.topology.nnodes > 1 and plan.topology.rdzv_endpoint is None:
        return replace(plan.topology, rdzv_endpoint=cfg.train.rdzv_endpoint)
    return plan.topology


def earlier_export(out: Path | str, stage: str, before: bool = False) -> Path | str | None:
    """``out/stage_<s>/export.pt`` of ``stage`` (or, with ``before``, of the stage just before
    it, critic excluded) when an earlier run of the same folder left it; else None. This lets
    ``pdfgc train --stage 2 --out RUN`` pick up stage 1 without naming its checkpoint."""
    if before:
        stage = previous_progressive(stage)
        if stage is None:
            return None
    store = RunStore.at(stage_folder(out, stage))
    if not store.exists(EXPORT_NAME):
        return None
    return store.url(EXPORT_NAME) if store.remote else store.local / EXPORT_NAME


def _run_stages(plan: TrainPlan, base: StageLaunch, summary: TrainSummary,
                run_stage: StageRunner) -> dict[str, StageResult]:
    init_from = plan.init_from or earlier_export(plan.out, plan.stages[0], before=True)
    critic_from = plan.critic_from or earlier_export(plan.out, "critic")
    results: dict[str, StageResult] = {}
    for stage in plan.stages:
        folder = stage_folder(plan.out, stage)
        chained = stage not in ("critic", SYNC)
        request = StageRequest(stage, plan.shards, folder, init_from if chained else None,
                               critic_from if chained else None, plan.max_steps, plan.task_factory)
        result = run_stage(replace(base, request=request))
        if base.parent_run_id is not None:
            summary.child_run_ids[stage] = _child_run_id(RunStore.at(folder))
        summary.exports[stage] = str(result.export_path)
        summary.last_checkpoints[stage] = str(result.last_checkpoint)
        if chained:
            init_from = result.export_path
        elif stage == "critic":
            critic_from = result.export_path
        results[stage] = result
    if not results:
        raise PdfgcError("no stage to train")
    return results


def _child_run_id(store: RunStore) -> str:
    run_file = StageLayout(store.local).mlflow_run
    store.fetch(run_file.name)
    return json.loads(run_file.read_text())["run_id"]


def _register_results(base: StageLaunch, results: dict[str, StageResult], summary: TrainSummary) -> None:
    """The last generator-side stage under ``tracking.registered_model``; the sync expert, which
    judges generators and is not one, under its own name."""
    cfg = base.cfg
    generator_side = [stage for stage in results if stage != SYNC]
    if generator_side:
        last = generator_side[-1]
        summary.registered_model_uri = _register(base, (last, results[last]), summary, cfg.tracking.registered_model)
    if SYNC in results:
        name = cfg.tracking.registered_model + cfg.sync.registered_suffix
        summary.sync_model_uri = _register(base, (SYNC, results[SYNC]), summary, name)


def _register(base: StageLaunch, last: tuple[str, StageResult], summary: TrainSummary, name: str) -> str:
    """Register a stage's export in the Model Registry as a new version of ``name``."""
    from pdfgc.integrations.mlflow_logger import MLflowLogger

    cfg = base.cfg
    stage, result = last
    tracker = MLflowLogger(summary.tracking_uri, cfg.tracking.experiment, run_id=summary.child_run_ids[stage])
    tags = {"stage": stage, "data_manifest_sha256": manifest_hash(base.request.shards) or "none",
            "config_digest": cfg.digest(), **view_identity(cfg)}
    export = fetch_file(str(result.export_path)) if is_remote(result.export_path) else result.export_path
    return tracker.register_export(export, name, tags, base.config_path)
