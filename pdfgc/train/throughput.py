"""Step time, samples/s, FLOPs, MFU and peak memory of a training stage on one device.

The stage's real task (``pdfgc.train.tasks.build_task``, random weights: the compute does not
depend on them) repeats its training step on one real batch from the loader, so the figures
leave data loading out. FLOPs are counted once by torch's ``FlopCounterMode`` over a whole
step (forward and backward of every network, a convolution's backward counted groups-aware; the
optimiser's element-wise updates are not counted), which is the model-FLOPs convention MFU is
defined with. MFU divides the achieved
rate by the device's dense bf16 peak (``PEAK_BF16_TFLOPS`` by device name, or a given figure).

``bench/train.py`` runs this per stage at the paper preset whenever a GPU is present.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from pdfgc.config import PdfgcConfig
from pdfgc.train.checkpoint import save_export
from pdfgc.train.loop import autocast_for, seed_everything
from pdfgc.train.metrics import peak_memory_mb
from pdfgc.train.reader.batch import batch_to_device
from pdfgc.train.reader.loader import build_loader
from pdfgc.train.task_base import StageTask
from pdfgc.train.tasks import build_task

PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.4), ("H200", 989.4), ("H100", 989.4),
    ("A100", 312.0), ("L40S", 362.1), ("A10G", 70.0), ("L4", 121.0),
)
"""Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, first match by
substring of ``torch.cuda.get_device_name`` (so "H100 PCIe" is tried before "H100")."""


@dataclass(frozen=True)
class StepFigures:
    stage: str
    device: str
    precision: str
    batch_size: int
    step_time_s: float
    samples_per_s: float
    tflop_per_step: float
    achieved_tflops: float
    mfu: float | None
    peak_memory_mb: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def peak_bf16_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU by its name; None when the name is not in the table."""
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in device_name), None)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _critic_export(cfg: PdfgcConfig, folder: Path) -> Path:
    """A critic-stage export with fresh weights, for the stages that need frozen critics."""
    critic = build_task("critic", cfg, torch.device("cpu"), lambda module: module)
    return save_export(folder / "critic.pt", "critic", cfg.model_dump(mode="json"), critic.export(), 0)


def _one_batch(cfg: PdfgcConfig, stage: str, shards: str, device: torch.device) -> dict[str, object]:
    loader = build_loader(shards, stage, cfg, rank=0, world_size=1, seed=cfg.train.seed, num_batches=1)
    return batch_to_device(next(iter(loader)), device)


def _conv_backward_flops(grad_out_shape: list[int], x_shape: list[int], w_shape: list[int], *conv_args: object,
                         **_: object) -> int:
    """A convolution's backward: each of grad-input and grad-weight costs one forward.

    torch's own formula ignores ``groups`` for the backward and so counts a grouped convolution
    ``groups`` times over (the style-modulated convolutions of G were grouped by sample).
    ``conv_args`` follow ``aten.convolution_backward``: bias sizes, stride, padding, dilation,
    transposed, output padding, groups, output mask.
    """
    transposed, output_mask = conv_args[4], conv_args[7]
    spatial = x_shape[2:] if transposed else grad_out_shape[2:]
    forward = 2 * grad_out_shape[0] * math.prod(w_shape) * math.prod(spatial)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def count_step_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of ``step`` (forward and backward), by torch's FlopCounterMode (with
    a groups-aware convolution backward)."""
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        step()
    return counter.get_total_flops()


def measure_stage(
    cfg: PdfgcConfig, stage: str, shards: str, device: torch.device, steps: int = 20, warmup: int = 3,
    peak_tflops: float | None = None,
) -> StepFigures:
    """Median step time of ``steps`` timed steps after ``warmup`` ones (plus the counted one)."""
    seed_everything(cfg.train.seed, 0, deterministic=False)
    with tempfile.TemporaryDirectory() as tmp:
        critic_from = _critic_export(cfg, Path(tmp)) if stage in ("1", "3") else None
        task: StageTask = build_task(stage, cfg, device, lambda module: module.to(device), None, critic_from)
    batch = _one_batch(cfg, stage, shards, device)
    step_number = iter(range(1, 1 + 1 + warmup + steps))

    def step() -> None:
        with autocast_for(cfg.train.precision, device):
            task.training_step(batch, next(step_number))

    flops = count_step_flops(step)
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        _synchronize(device)
        start = time.perf_counter()
        step()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return _figures(cfg, stage, device, len(batch["key"]), statistics.median(times), flops, peak_tflops)


def _figures(cfg: PdfgcConfig, stage: str, device: torch.device, batch_size: int, step_time: float, flops: int,
             peak_tflops: float | None) -> StepFigures:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = peak_tflops if peak_tflops is not None else peak_bf16_tflops(name) if device.type == "cuda" else None
    achieved = flops / step_time / 1e12
    autocast = autocast_for(cfg.train.precision, device)
    return StepFigures(
        stage=stage, device=name, precision="bf16" if isinstance(autocast, torch.autocast) else "fp32",
        batch_size=batch_size, step_time_s=step_time, samples_per_s=batch_size / step_time,
        tflop_per_step=flops / 1e12, achieved_tflops=achieved, mfu=achieved / peak if peak else None,
        peak_memory_mb=peak_memory_mb(device),
    )
