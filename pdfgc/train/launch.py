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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pdfgc.config import PdfgcConfig, load_config, save_config
from pdfgc.train.reader.loader import expand_shards
from pdfgc.errors import PdfgcError
from pdfgc.io import atomic_write_json
from pdfgc.train.loop import DEFAULT_TASK_FACTORY, StageResult
from pdfgc.train.task_base import STAGES

_logger = logging.getLogger(__name__)

ERROR_TAIL_LINES = 20
RESULT_FILE = "stage_result.json"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PYTHONUNBUFFERED": "1",
}
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


def torchrun_command(
    config_path: Path, stage: str, shards: str, out_dir: Path, nproc: int, nnodes: int, rdzv_endpoint: str,
    max_restarts: int, extra: list[str],
) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc-per-node", str(nproc), "--nnodes", str(nnodes),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint, "--max-restarts", str(max_restarts),
        "-m", "pdfgc.train", "--config", str(config_path), "--stage", stage, "--shards", shards,
        "--out", str(out_dir), *extra,
    ]


def _optional_args(
    init_from: Path | None, critic_from: Path | None, max_steps: int | None, parent_run_id: str | None,
    tracking_uri: str | None, task_factory: str,
) -> list[str]:
    pairs = [("--init-from", init_from), ("--critic-from", critic_from), ("--max-steps", max_steps),
             ("--parent-run-id", parent_run_id), ("--tracking-uri", tracking_uri)]
    args = [item for flag, value in pairs if value is not None for item in (flag, str(value))]
    if task_factory != DEFAULT_TASK_FACTORY:
        args += ["--task-factory", task_factory]
    return args


def _stream(process: subprocess.Popen, prefix: str) -> collections.deque[str]:
    """Echo the child's lines with a prefix; keep the tail for the error message."""
    tail: collections.deque[str] = collections.deque(maxlen=200)
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        _logger.info("%s %s", prefix, line)
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


def stage_environment(cfg: PdfgcConfig) -> dict[str, str]:
    """torchrun's environment: ours, one thread per rank, no telemetry, then ``train.env``."""
    return {**os.environ, **CHILD_ENV, **cfg.train.env}


