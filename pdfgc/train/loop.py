"""One progressive stage, start to finish: the generic loop around a StageTask.

Division of work with the task (``pdfgc.train.task_base.StageTask``): the task owns its
networks, optimisers, StepLR schedulers and losses; the loop owns devices, DDP wrapping, seeds, the data stream, autocast, the
scheduler step (once per loop step, after ``training_step``), the generator EMA, metrics,
images, checkpoints and the export.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pdfgc.config import PdfgcConfig
from pdfgc.train.reader.splits import select_split
from pdfgc.errors import PdfgcError
from pdfgc.stages import stage_config
from pdfgc.train.checkpoint import (
    Checkpointer,
    GeneratorEma,
    TrainProgress,
    save_export,
)
from pdfgc.train.distributed import DistInfo, all_reduce_mean, init_distributed
from pdfgc.train.layout import StageLayout
from pdfgc.train.metrics import MetricLogger, NullLogger, peak_memory_mb
from pdfgc.train.plan import DEFAULT_TASK_FACTORY, StageRequest
from pdfgc.train.reader.loader import batch_to_device, build_loader, expand_shards
from pdfgc.train.task_base import StageTask, WrapFn

if TYPE_CHECKING:
    from pdfgc.eval.curves import ValidationCurves

_logger = logging.getLogger(__name__)

RANK_SEED_STRIDE = 1000
VAL_BATCHES = 8
"""Held-out batches evaluated at the end of a stage whose task can ``evaluate``."""
TaskFactory = Callable[..., StageTask]


@dataclass
class StageResult:
    export_path: Path
    last_checkpoint: Path
    steps: int
    final_metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"export_path": str(self.export_path), "last_checkpoint": str(self.last_checkpoint),
                "steps": self.steps, "final_metrics": self.final_metrics}


def load_task_factory(spec: str = DEFAULT_TASK_FACTORY) -> TaskFactory:
    """``"package.module:function"`` -> the function (tests plug in a small task this way)."""
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def seed_everything(seed: int, rank: int, deterministic: bool) -> None:
    """Per-rank seeds (different augmentations on each rank, the same on every rerun)."""
    rank_seed = seed + RANK_SEED_STRIDE * rank
    random.seed(rank_seed)
    np.random.seed(rank_seed)
    torch.manual_seed(rank_seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def make_wrap(dist_info: DistInfo) -> WrapFn:
    """DDP around a module that has trainable parameters, in plain mode.

    Every trained module takes part in every backward of its task (a GAN task's generator loss
    reaches the discriminator too, whose gradients from that pass ``gradients_kept`` discards),
    so no unused-parameter search is needed; if a task ever leaves a parameter out, DDP stops
    with an error naming it instead of averaging wrong gradients. ``find_unused_parameters``
    gave the same losses to the last digit (critic, stages 1 and 2 side by side on 2 ranks) at
    an extra graph walk and allreduce per module and backward (2 ranks vs 1: 1.38x instead of
    1.13-1.19x). ``static_graph`` is not used: it gave other losses from the second step on
    (critic stage: 0.9416 vs 0.9570), unexplained."""

    def wrap(module: nn.Module) -> nn.Module:
        module = module.to(dist_info.device)
        if not dist_info.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        device_ids = [dist_info.device.index] if dist_info.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    return wrap


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA for 'auto' and 'bf16'; on CPU only when 'bf16' is asked for."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _batch_size(batch: dict[str, Any]) -> int:
    return len(batch["key"]) if "key" in batch else next(v.shape[0] for v in batch.values() if torch.is_tensor(v))


class StepMetrics:
    """Step time, throughput and peak memory around each training step."""

    def __init__(self, dist_info: DistInfo) -> None:
        self.dist_info = dist_info
        self._start = time.perf_counter()

    def start(self) -> None:
        self._start = time.perf_counter()

    def finish(self, losses: dict[str, float], batch_size: int, task: StageTask) -> dict[str, float]:
        """Collective -> ALL ranks call it on the same (logging) steps; losses are averaged over ranks."""
        elapsed = time.perf_counter() - self._start
        metrics = all_reduce_mean({k: float(v) for k, v in losses.items()}, self.dist_info.device)
        metrics["step_time_s"] = elapsed
        metrics["samples_per_s"] = batch_size * self.dist_info.world_size / max(elapsed, 1e-9)
        metrics["peak_memory_mb"] = peak_memory_mb(self.dist_info.device)
        for name, optimizer in task.optimizers().items():
            metrics[f"lr_{name}"] = optimizer.param_groups[0]["lr"]
        return metrics


def _log_images(task: StageTask, batch: dict[str, Any], step: int, logger: MetricLogger) -> None:
    """Every rank draws the grid (a DDP forward may broadcast buffers), rank 0's logger keeps it."""
    with torch.no_grad():
        grid = task.image_grid(batch)
    if grid is not None:
        logger.log_image(grid, f"{task.stage}_grid", step)


