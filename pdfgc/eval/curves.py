"""Validation curves while training: cheap metrics on one fixed held-out batch.

Every ``train.eval_every`` steps, rank 0 asks the stage's task for reconstructions of a fixed
batch of the ``val`` split (speakers the stage never trains on) and logs ``val/psnr``,
``val/identity_similarity``, ``val/m_lmd`` and ``val/pose_error_deg``, measured with the same
code as ``pdfgc evaluate``. Only tasks that draw a reconstruction of a real frame
(``reconstruct(batch) -> (output, target)``: stages 1 and 3) have curves; the critic and
stage 2 (which trains heads and no generator) have none.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from pdfgc.config import PdfgcConfig
from pdfgc.errors import PdfgcError
from pdfgc.eval.generate import resize_frames
from pdfgc.train.metrics import MetricLogger

_logger = logging.getLogger(__name__)

CURVE_METRICS = ("psnr", "identity_similarity", "m_lmd", "pose_error_deg")


def to_uint8_frames(images: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in [-1, 1] -> (B, S, S, 3) uint8."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def cheap_metrics(output: np.ndarray, target: np.ndarray, measurer: Any) -> dict[str, float]:
    """PSNR, identity similarity (output vs its target frame), M-LMD and pose rotation error of a
    batch of frames (B, S, S, 3); a metric without any measurable frame is left out."""
    from pdfgc.eval.metrics import identity, image, lips, pose

    measured_output, measured_target = measurer.measure(output), measurer.measure(target)
    similarity = np.array([identity.identity_similarity(o[None], t)
                           for o, t in zip(measured_output.identity, measured_target.identity)])  # (B,) NaN without a face
    values = {
        "psnr": image.psnr(target, output),
        "identity_similarity": float(np.nanmean(similarity)) if np.isfinite(similarity).any() else float("nan"),
        "m_lmd": lips.m_lmd(measured_target.landmarks, measured_output.landmarks),
        "pose_error_deg": pose.pose_error(measured_target.pose, measured_output.pose).rotation_deg,
    }
    return {name: float(value) for name, value in values.items() if np.isfinite(value)}


class ValidationCurves:
    """The fixed batch and the measuring code of one stage's curves (rank 0 only).

    Args:
        batch: one val batch as the loader yields it (images uint8).
        every: log every this many steps.
        measure_side: frames are resized to this side before measuring (the shards' crop size).
    """

    def __init__(self, batch: dict[str, Any], every: int, measure_side: int, measurer: Any) -> None:
        self.batch, self.every, self.measure_side, self.measurer = batch, every, measure_side, measurer

    @classmethod
    def build(cls, cfg: PdfgcConfig, task: Any, shards: str | list[str]) -> ValidationCurves | None:
        """None when curves are off, the task draws no reconstruction, or there is no val data."""
        if cfg.train.eval_every <= 0 or not hasattr(task, "reconstruct"):
            return None
        from pdfgc.eval.measure import FaceMeasurer
        from pdfgc.train.reader.loader import build_val_loader

        try:
            batch = next(iter(build_val_loader(shards, task.stage, cfg, 1)))
        except (PdfgcError, StopIteration) as exc:
            _logger.warning("stage %s: no validation curves (no held-out batch: %s)", task.stage, exc)
            return None
        return cls(batch, cfg.train.eval_every, cfg.data.shard_crop_size, FaceMeasurer(cfg.labels))

    def maybe_log(self, task: Any, step: int, logger: MetricLogger, device: torch.device) -> None:
        if step % self.every != 0:
            return
        from pdfgc.train.reader.batch import batch_to_device

        output, target = task.reconstruct(batch_to_device(self.batch, device))
        frames = [resize_frames(to_uint8_frames(images), self.measure_side) for images in (output, target)]
        metrics = cheap_metrics(frames[0], frames[1], self.measurer)
        if metrics:
            logger.log_metrics({f"val/{name}": value for name, value in metrics.items()}, step)
