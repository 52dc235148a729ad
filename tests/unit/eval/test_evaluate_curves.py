"""Validation curves while training: cheap metrics on a fixed batch, every train.eval_every steps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from pdfgc.config import LabelsConfig, load_config
from pdfgc.eval.curves import ValidationCurves
from pdfgc.eval.measure import FaceMeasurer
from pdfgc.eval.metrics import image
from pdfgc.train.loop import train_stage
from pdfgc.train.metrics import NullLogger
from pdfgc.train.plan import StageRequest
from tests.helpers.shards import write_test_shards
from tests.helpers.tiny_task import build_tiny_task

SIDE = 64


class RecordingLogger(NullLogger):
    def __init__(self) -> None:
        self.metrics: dict[int, dict[str, float]] = {}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics.setdefault(step, {}).update(metrics)


def _faces() -> torch.Tensor:
    """Two 64 px crops of scikit-image's astronaut (a real face), as a batch in [-1, 1]."""
    photo = data.astronaut()[30:270, 130:370]
    crops = np.stack([cv2.resize(photo, (SIDE, SIDE), interpolation=cv2.INTER_AREA), cv2.resize(
        np.ascontiguousarray(photo[4:, 4:]), (SIDE, SIDE), interpolation=cv2.INTER_AREA)])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class NoisyReconstruction:
    """A stand-in task whose reconstruction is its target plus known noise."""

    stage = "1"

    def __init__(self) -> None:
        self.calls = 0

    def reconstruct(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        target = batch["driver"]
        noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.03, target.shape)).float()
        return (target + noise).clamp(-1, 1), target


@pytest.fixture(scope="module")
def measurer() -> FaceMeasurer:
    return FaceMeasurer(LabelsConfig())


def test_curves_log_cheap_metrics_every_n_steps(measurer: FaceMeasurer) -> None:
    faces = ((_faces() + 1) * 127.5).round().byte()  # the loader's uint8 images
    curves = ValidationCurves({"driver": faces}, every=2, measure_side=128, measurer=measurer)
    task, logger = NoisyReconstruction(), RecordingLogger()
    for step in (1, 2, 3):
        curves.maybe_log(task, step, logger, torch.device("cpu"))
    assert task.calls == 1 and sorted(logger.metrics) == [2]
    logged = logger.metrics[2]
    assert set(logged) == {"val/psnr", "val/identity_similarity", "val/m_lmd", "val/pose_error_deg"}
    output, target = task.reconstruct({"driver": faces.float() / 127.5 - 1.0})
    to_frames = lambda t: np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_CUBIC) for f in  # noqa: E731
                                    ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()])
    assert logged["val/psnr"] == pytest.approx(image.psnr(to_frames(target), to_frames(output)), abs=1e-6)
    assert logged["val/identity_similarity"] > 0.9  # the same face, lightly noised
    assert logged["val/m_lmd"] < 0.05 and logged["val/pose_error_deg"] < 5.0


def test_curves_are_off_by_default_and_for_tasks_that_draw_nothing() -> None:
    class NoDrawing:
        stage = "2"

    assert ValidationCurves.build(load_config("tiny"), NoisyReconstruction(), "unused") is None
    assert ValidationCurves.build(load_config("tiny", ["train.eval_every=5"]), NoDrawing(), "unused") is None


def test_the_loop_calls_the_curves_on_rank_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_test_shards(tmp_path / "shards", n_clips=2, frames=8, crop_size=64)
    seen: list[int] = []

    class Recording:
        def maybe_log(self, task, step, logger, device) -> None:
            seen.append(step)

    monkeypatch.setattr(ValidationCurves, "build", classmethod(lambda cls, cfg, task, shards: Recording()))
    cfg = load_config("tiny", ["train.eval_every=2", "train.image_every=0", "train.checkpoint_every=10"])
    train_stage(cfg, StageRequest("1", str(tmp_path / "shards"), tmp_path / "out", max_steps=3), task_factory=build_tiny_task)
    assert seen == [1, 2, 3]
