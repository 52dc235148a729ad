"""Full training-state checkpoints for exact resume, and the stage export.

A checkpoint holds every trainable module (unwrapped from DDP), the optimisers, schedulers, the
task's own state (memory banks) when it has ``state_dict``, the generator EMA, the step, samples seen, the resolved config and the RNG
states of EVERY rank (torch, CUDA, numpy, python), gathered as tensors so that the file loads
with ``torch.load(weights_only=True)``. Files: ``step_XXXXXXXX.pt`` (the last ``keep_last``
kept), ``latest.pt`` and ``best.pt`` (lowest mean monitored loss since the previous save),
each written to a temp name and renamed into place. A run folder on object storage
(``pdfgc.storage.RunStore``) also gets each file uploaded whole, ``latest.pt`` and ``best.pt``
as server-side copies of the step file, and a resume reads ``latest.pt`` from there.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pdfgc.errors import PdfgcError
from pdfgc.export import EXPORT_FORMAT
from pdfgc.io import atomic_path
from pdfgc.storage import RunStore
from pdfgc.train.distributed import DistInfo, all_gather_tensor, barrier
from pdfgc.train.task_base import StageTask

_logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "pdfgc-train/1"
LATEST_NAME = "latest.pt"
BEST_NAME = "best.pt"
STEP_PATTERN = "step_{:08d}.pt"
MT_STATE_WORDS = 624


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


@dataclass
class TrainProgress:
    step: int = 0
    samples_seen: int = 0


class GeneratorEma:
    """Exponential moving average of the trainable modules whose name starts with 'generator'."""

    def __init__(self, task: StageTask, decay: float) -> None:
        self.decay = decay
        self.modules = {n: unwrap(m) for n, m in task.trainable().items() if n.startswith("generator")}
        self.shadow = {n: {k: v.detach().clone() for k, v in m.state_dict().items()} for n, m in self.modules.items()}

    @torch.no_grad()
    def update(self) -> None:
        for name, module in self.modules.items():
            for key, value in module.state_dict().items():
                if value.is_floating_point():
                    self.shadow[name][key].lerp_(value, 1.0 - self.decay)
                else:
                    self.shadow[name][key].copy_(value)

    def copy_to_modules(self) -> None:
        """Put the averaged weights into the live generator (done once, before the export)."""
        for name, module in self.modules.items():
            module.load_state_dict(self.shadow[name])

    def state_dict(self) -> dict[str, Any]:
        return self.shadow

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, tensors in state.items():
            for key, value in tensors.items():
                self.shadow[name][key].copy_(value)


def local_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's RNG states packed into fixed-shape tensors (gatherable, weights_only-safe)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),  # (5056,) uint8
        "numpy_ints": torch.tensor(np.concatenate([keys.astype(np.int64), [pos, has_gauss]])),  # (626,)
        "numpy_gauss": torch.tensor([cached], dtype=torch.float64),
        "python_ints": torch.tensor([version, *words], dtype=torch.int64),  # (626,)
        "python_gauss": torch.tensor([np.nan if gauss_next is None else gauss_next], dtype=torch.float64),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_local_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    ints = state["numpy_ints"].numpy()
    keys = ints[:MT_STATE_WORDS].astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(ints[-2]), int(ints[-1]), float(state["numpy_gauss"][0])))
    words = [int(w) for w in state["python_ints"].tolist()]
    gauss = float(state["python_gauss"][0])
    random.setstate((words[0], tuple(words[1:]), None if np.isnan(gauss) else gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Collective -> ALL ranks call it. Returns one dict per rank (meaningful on every rank)."""
    local = local_rng_state(device)
    gathered = {name: all_gather_tensor(t.to(device)) for name, t in local.items()}  # NCCL needs device tensors
    world = len(next(iter(gathered.values())))
    return [{name: gathered[name][r].cpu() for name in gathered} for r in range(world)]


def collect_train_state(
    task: StageTask, progress: TrainProgress, config: dict[str, Any], ema: GeneratorEma | None,
    rng_states: list[dict[str, torch.Tensor]],
) -> dict[str, Any]:
    extra = task.state_dict() if hasattr(task, "state_dict") else None
    return {
        "format": CHECKPOINT_FORMAT,
        "stage": task.stage,
        "step": progress.step,
        "samples_seen": progress.samples_seen,
        "modules": {n: unwrap(m).state_dict() for n, m in task.trainable().items()},
        "optimizers": {n: o.state_dict() for n, o in task.optimizers().items()},
        "schedulers": {n: s.state_dict() for n, s in task.schedulers().items()},
        "task_state": extra,
        "ema": ema.state_dict() if ema is not None else None,
        "config": config,
        "rng": rng_states,
    }


