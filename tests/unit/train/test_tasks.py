"""The stage tasks on the tiny preset: loss names, gradient flow, freezing, overfitting, hand-over."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pdfgc.config import load_config
from pdfgc.errors import ConfigError
from pdfgc.train.tasks import common as tasks_module
from pdfgc.train.checkpoint import save_export
from pdfgc.train.tasks import (
    CriticTask,
    Stage2Task,
    build_task,
    gather_with_grad,
    load_export,
)

EXP_DIM = 8
BATCH = 2
CPU = torch.device("cpu")
STAGE_LOSSES = {
    "critic": {"loss", "loss_pose", "loss_expression", "loss_gaze", "loss_blink", "mae_pose_deg", "mae_gaze_deg"},
    "1": {"loss", "loss_rec", "loss_vgg", "loss_adv", "loss_fm", "loss_mot", "loss_d"},
    "2": {"loss", "loss_a2v", "loss_v2a", "loss_eye", "loss_pose"},
    "3": {"loss", "loss_rec", "loss_vgg", "loss_adv", "loss_fm", "loss_decor", "loss_con", "loss_con_lip",
          "loss_con_gaze", "loss_mot", "loss_d"},
}
STAGE3_FROZEN = ("motion_encoder", "lip_head", "pose_head", "eye_head", "audio_encoder", "generator0")


def _identity(module: torch.nn.Module) -> torch.nn.Module:
    return module


def _images(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator) * 2 - 1


def _labels(batch: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    eye_corners = torch.tensor([[20.0, 26.0], [28.0, 26.0], [36.0, 26.0], [44.0, 26.0]])
    landmarks = torch.rand(batch, 68, 2, generator=generator) * 40 + 12
    landmarks[:, 36:42] = eye_corners[0] + torch.rand(batch, 6, 2, generator=generator) * 6
    landmarks[:, 42:48] = eye_corners[2] + torch.rand(batch, 6, 2, generator=generator) * 6
    return {
        "pose": torch.randn(batch, 6, generator=generator) * 10,
        "expression": torch.randn(batch, EXP_DIM, generator=generator),
        "gaze": torch.randn(batch, 2, generator=generator) * 5,
        "blink": torch.rand(batch, 2, generator=generator) * 0.3,
        "landmarks": landmarks,
    }


def make_batch(stage: str, cfg, seed: int = 0) -> dict:
    """A hand-built batch with the loader's keys for ``stage`` (random input images)."""
    size, k1, k3 = cfg.model.net_image_size, cfg.train.stage1.k_frames, cfg.train.stage3.k_frames
    labels = _labels(BATCH, seed)
    mel = torch.rand(BATCH, 1, 80, 20, generator=torch.Generator().manual_seed(seed + 1))
    batch = {"key": [f"clip_{i:03d}" for i in range(BATCH)], **labels}
    if stage == "critic":
        batch["image"] = _images(BATCH, 3, size, size, seed=seed)
    elif stage == "1":
        batch.update(app_frames=_images(BATCH, k1, 3, size, size, seed=seed),
                     driver=_images(BATCH, 3, size, size, seed=seed + 2))
    elif stage == "2":
        batch.update(frames=_images(BATCH, 3, size, size, seed=seed),
                     frames2=_images(BATCH, 3, size, size, seed=seed + 2),
                     landmarks2=_labels(BATCH, seed + 3)["landmarks"], mel=mel)
    else:
        batch.update(app_frames=_images(BATCH, k1, 3, size, size, seed=seed),
                     window=_images(BATCH, k3, 3, size, size, seed=seed + 2),
                     driver=_images(BATCH, 3, size, size, seed=seed + 4), mel=mel,
                     mel_window=torch.rand(BATCH, k3, 1, 80, 20, generator=torch.Generator().manual_seed(seed + 5)))
    return batch


@pytest.fixture(scope="module")
def cfg():
    return load_config("tiny")


