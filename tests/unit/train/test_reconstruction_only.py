"""Config-switched terms: with the GAN weights at 0 the discriminator is neither run nor trained,
and with ``con`` / ``mot`` at 0 the critic terms are not computed (the demo preset)."""

from __future__ import annotations


import pytest
import torch

from pdfgc.config import load_config
from pdfgc.train.tasks import build_task
from tests.unit.train.test_tasks import make_batch

CPU = torch.device("cpu")
OFF = ["adversarial=0", "feature_matching=0"]


def _identity(module: torch.nn.Module) -> torch.nn.Module:
    return module


def _config(stage: str, extra: list[str]):
    prefix = f"train.stage{stage}.weights."
    return load_config("tiny", [prefix + item for item in OFF + extra])


@pytest.mark.parametrize("stage, extra, absent", [
    ("1", ["mot=0"], {"loss_adv", "loss_fm", "loss_d", "loss_mot"}),
    ("3", ["con=0"], {"loss_adv", "loss_fm", "loss_d", "loss_con", "loss_con_lip", "loss_con_gaze", "loss_mot"}),
])
def test_switched_off_terms_are_not_computed_and_d_is_untouched(stage, extra, absent, critic_export) -> None:
    cfg = _config(stage, extra)
    torch.manual_seed(0)
    task = build_task(stage, cfg, CPU, _identity, init_from=None, critic_from=critic_export)
    d_before = {k: v.clone() for k, v in task.model.discriminator.state_dict().items()}
    generator = task.model.generator0 if stage == "1" else task.model.generator
    g_before = {k: v.clone() for k, v in generator.state_dict().items()}
    report = task.training_step(make_batch(stage, cfg), 0)
    assert not absent & set(report)
    assert {"loss", "loss_rec"} <= set(report)
    assert all(torch.equal(d_before[k], v) for k, v in task.model.discriminator.state_dict().items())
    assert all(p.grad is None for p in task.model.discriminator.parameters())
    assert not all(torch.equal(g_before[k], v) for k, v in generator.state_dict().items())


def test_total_is_the_weighted_reconstruction_when_everything_else_is_off(critic_export) -> None:
    """Stage 3 with GAN and L_con off and no perceptual net:
    loss = image * L1 + mouth * L1(mouth region) + face * L1(face region) + decor * L_decor."""
    cfg = _config("3", ["con=0", "image=2.5", "decor=0.5", "mouth=3", "face=2"])
    torch.manual_seed(0)
    task = build_task("3", cfg, CPU, _identity, init_from=None, critic_from=critic_export)
    report = task.training_step(make_batch("3", cfg), 0)
    expected = (2.5 * report["loss_rec"] + 3 * report["loss_mouth"] + 2 * report["loss_face"]
                + 0.5 * report["loss_decor"])
    assert report["loss"] == pytest.approx(expected, rel=1e-5)