def restore_train_state(
    task: StageTask, state: dict[str, Any], ema: GeneratorEma | None, dist_info: DistInfo
) -> TrainProgress:
    """Load everything back into live objects; this rank's RNG from its own saved entry."""
    for name, module in task.trainable().items():
        unwrap(module).load_state_dict(state["modules"][name])
    for name, optimizer in task.optimizers().items():
        optimizer.load_state_dict(state["optimizers"][name])
    for name, scheduler in task.schedulers().items():
        scheduler.load_state_dict(state["schedulers"][name])
    if state.get("task_state") is not None and hasattr(task, "load_state_dict"):
        task.load_state_dict(state["task_state"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    _restore_rank_rng(state["rng"], dist_info)
    return TrainProgress(step=int(state["step"]), samples_seen=int(state["samples_seen"]))


def _restore_rank_rng(rng_states: list[dict[str, torch.Tensor]], dist_info: DistInfo) -> None:
    if dist_info.rank < len(rng_states) and len(rng_states) == dist_info.world_size:
        restore_local_rng_state(rng_states[dist_info.rank], dist_info.device)
    else:
        _logger.warning("checkpoint has RNG states of %d ranks, this job has %d: RNG streams restart from seeds",
                        len(rng_states), dist_info.world_size)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a train checkpoint without unpickling arbitrary objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - turned into one clear line for the user
        raise PdfgcError(f"{path}: not a loadable pdfgc checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise PdfgcError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    return state


class Checkpointer:
    """Decides when to save (every ``every`` steps and at the end), writes atomically, prunes.

    Args:
        folder: ``OUT/checkpoints``.
        every: save cadence in steps.
        keep_last: how many ``step_*.pt`` files to keep (``latest.pt`` and ``best.pt`` are extra).
        dist_info: the saver is rank 0; every rank takes part in the RNG gather.
        store: the durable copy of ``folder`` on object storage, if any (``RunStore.at(URL)``).
    """

    def __init__(self, folder: Path, every: int, keep_last: int, dist_info: DistInfo,
                 store: RunStore | None = None) -> None:
        self.folder, self.every, self.keep_last, self.dist_info = Path(folder), every, keep_last, dist_info
        self.store = store or RunStore(self.folder)
        self.saved_step: int | None = None
        """The step of the last save or resume: the same on every rank (unlike a file's existence
        on nodes that share no disk)."""
        self.best_loss = float("inf")
        self._losses: list[float] = []
        self._improved = False

    @property
    def latest_path(self) -> Path:
        return self.folder / LATEST_NAME

    def observe(self, loss: float | None) -> None:
        if loss is not None:
            self._losses.append(loss)

    def should_save(self, step: int, last_step: int) -> bool:
        return step == last_step or (self.every > 0 and step % self.every == 0)

    def save(self, task: StageTask, progress: TrainProgress, config: dict[str, Any], ema: GeneratorEma | None) -> Path:
        """Collective -> ALL ranks call it; rank 0 writes."""
        rng_states = gather_rng_states(self.dist_info.device)
        path = self.folder / STEP_PATTERN.format(progress.step)
        if self.dist_info.rank == 0:
            state = collect_train_state(task, progress, config, ema, rng_states)
            state["best_loss"] = self._update_best()
            self._write(state, path)
        barrier()
        self.saved_step = progress.step
        return path

    def _update_best(self) -> float:
        improved = bool(self._losses) and float(np.mean(self._losses)) < self.best_loss
        if improved:
            self.best_loss = float(np.mean(self._losses))
        self._losses = []
        self._improved = improved
        return self.best_loss

    def _write(self, state: dict[str, Any], path: Path) -> None:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        _link_atomically(path, self.latest_path)
        if self._improved:
            _link_atomically(path, self.folder / BEST_NAME)
        self._prune()
        self._publish(path.name)
        _logger.info("saved checkpoint %s", path)

    def _publish(self, name: str) -> None:
        """Object storage: the step file whole, then ``latest``/``best`` as server-side copies."""
        if self.store.remote is None:
            return
        self.store.upload(name)
        self.store.copy_remote(name, LATEST_NAME)
        if self._improved:
            self.store.copy_remote(name, BEST_NAME)
        self.store.prune("step_*.pt", self.keep_last)

    def _prune(self) -> None:
        steps = sorted(self.folder.glob("step_*.pt"))
        for old in steps[: max(0, len(steps) - self.keep_last)]:
            old.unlink(missing_ok=True)

    def resume(self, task: StageTask, ema: GeneratorEma | None) -> TrainProgress:
        """Restore from ``latest.pt`` when it exists (the remote copy wins); a fresh run otherwise."""
        self.store.fetch(LATEST_NAME)
        if not self.latest_path.exists():
            return TrainProgress()
        state = load_checkpoint(self.latest_path)
        if state["stage"] != task.stage:
            raise PdfgcError(f"{self.latest_path}: a stage {state['stage']} checkpoint, this run is stage {task.stage}")
        self.best_loss = float(state.get("best_loss", float("inf")))
        progress = restore_train_state(task, state, ema, self.dist_info)
        self.saved_step = progress.step
        _logger.info("resumed from %s at step %d", self.latest_path, progress.step)
        return progress


def _link_atomically(source: Path, target: Path) -> None:
    """``target`` becomes another name of ``source``'s data (hard link + rename: no copy, atomic)."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        os.link(source, tmp)


def save_export(path: Path, stage: str, config: dict[str, Any], modules: dict[str, nn.Module], step: int) -> Path:
    """``export.pt``: the full PDFGC state dict (+ critic) that the next stage or synthesis loads."""
    if "model" not in modules:
        raise PdfgcError(f"stage {stage}: task.export() must return a 'model' entry (the PDFGC container)")
    critic = modules.get("critic")
    export = {
        "format": EXPORT_FORMAT,
        "stage": stage,
        "config": config,
        "model": unwrap(modules["model"]).state_dict(),
        "critic": unwrap(critic).state_dict() if critic is not None else None,
        "step": step,
    }
    with atomic_path(path) as tmp:
        torch.save(export, tmp)
    return path
