"""Checkpoints: a round trip that can fail, RNG of every rank, pruning, safe loading, export."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from pdfgc.config import load_config
from pdfgc.errors import PdfgcError
from pdfgc.train.checkpoint import (
    EXPORT_FORMAT, Checkpointer, GeneratorEma, TrainProgress, load_checkpoint, local_rng_state,
    restore_local_rng_state, save_export,
)
from pdfgc.train.distributed import DistInfo
from tests.helpers.tiny_task import TinyTask

SINGLE = DistInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"), distributed=False, backend=None)


def _batch(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"driver": torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1, "pose": torch.rand(2, 6, generator=gen),
            "blink": torch.rand(2, 2, generator=gen)}


def _task() -> TinyTask:
    torch.manual_seed(0)
    return TinyTask("1", load_config("tiny"), torch.device("cpu"), lambda m: m)


def _mutate(task: TinyTask) -> None:
    """Change every saved thing so that an equal result after loading means it was restored."""
    for step in range(3):
        task.training_step(_batch(100 + step), step)
        task.scheduler.step()
    with torch.no_grad():
        for param in task.net.parameters():
            param.add_(1.0)
    torch.rand(5), np.random.rand(3), random.random()


def test_round_trip_restores_weights_optimiser_scheduler_task_state_and_rng(tmp_path: Path) -> None:
    task = _task()
    for step in range(2):
        task.training_step(_batch(step), step)
        task.scheduler.step()
    checkpointer = Checkpointer(tmp_path, every=1, keep_last=2, dist_info=SINGLE)
    checkpointer.observe(1.0)
    checkpointer.save(task, TrainProgress(step=2, samples_seen=4), {"k": 1}, None)
    saved_weights = {k: v.clone() for k, v in task.net.state_dict().items()}
    saved_moments = task.optimizer.state_dict()["state"][0]["exp_avg"].clone()
    saved_bank = task.bank.clone()
    expected_draws = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])

    _mutate(task)
    assert not torch.equal(task.net.state_dict()["head.weight"], saved_weights["head.weight"])
    progress = Checkpointer(tmp_path, every=1, keep_last=2, dist_info=SINGLE).resume(task, None)

    assert (progress.step, progress.samples_seen) == (2, 4)
    for key, value in task.net.state_dict().items():
        assert torch.equal(value, saved_weights[key]), key
    assert torch.equal(task.optimizer.state_dict()["state"][0]["exp_avg"], saved_moments)
    assert task.scheduler.last_epoch == 2 and task.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5)
    assert torch.equal(task.bank, saved_bank)
    assert torch.equal(torch.rand(4), expected_draws[0])
    np.testing.assert_array_equal(np.random.rand(4), expected_draws[1])
    assert [random.random() for _ in range(4)] == expected_draws[2]


def test_rng_state_includes_cached_gaussians() -> None:
    np.random.seed(3)
    random.seed(3)
    np.random.normal(), random.gauss(0, 1)  # leaves a cached second normal in both generators
    state = local_rng_state(torch.device("cpu"))
    expected = (np.random.normal(), random.gauss(0, 1))
    np.random.seed(9), random.seed(9)
    restore_local_rng_state(state, torch.device("cpu"))
    assert (np.random.normal(), random.gauss(0, 1)) == expected


def test_files_are_pruned_latest_and_best_follow(tmp_path: Path) -> None:
    task = _task()
    checkpointer = Checkpointer(tmp_path, every=1, keep_last=2, dist_info=SINGLE)
    for step, loss in zip(range(1, 5), [3.0, 1.0, 2.0, 5.0], strict=True):
        checkpointer.observe(loss)
        checkpointer.save(task, TrainProgress(step=step, samples_seen=step), {}, None)
    assert sorted(p.name for p in tmp_path.glob("step_*.pt")) == ["step_00000003.pt", "step_00000004.pt"]
    assert load_checkpoint(tmp_path / "latest.pt")["step"] == 4
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 2
    assert checkpointer.should_save(4, last_step=9) and checkpointer.should_save(9, last_step=9)


def test_loading_refuses_files_that_are_not_plain_checkpoints(tmp_path: Path) -> None:
    torch.save({"format": "pdfgc-train/1", "obj": Fraction(1, 3)}, tmp_path / "evil.pt")  # needs a real unpickle
    with pytest.raises(PdfgcError, match="evil.pt"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(PdfgcError, match="not a pdfgc-train/1"):
        load_checkpoint(tmp_path / "other.pt")


def test_resume_refuses_a_checkpoint_of_another_stage(tmp_path: Path) -> None:
    task = _task()
    Checkpointer(tmp_path, 1, 1, SINGLE).save(task, TrainProgress(1, 1), {}, None)
    task.stage = "2"
    with pytest.raises(PdfgcError, match="stage 1 checkpoint, this run is stage 2"):
        Checkpointer(tmp_path, 1, 1, SINGLE).resume(task, None)


def test_ema_moves_toward_the_weights_by_one_minus_decay() -> None:
    task = _task()
    ema = GeneratorEma(task, decay=0.75)
    with torch.no_grad():
        task.net.head.bias.fill_(0.0)
        ema.shadow["generator"]["head.bias"].fill_(0.0)
        task.net.head.bias.fill_(4.0)
    ema.update()
    assert torch.allclose(ema.shadow["generator"]["head.bias"], torch.full((8,), 1.0))  # 0.75*0 + 0.25*4
    ema.copy_to_modules()
    assert torch.allclose(task.net.head.bias, torch.full((8,), 1.0))


def test_export_holds_the_model_state_dict_and_loads_without_pickle(tmp_path: Path) -> None:
    task = _task()
    path = save_export(tmp_path / "export.pt", "1", {"model": {"net_image_size": 64}}, task.export(), step=7)
    export = torch.load(path, weights_only=True)
    assert export["format"] == EXPORT_FORMAT and export["stage"] == "1" and export["step"] == 7
    assert export["critic"] is None
    assert torch.equal(export["model"]["head.weight"], task.net.head.weight)
    with pytest.raises(PdfgcError, match="'model' entry"):
        save_export(tmp_path / "bad.pt", "1", {}, {"critic": task.net}, step=1)