def train_stage(
    cfg: PdfgcConfig, request: StageRequest, logger: MetricLogger | None = None,
    task_factory: TaskFactory | None = None,
) -> StageResult:
    """Train one stage (or resume it from ``OUT/checkpoints/latest.pt``) and write ``OUT/export.pt``.

    A stage resumed at or past its last step trains nothing: asking the loader for no batch
    would mean "no limit" to WebDataset."""
    layout = StageLayout(request.out)
    dist_info = init_distributed(cfg.train.backend)
    logger = logger if logger is not None and dist_info.rank == 0 else NullLogger()
    seed_everything(cfg.train.seed, dist_info.rank, cfg.train.deterministic)
    build = task_factory or load_task_factory(request.task_factory)
    task = build(request.stage, cfg, dist_info.device, make_wrap(dist_info), request.init_from, request.critic_from)
    last_step = request.max_steps if request.max_steps is not None else stage_config(cfg, request.stage).steps
    ema = GeneratorEma(task, cfg.train.ema_decay) if cfg.train.ema_decay else None
    checkpointer = Checkpointer(layout.checkpoints, cfg.train.checkpoint_every, cfg.train.keep_last, dist_info)
    progress = checkpointer.resume(task, ema)
    run = StageRun(cfg, task, checkpointer, ema, logger, dist_info, progress,
                   _validation_curves(cfg, task, request.shards, dist_info))
    metrics: dict[str, float] = {}
    if progress.step >= last_step:
        _logger.info("stage %s is complete (step %d of %d); nothing to train", request.stage, progress.step, last_step)
        if layout.export.exists():
            return StageResult(layout.export, checkpointer.latest_path, progress.step)
    else:
        loader = build_loader(request.shards, request.stage, cfg, dist_info.rank, dist_info.world_size,
                              cfg.train.seed, start_step=progress.step, num_batches=last_step - progress.step)
        if progress.step == 0:
            logger.log_params(cfg.to_flat_dict())
            logger.log_params(select_split(expand_shards(request.shards), "train", cfg.split).params())
        metrics = _run_steps(run, loader, last_step)
    return _finish(run, layout, request.shards, metrics)


@dataclass
class StageRun:
    """The live parts of one stage run that the loop's steps share."""

    cfg: PdfgcConfig
    task: StageTask
    checkpointer: Checkpointer
    ema: GeneratorEma | None
    logger: MetricLogger
    dist_info: DistInfo
    progress: TrainProgress
    curves: ValidationCurves | None = None
    """Validation curves every ``train.eval_every`` steps (rank 0 only; None when off)."""


def _validation_curves(cfg: PdfgcConfig, task: StageTask, shards: str | list[str], dist_info: DistInfo) -> ValidationCurves | None:
    """Rank 0's curves when ``train.eval_every`` is on (imported only then: the measuring code is heavy)."""
    if cfg.train.eval_every <= 0 or dist_info.rank != 0:
        return None
    from pdfgc.eval.curves import ValidationCurves

    return ValidationCurves.build(cfg, task, shards)


def _run_steps(run: StageRun, loader: Any, last_step: int) -> dict[str, float]:
    cfg, task, checkpointer, ema, logger, dist_info, progress = (
        run.cfg, run.task, run.checkpointer, run.ema, run.logger, run.dist_info, run.progress)
    step_metrics, metrics = StepMetrics(dist_info), {}
    config = cfg.model_dump(mode="json")
    for batch in loader:
        step = progress.step + 1
        step_metrics.start()
        batch = batch_to_device(batch, dist_info.device)
        with autocast_for(cfg.train.precision, dist_info.device):
            losses = task.training_step(batch, step)
        if step % cfg.train.log_every == 0 or step == last_step:
            metrics = step_metrics.finish(losses, _batch_size(batch), task)
            logger.log_metrics(metrics, step)
        for scheduler in task.schedulers().values():
            scheduler.step()
        if ema is not None:
            ema.update()
        progress.step, progress.samples_seen = step, progress.samples_seen + _batch_size(batch) * dist_info.world_size
        checkpointer.observe(losses.get("loss"))  # this rank's loss: only rank 0's choice of best.pt counts
        if cfg.train.image_every > 0 and step % cfg.train.image_every == 0:
            _log_images(task, batch, step, logger)
        if run.curves is not None:
            run.curves.maybe_log(task, step, logger, dist_info.device)
        if checkpointer.should_save(step, last_step) and step % stage_config(cfg, task.stage).grad_accum == 0:
            checkpointer.save(task, progress, config, ema)
    return metrics


def evaluate_held_out(task: StageTask, shards: str | list[str], cfg: PdfgcConfig, dist_info: DistInfo) -> dict[str, float]:
    """``val/...`` means of ``task.evaluate`` over the val split (speakers held out by
    ``pdfgc.preprocess.splits``); empty when the task has no ``evaluate`` or the split has no sample."""
    if not hasattr(task, "evaluate"):
        return {}
    try:
        batches = list(build_loader(shards, task.stage, cfg, 0, 1, cfg.train.seed, num_batches=VAL_BATCHES, split="val"))
    except PdfgcError as exc:
        _logger.warning("stage %s: no held-out evaluation (%s)", task.stage, exc)
        return {}
    results = [task.evaluate(batch_to_device(batch, dist_info.device)) for batch in batches]
    return {f"val/{name}": float(np.mean([r[name] for r in results])) for name in results[0]} if results else {}


def _finish(run: StageRun, layout: StageLayout, shards: str | list[str], metrics: dict[str, float]) -> StageResult:
    cfg, task, checkpointer, ema, logger, dist_info, progress = (
        run.cfg, run.task, run.checkpointer, run.ema, run.logger, run.dist_info, run.progress)
    if not checkpointer.latest_path.exists():  # checkpoints live on a filesystem all ranks share
        checkpointer.save(task, progress, cfg.model_dump(mode="json"), ema)
    if ema is not None:
        ema.copy_to_modules()
    export_path = layout.export
    if dist_info.rank == 0:
        held_out = evaluate_held_out(task, shards, cfg, dist_info)
        if held_out:
            logger.log_metrics(held_out, progress.step)
            metrics = {**metrics, **held_out}
        save_export(export_path, task.stage, cfg.model_dump(mode="json"), task.export(), progress.step)
        logger.log_artifact(export_path)
        logger.log_artifact(checkpointer.latest_path)
    _logger.info("stage %s finished at step %d", task.stage, progress.step)
    return StageResult(export_path, checkpointer.latest_path, progress.step, metrics)
