"""The generic loop in one process: a stage end to end, exact resume, precision and wrapping."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest
import torch

from pdfgc.config import load_config
from pdfgc.train.checkpoint import EXPORT_FORMAT, load_checkpoint
from pdfgc.train.distributed import DistInfo
from pdfgc.train.loop import autocast_for, load_task_factory, make_wrap, train_stage
from pdfgc.train.metrics import NullLogger
from pdfgc.train.plan import StageRequest
from tests.helpers.shards import write_test_shards
from tests.helpers.tiny_task import build_tiny_task


class RecordingLogger(NullLogger):
    def __init__(self) -> None:
        self.metrics: dict[int, dict[str, float]] = {}
        self.images: list[tuple[str, int, tuple[int, ...]]] = []
        self.artifacts: list[str] = []
        self.params: dict = {}

    def log_params(self, params: dict) -> None:
        self.params.update(params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics[step] = dict(metrics)

    def log_image(self, image, name: str, step: int) -> None:
        self.images.append((name, step, tuple(image.shape)))

    def log_artifact(self, path) -> None:
        self.artifacts.append(Path(path).name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("loop_shards")
    write_test_shards(out, n_clips=4, frames=8, crop_size=64)
    return str(out)


@pytest.fixture(autouse=True)
def _restore_global_determinism():
    """train.deterministic switches torch to deterministic algorithms process-wide."""
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture
def cfg():
    return load_config("tiny", ["train.deterministic=true", "train.checkpoint_every=2", "train.image_every=2"])


def _run(cfg, shards: str, out: Path, max_steps: int) -> RecordingLogger:
    logger = RecordingLogger()
    train_stage(cfg, StageRequest("1", shards, Path(out), max_steps=max_steps), logger=logger, task_factory=build_tiny_task)
    return logger


def test_a_stage_logs_every_loss_and_writes_checkpoints_and_export(cfg, shards: str, tmp_path: Path) -> None:
    logger = RecordingLogger()
    result = train_stage(cfg, StageRequest("1", shards, tmp_path, max_steps=5), logger=logger, task_factory=build_tiny_task)
    assert result.steps == 5 and sorted(logger.metrics) == [1, 2, 3, 4, 5]
    assert {"loss", "loss_label", "samples_per_s", "step_time_s", "peak_memory_mb", "lr_generator"} <= set(logger.metrics[5])
    assert logger.metrics[1]["lr_generator"] == pytest.approx(2e-4) and logger.metrics[3]["lr_generator"] == pytest.approx(1e-4)
    assert [(n, s) for n, s, _ in logger.images] == [("1_grid", 2), ("1_grid", 4)]
    assert logger.params["train.stage1.batch_size"] == 2
    assert logger.params["split.name"] == "train" and logger.params["split.mode"] == "clip-hash (no manifest)"
    assert "clip-level rule" in logger.params["split.warning"]  # these test shards have no manifest
    assert load_checkpoint(result.last_checkpoint)["step"] == 5
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt")) == [
        "step_00000002.pt", "step_00000004.pt", "step_00000005.pt"]
    export = torch.load(result.export_path, weights_only=True)
    assert export["format"] == EXPORT_FORMAT and export["stage"] == "1" and export["step"] == 5
    assert export["config"]["model"]["image_size"] == 64
    assert {"export.pt", "latest.pt"} <= set(logger.artifacts)


def test_resumed_run_repeats_the_uninterrupted_losses_step_for_step(cfg, shards: str, tmp_path: Path) -> None:
    straight = _run(cfg, shards, tmp_path / "straight", max_steps=6)
    _run(cfg, shards, tmp_path / "resumed", max_steps=4)  # checkpoint at 4 is the resume point
    resumed = _run(cfg, shards, tmp_path / "resumed", max_steps=6)
    assert sorted(resumed.metrics) == [5, 6]
    for step in (5, 6):
        assert resumed.metrics[step]["loss"] == straight.metrics[step]["loss"]
    assert resumed.params == {}  # params are logged once, by the first run


def test_a_finished_stage_trains_nothing_on_the_next_run(cfg, shards: str, tmp_path: Path) -> None:
    _run(cfg, shards, tmp_path, max_steps=3)
    checkpoints = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()}
    again = _run(cfg, shards, tmp_path, max_steps=3)
    assert again.metrics == {}
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()} == checkpoints


def test_asking_the_loader_for_no_batch_is_an_error(cfg, shards: str) -> None:
    from pdfgc.errors import InputError
    from pdfgc.train.reader.loader import build_loader

    with pytest.raises(InputError, match="no batch left"):
        build_loader(shards, "1", cfg, rank=0, world_size=1, seed=0, start_step=3, num_batches=0)


def test_autocast_is_bf16_on_cuda_and_off_on_cpu_unless_asked() -> None:
    assert isinstance(autocast_for("auto", torch.device("cpu")), contextlib.nullcontext)
    assert isinstance(autocast_for("fp32", torch.device("cuda")), contextlib.nullcontext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available" on a CPU machine
        context = autocast_for("auto", torch.device("cuda"))
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
    with autocast_for("bf16", torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_single_process_wrap_moves_but_does_not_wrap() -> None:
    info = DistInfo(0, 0, 1, torch.device("cpu"), False, None)
    module = torch.nn.Linear(2, 2)
    assert make_wrap(info)(module) is module


def test_task_factory_spec_resolves_to_the_function() -> None:
    assert load_task_factory("tests.helpers.tiny_task:build_tiny_task") is build_tiny_task


def test_critic_stage_reports_held_out_errors(tmp_path):
    """The critic is evaluated on the val split at the end of its stage."""
    from pdfgc.config import load_config
    from pdfgc.preprocess.splits import clip_id, split_of
    from pdfgc.train.loop import train_stage
    from pdfgc.train.plan import StageRequest
    from tests.helpers.shards import write_test_shards

    write_test_shards(tmp_path / "shards", n_clips=20, frames=6, crop_size=64)
    cfg = load_config("tiny", ["train.critic.steps=2", "train.checkpoint_every=0"])
    result = train_stage(cfg, StageRequest("critic", str(tmp_path / "shards"), tmp_path / "out"))
    assert any(split_of(clip_id(f"spk0_vid{c:02d}_0_000"), cfg.split) == "val" for c in range(20))  # not empty
    assert "val/mae_pose_deg" in result.final_metrics and result.final_metrics["val/mae_pose_deg"] >= 0