def launch_stage(
    config_path: str | Path, stage: str, shards: str, out_dir: str | Path, nproc: int = 1, nnodes: int = 1,
    rdzv_endpoint: str | None = None, max_restarts: int = 0, init_from: Path | None = None,
    critic_from: Path | None = None, max_steps: int | None = None, parent_run_id: str | None = None,
    log_prefix: str | None = None, tracking_uri: str | None = None, task_factory: str = DEFAULT_TASK_FACTORY,
) -> StageResult:
    """Run one stage under torchrun and return what its rank 0 wrote to ``stage_result.json``."""
    if stage not in STAGES:
        raise PdfgcError(f"unknown stage {stage!r} (allowed: {', '.join(STAGES)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    endpoint = rdzv_endpoint or f"127.0.0.1:{free_port()}"
    extra = _optional_args(init_from, critic_from, max_steps, parent_run_id, tracking_uri, task_factory)
    command = torchrun_command(Path(config_path), stage, shards, out, nproc, nnodes, endpoint, max_restarts, extra)
    _logger.info("stage %s: %s", stage, " ".join(command))
    env = stage_environment(load_config(config_path))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
        tail = _stream(process, log_prefix or f"[stage {stage}]")
        returncode = process.wait()
    if returncode != 0:
        raise _failure(stage, returncode, tail)
    return _read_result(out / RESULT_FILE, stage)


def _read_result(path: Path, stage: str) -> StageResult:
    if not path.exists():
        raise PdfgcError(f"training stage {stage} exited cleanly but wrote no {path}")
    data = json.loads(path.read_text())
    return StageResult(Path(data["export_path"]), Path(data["last_checkpoint"]), int(data["steps"]),
                       data.get("final_metrics", {}))


@dataclass
class TrainSummary:
    tracking_uri: str
    parent_run_id: str
    child_run_ids: dict[str, str] = field(default_factory=dict)
    registered_model_uri: str | None = None
    exports: dict[str, str] = field(default_factory=dict)
    last_checkpoints: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def manifest_hash(shards: str) -> str | None:
    """sha256 of ``manifest.parquet`` beside the shards (local shards only), None when absent."""
    first = expand_shards(shards)[0]
    if "://" in first:
        return None
    manifest = Path(first).parent / "manifest.parquet"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else None


def _ordered(stages: list[str]) -> list[str]:
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise PdfgcError(f"unknown stage(s) {unknown} (allowed: {', '.join(STAGES)})")
    return [s for s in STAGES if s in stages]


def train_all(
    cfg: PdfgcConfig, stages: list[str], shards: str, out_dir: str | Path, nproc: int = 1, nnodes: int = 1,
    max_steps: int | None = None, init_from: Path | None = None, critic_from: Path | None = None,
    task_factory: str = DEFAULT_TASK_FACTORY, run_stage: Callable[..., StageResult] = launch_stage,
) -> TrainSummary:
    """Run the requested stages in order (critic -> 1 -> 2 -> 3) under one MLflow parent run.

    ``run_stage`` launches one stage (``launch_stage``'s signature); the Prefect flow passes a
    task that wraps it, so that each stage is a task run.
    """
    from pdfgc.integrations import mlflow_logger

    out = Path(out_dir).resolve()
    config_path = save_config(cfg, out / CONFIG_FILE)
    tracking_uri = cfg.tracking.uri or mlflow_logger.default_tracking_uri(out)
    parent = mlflow_logger.start_parent_run(tracking_uri, cfg.tracking.experiment, f"train-{out.name}")
    summary = TrainSummary(tracking_uri=tracking_uri, parent_run_id=parent)
    try:
        result = _run_stages(cfg, _ordered(stages), shards, out, config_path, nproc, nnodes, max_steps,
                             init_from, critic_from, task_factory, summary, run_stage)
        summary.registered_model_uri = _register(cfg, result, shards, out, config_path, summary)
    except BaseException:
        mlflow_logger.end_run(tracking_uri, parent, "FAILED")
        raise
    mlflow_logger.end_run(tracking_uri, parent)
    atomic_write_json(out / SUMMARY_FILE, summary.to_json())
    return summary


def earlier_export(out: Path, stage: str, before: bool = False) -> Path | None:
    """``out/stage_<s>/export.pt`` of ``stage`` (or, with ``before``, of the stage just before
    it, critic excluded) when an earlier run of the same folder left it; else None. This lets
    ``pdfgc train --stage 2 --out RUN`` pick up stage 1 without naming its checkpoint."""
    order = [s for s in STAGES if s != "critic"]
    if before:
        if stage not in order or order.index(stage) == 0:
            return None
        stage = order[order.index(stage) - 1]
    path = out / f"stage_{stage}" / "export.pt"
    return path if path.exists() else None


def _run_stages(
    cfg: PdfgcConfig, stages: list[str], shards: str, out: Path, config_path: Path, nproc: int, nnodes: int,
    max_steps: int | None, init_from: Path | None, critic_from: Path | None, task_factory: str,
    summary: TrainSummary, run_stage: Callable[..., StageResult],
) -> tuple[str, StageResult]:
    last: tuple[str, StageResult] | None = None
    init_from = init_from or earlier_export(out, stages[0], before=True)
    critic_from = critic_from or earlier_export(out, "critic")
    for stage in stages:
        stage_out = out / f"stage_{stage}"
        result = run_stage(
            config_path, stage, shards, stage_out, nproc=nproc, nnodes=nnodes,
            rdzv_endpoint=cfg.train.rdzv_endpoint if nnodes > 1 else None, max_restarts=cfg.train.max_restarts,
            init_from=None if stage == "critic" else init_from,
            critic_from=None if stage == "critic" else critic_from, max_steps=max_steps,
            parent_run_id=summary.parent_run_id, tracking_uri=summary.tracking_uri, task_factory=task_factory,
        )
        summary.child_run_ids[stage] = json.loads((stage_out / "mlflow_run.json").read_text())["run_id"]
        summary.exports[stage] = str(result.export_path)
        summary.last_checkpoints[stage] = str(result.last_checkpoint)
        if stage == "critic":
            critic_from = result.export_path
        else:
            init_from = result.export_path
        last = (stage, result)
    if last is None:
        raise PdfgcError("no stage to train")
    return last


def _register(
    cfg: PdfgcConfig, last: tuple[str, StageResult], shards: str, out: Path, config_path: Path,
    summary: TrainSummary,
) -> str:
    """Register the last stage's export (the generator after stage 3) in the Model Registry."""
    from pdfgc.integrations.mlflow_logger import MLflowLogger

    stage, result = last
    tracker = MLflowLogger(summary.tracking_uri, cfg.tracking.experiment, run_id=summary.child_run_ids[stage])
    tags = {"stage": stage, "data_manifest_sha256": manifest_hash(shards) or "none", "config_digest": cfg.digest()}
    return tracker.register_export(result.export_path, cfg.tracking.registered_model, tags, config_path)