def _make_task(stage: str, cfg, critic_export: Path, init_from: Path | None = None):
    torch.manual_seed(0)
    if stage == "critic":
        return CriticTask(cfg, CPU, _identity, expression_dim=EXP_DIM)
    return build_task(stage, cfg, CPU, _identity, init_from=init_from, critic_from=critic_export)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _same(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return all(torch.equal(before[name], value) for name, value in module.state_dict().items())


@pytest.mark.parametrize("stage", ["critic", "1", "2", "3"])
def test_training_step_reports_finite_named_losses(stage: str, cfg, critic_export: Path) -> None:
    task = _make_task(stage, cfg, critic_export)
    report = task.training_step(make_batch(stage, cfg), 0)
    assert STAGE_LOSSES[stage] <= set(report)
    assert all(isinstance(value, float) and np.isfinite(value) for value in report.values())


@pytest.mark.parametrize("stage", ["critic", "1", "2", "3"])
def test_every_trainable_parameter_gets_a_gradient(stage: str, cfg, critic_export: Path) -> None:
    """Mid-way through an accumulation cycle the gradients are still there to inspect."""
    from pdfgc.stages import stage_config

    cfg = cfg.model_copy(deep=True)
    stage_config(cfg, stage).grad_accum = 2
    task = _make_task(stage, cfg, critic_export)
    task.training_step(make_batch(stage, cfg), 1)
    missing = [f"{module_name}.{name}" for module_name, module in task.trainable().items()
               for name, param in module.named_parameters() if param.grad is None]
    assert missing == []


def test_stage2_motion_encoder_is_frozen(cfg, critic_export: Path) -> None:
    task = _make_task("2", cfg, critic_export)
    before = _snapshot(task.model.motion_encoder)
    heads_before = _snapshot(task.model.lip_head)
    task.training_step(make_batch("2", cfg), 0)
    assert _same(before, task.model.motion_encoder)
    assert all(param.grad is None for param in task.model.motion_encoder.parameters())
    assert not _same(heads_before, task.model.lip_head)


def test_stage3_frozen_modules_stay_unchanged(cfg, critic_export: Path) -> None:
    task = _make_task("3", cfg, critic_export)
    before = {name: _snapshot(getattr(task.model, name)) for name in STAGE3_FROZEN}
    critic_before = _snapshot(task.critic)
    exp_before = _snapshot(task.model.exp_head)
    task.training_step(make_batch("3", cfg), 0)
    assert all(_same(before[name], getattr(task.model, name)) for name in STAGE3_FROZEN)
    assert _same(critic_before, task.critic)
    assert not _same(exp_before, task.model.exp_head)


def test_stage1_needs_a_critic_export(cfg) -> None:
    with pytest.raises(ConfigError, match="critic-from"):
        build_task("1", cfg, CPU, _identity, init_from=None, critic_from=None)


def test_unknown_stage_is_refused(cfg) -> None:
    with pytest.raises(ConfigError, match="allowed"):
        build_task("4", cfg, CPU, _identity)


def test_stage2_initialised_from_stage1_export_keeps_motion_encoder(cfg, critic_export: Path, tmp_path: Path) -> None:
    stage1 = _make_task("1", cfg, critic_export)
    stage1.training_step(make_batch("1", cfg), 0)
    path = tmp_path / "stage1_export.pt"
    save_export(path, stage1.stage, cfg.model_dump(mode="json"), stage1.export(), 1)
    export = load_export(path)
    assert export["stage"] == "1" and export["critic"] is not None and export["step"] == 1
    torch.manual_seed(123)  # a different init, so equality below comes from the export
    stage2 = Stage2Task(cfg, CPU, _identity, init_from=path)
    for name, value in stage1.model.motion_encoder.state_dict().items():
        assert torch.equal(stage2.model.motion_encoder.state_dict()[name], value), name


def test_stage3_memory_banks_round_trip(cfg, critic_export: Path) -> None:
    task = _make_task("3", cfg, critic_export)
    task.training_step(make_batch("3", cfg), 0)
    state = task.state_dict()
    fresh = _make_task("3", cfg, critic_export)
    fresh.load_state_dict(state)
    for name in ("exp_bank", "audio_bank"):
        for key, value in getattr(task, name).state_dict().items():
            assert torch.equal(getattr(fresh, name).state_dict()[key], value)
    assert any(value.abs().sum() > 0 for value in state["exp_bank"].values() if value.is_floating_point())


def test_stage1_augment_rng_round_trip_repeats_the_step(cfg, critic_export: Path) -> None:
    task = _make_task("1", cfg, critic_export)
    state = task.state_dict()
    batch = make_batch("1", cfg)
    augmented = task.augment(batch["driver"], task.augment_rng)
    task.load_state_dict(state)
    assert torch.equal(task.augment(batch["driver"], task.augment_rng), augmented)


def test_stage3_augment_expression_changes_training_features_only(critic_export: Path) -> None:
    """With ``augment_expression`` the training step's expression feature comes from augmented
    window frames (colours changed), evaluation's from the frames as they are; the augmentation's
    RNG is part of the resumable state, so a resumed step draws the same augmentation."""
    plain_cfg = load_config("tiny")
    augmented_cfg = load_config("tiny", ["train.stage3.augment_expression=true"])
    window = make_batch("3", plain_cfg)["window"]
    plain, augmented = _make_task("3", plain_cfg, critic_export), _make_task("3", augmented_cfg, critic_export)
    assert plain.augment is None
    with torch.no_grad():
        untouched = augmented._expression(window, augmented.trained)
        assert torch.equal(untouched, plain._expression(window, plain.trained))
        assert torch.equal(plain._expression(window, plain.trained, augment=True), untouched)
        state = augmented.state_dict()
        first = augmented._expression(window, augmented.trained, augment=True)
        assert not torch.allclose(first, untouched)
        augmented.load_state_dict(state)
        assert torch.equal(augmented._expression(window, augmented.trained, augment=True), first)


def test_image_grids(cfg, critic_export: Path) -> None:
    size = cfg.model.net_image_size
    grid1 = _make_task("1", cfg, critic_export).image_grid(make_batch("1", cfg))
    assert grid1.dtype == np.uint8 and grid1.shape == (BATCH * size, 3 * size, 3)
    grid2 = _make_task("2", cfg, critic_export).image_grid(make_batch("2", cfg))
    assert grid2.shape == (BATCH * size, 3 * size, 3)
    grid3 = _make_task("3", cfg, critic_export).image_grid(make_batch("3", cfg))
    assert grid3.shape == ((BATCH + 4) * size, 4 * size, 3)  # samples + one row per swapped factor


def test_stage3_swap_changes_the_output(cfg, critic_export: Path) -> None:
    task = _make_task("3", cfg, critic_export)
    batch = make_batch("3", cfg)
    with torch.no_grad():
        factors = task._factors(batch)
        rows = task._swap_rows(factors, batch)
        plain = task._draw(factors)
    assert len(rows) == 4
    assert all(not torch.allclose(row[2], plain[0]) for row in rows)


def test_gather_with_grad_world_one_is_identity() -> None:
    features = torch.randn(3, 4, requires_grad=True)
    assert gather_with_grad(features, 0, 1) is features


def test_gather_with_grad_keeps_only_local_gradient(monkeypatch) -> None:
    remote = torch.full((2, 3), 7.0)

    def fake_all_gather(outputs: list[torch.Tensor], tensor: torch.Tensor) -> None:
        outputs[0].copy_(remote)
        outputs[1].copy_(tensor)

    monkeypatch.setattr(tasks_module.dist, "all_gather", fake_all_gather)
    local = torch.ones(2, 3, requires_grad=True)
    gathered = gather_with_grad(local, rank=1, world_size=2)
    assert gathered.shape == (4, 3)
    assert torch.equal(gathered[:2], remote) and torch.equal(gathered[2:], local.detach())
    (gathered * torch.arange(4.0).view(4, 1)).sum().backward()
    assert torch.equal(local.grad, torch.tensor([[2.0] * 3, [3.0] * 3]))  # rows 2 and 3 of the weights


def _portrait_batch(paths: list[Path], cfg) -> dict:
    """Two real portraits as fixed stage-1 samples: app frames = small shifts of the driver."""
    size, k1 = cfg.model.net_image_size, cfg.train.stage1.k_frames
    drivers, apps = [], []
    for path in paths:
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        image = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1
        drivers.append(tensor)
        apps.append(torch.stack([torch.roll(tensor, shifts=k, dims=2) for k in range(k1)]))
    return {"driver": torch.stack(drivers), "app_frames": torch.stack(apps), **_labels(len(paths), 0)}


def test_stage1_overfits_two_real_faces(real_portraits: list[Path], critic_export: Path) -> None:
    # The release's Adam (betas 0, 0.99; lr 1e-4) is tuned for 500k steps; 60 steps need momentum.
    cfg = load_config("tiny", ["train.stage1.lr=1e-3", "train.stage1.betas=[0.9,0.99]"])
    task = _make_task("1", cfg, critic_export)
    batch = _portrait_batch(real_portraits[:2], cfg)
    history = [task.training_step(batch, step)["loss_rec"] for step in range(60)]
    assert np.mean(history[-5:]) < 0.5 * history[0]


def test_stage2_centres_the_pose_head_on_the_labels_once(cfg, critic_export: Path) -> None:
    task = _make_task("2", cfg, critic_export)
    batch = make_batch("2", cfg)
    batch["pose"][:, 5] += 1300.0  # tz in mm, as the shards store it
    task.training_step(batch, 0)
    with torch.no_grad():
        predicted = task.model.pose_head(task.model.motion_encoder(batch["frames"])).mean(0)
    assert torch.allclose(predicted, batch["pose"].mean(0), atol=1.0)
    assert task.state_dict()["pose_head_centred"].item() is True
    bias = task.model.pose_head[-1].bias.detach().clone()
    task.training_step(batch, 1)
    assert (task.model.pose_head[-1].bias - bias).abs().max() < 0.01  # an Adam step, not a re-centring


@pytest.mark.parametrize("stage", ["1", "3"])
def test_gan_stages_run_under_bf16_autocast(stage: str, cfg, critic_export: Path) -> None:
    task = _make_task(stage, cfg, critic_export)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        report = task.training_step(make_batch(stage, cfg), 0)
        grid = task.image_grid(make_batch(stage, cfg))
    assert all(np.isfinite(value) for value in report.values())
    assert grid.dtype == np.uint8


def test_critic_refuses_labels_of_another_width(cfg) -> None:
    task = CriticTask(cfg, CPU, _identity, expression_dim=EXP_DIM + 1)
    with pytest.raises(ConfigError, match="expression"):
        task.training_step(make_batch("critic", cfg), 0)


@pytest.mark.parametrize("stage", ["1", "2"])
def test_gradient_accumulation_steps_once_per_cycle(stage: str, cfg, critic_export: Path) -> None:
    """With grad_accum=2 the weights move only on the second step; the generator's backward
    leaves the discriminator's accumulated gradients as they were."""
    from pdfgc.stages import stage_config

    cfg = cfg.model_copy(deep=True)
    stage_config(cfg, stage).grad_accum = 2
    task = _make_task(stage, cfg, critic_export)
    module = next(iter(task.trainable().values()))
    before = [p.detach().clone() for p in module.parameters()]  # weights only: BN statistics move per forward
    batch = make_batch(stage, cfg)
    task.training_step(batch, 1)
    assert all(torch.equal(a, p) for a, p in zip(before, module.parameters()))
    if stage == "1":
        d_grads = [p.grad.clone() for p in task.trainable()["discriminator"].parameters()]
        with torch.no_grad():
            fake = task._reconstruct(batch["app_frames"], batch["driver"], augment=False)
        total = task.gan.generator_losses(fake.requires_grad_(), batch["driver"])["loss_image"]
        from pdfgc.train.tasks import gradients_kept

        with gradients_kept(task.trainable()["discriminator"]):
            total.backward()
        assert all(torch.equal(a, p.grad) for a, p in zip(d_grads, task.trainable()["discriminator"].parameters()))
    task.training_step(batch, 2)
    assert not all(torch.equal(a, p) for a, p in zip(before, module.parameters()))
    assert all(p.grad is None for p in module.parameters())
