"""What the four stage tasks share: the container and critics, freezing, optimisers, the GAN step and image grids."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pdfgc.config import LabelsConfig, ModelConfig, PdfgcConfig, StageConfig
from pdfgc.errors import InputError
from pdfgc.export import load_export
from pdfgc.losses.adversarial import (
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
)
from pdfgc.losses.perceptual import build_perceptual
from pdfgc.models import build_model
from pdfgc.models.critics import (
    Critics,
    build_critics,
    fer_emotion_psi,
    freeze_module,
)
from pdfgc.train.task_base import WrapFn

GRID_ROWS = 4
"""Samples shown in an image grid."""
SWAP_FACTORS = ("lip", "pose", "eye", "exp")
STAGE_MODULES = {
    "1": ("app_encoder", "motion_encoder", "generator0", "discriminator"),
    "2": ("lip_head", "pose_head", "eye_head", "audio_encoder"),
    "3": ("app_encoder", "exp_head", "generator", "discriminator"),
}


# ----------------------------------------------------------------------------- shared helpers


def labels_expression_dim(cfg: LabelsConfig) -> int:
    """E, the width of the shards' ``expression`` label, from the configured label backend."""
    if cfg.expression == "emoca":
        from pdfgc.labels.backends.emoca import EmocaExpressionLabeler as labeler
    else:
        from pdfgc.labels.expression import ExpressionLabeler as labeler
    spec = next(spec for spec in labeler.specs if spec.name == "expression")
    return int(spec.shape[0])


def build_container(cfg: ModelConfig, device: torch.device, init_from: Path | None) -> tuple[nn.Module, str | None]:
    """The PDFGC container, loaded from ``init_from`` when given, and the stage that export came from."""
    model = build_model(cfg)
    if init_from is None:
        return model.to(device), None
    export = load_export(init_from)
    model.load_state_dict(export["model"])
    return model.to(device), str(export["stage"])


def load_critics(cfg: PdfgcConfig, device: torch.device, critic_from: Path | None) -> Critics:
    """phi, psi and Gaze for L_mot / L_con; ``build_critics`` explains a missing ``critic_from``."""
    state = None
    if cfg.train.critic_backend == "trained" and critic_from is not None:
        state = load_export(critic_from).get("critic")
        if state is None:
            raise InputError(f"{critic_from}: export holds no 'critic' state (not a critic-stage export)")
    critics = build_critics(cfg, state)
    critics.module.to(device)
    if cfg.train.emotion_critic == "fer":
        critics = dataclasses.replace(critics, psi=fer_emotion_psi())
    return critics


def freeze_others(model: nn.Module, trained: tuple[str, ...]) -> dict[str, nn.Module]:
    frozen = {name: module for name, module in model.named_children() if name not in trained}
    for module in frozen.values():
        freeze_module(module)
    return frozen


def set_train(trained: dict[str, nn.Module], frozen: dict[str, nn.Module]) -> None:
    """Trained modules in train mode; frozen ones stay in eval (no BatchNorm statistics drift)."""
    for module in trained.values():
        module.train()
    for module in frozen.values():
        module.eval()


def set_eval(trained: dict[str, nn.Module]) -> None:
    """For image grids: BatchNorm uses its running statistics and does not update them."""
    for module in trained.values():
        module.eval()


def accumulate_and_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, step: int, accum: int) -> None:
    """Add ``loss / accum``'s gradients; step and clear the optimiser at the end of each cycle of
    ``accum`` loop steps (every step when ``accum`` is 1). Gradients start cleared."""
    (loss / accum).backward()
    if step % accum == 0:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


@contextlib.contextmanager
def gradients_kept(module: nn.Module) -> Iterator[None]:
    """Leave ``module``'s accumulated gradients as they were across a backward pass that is not
    its own (the generator loss also reaches the discriminator's weights)."""
    saved = [(p, None if p.grad is None else p.grad.clone()) for p in module.parameters()]
    try:
        yield
    finally:
        for param, grad in saved:
            param.grad = grad


def adam(modules: list[nn.Module], stage_cfg: StageConfig) -> torch.optim.Adam:
    params = [p for module in modules for p in module.parameters()]
    return torch.optim.Adam(params, lr=stage_cfg.lr, betas=tuple(stage_cfg.betas))


def step_lr(optimizer: torch.optim.Optimizer, stage_cfg: StageConfig) -> torch.optim.lr_scheduler.StepLR:
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=stage_cfg.lr_step_every, gamma=stage_cfg.lr_gamma)


def scalars(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in losses.items()}


def world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(features: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """All ranks' features (world*B, D) for in-batch negatives; gradient flows to the local part.

    open_clip's ClipLoss style: other ranks' features arrive detached, this rank's slot is the
    live tensor. At world size 1 it returns ``features`` unchanged.
    """
    if world_size == 1:
        return features
    gathered = [torch.zeros_like(features) for _ in range(world_size)]
    dist.all_gather(gathered, features.detach().contiguous())  # Collective -> ALL ranks call it
    gathered[rank] = features
    return torch.cat(gathered, dim=0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) in [-1,1] -> (N,H,W,3) uint8."""
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def tile(rows: list[list[torch.Tensor]]) -> np.ndarray:
    """Rows of (3,S,S) images -> one (H,W,3) picture; short rows are padded with black."""
    width = max(len(row) for row in rows)
    blank = torch.full_like(rows[0][0], -1.0)
    lines = [np.concatenate(list(to_uint8(torch.stack(row + [blank] * (width - len(row))))), axis=1) for row in rows]
    return np.concatenate(lines, axis=0)


class Adversarial:
    """Reconstruction + multi-scale GAN losses shared by stages 1 and 3, and the D step.

    The discriminator sees real and fake in one concatenated forward per step, so a DDP-wrapped D
    runs exactly one forward per backward.
    """

    def __init__(self, discriminator: nn.Module, model_cfg: ModelConfig, stage_cfg: StageConfig, device: torch.device):

        self.discriminator = discriminator
        self.weights = stage_cfg.weights
        perceptual = build_perceptual(model_cfg)
        self.perceptual = perceptual.to(device).eval() if perceptual is not None else None
        if self.perceptual is not None:
            self.perceptual.requires_grad_(False)

    def _split(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[list, list]:
        outputs = self.discriminator(torch.cat([fake, real], dim=0))
        batch = fake.shape[0]
        fake_out = [[feature[:batch] for feature in scale] for scale in outputs]
        real_out = [[feature[batch:] for feature in scale] for scale in outputs]
        return fake_out, real_out

    def generator_losses(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """loss_rec (L1), loss_vgg, loss_adv, loss_fm, and their weighted sum ``loss_image``."""

        fake_out, real_out = self._split(fake, real)
        real_feats = [[feature.detach() for feature in scale] for scale in real_out]
        losses = {
            "loss_rec": F.l1_loss(fake, real),
            "loss_vgg": self.perceptual(fake, real) if self.perceptual is not None else fake.new_zeros(()),
            "loss_adv": generator_hinge_loss(fake_out),
            "loss_fm": feature_matching_loss(real_feats, fake_out),
        }
        w = self.weights
        losses["loss_image"] = (
            w.image * losses["loss_rec"] + w.vgg * losses["loss_vgg"]
            + w.adversarial * losses["loss_adv"] + w.feature_matching * losses["loss_fm"]
        )
        return losses

    def discriminator_step(self, optimizer: torch.optim.Optimizer, fake: torch.Tensor,
                           real: torch.Tensor, step: int, accum: int) -> torch.Tensor:

        fake_out, real_out = self._split(fake.detach(), real)
        loss = discriminator_hinge_loss(real_out, fake_out)
        accumulate_and_step(optimizer, loss, step, accum)
        return loss.detach()


class TaskBase:
    """What every task shares: device, the config, optimisers, schedulers and export."""

    stage: str

    def __init__(self, cfg: PdfgcConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self.accum = 1
        self._schedulers: dict[str, Any] = {}
        self.model: nn.Module | None = None
        self.critic: nn.Module | None = None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._optimizers

    def schedulers(self) -> dict[str, Any]:
        return self._schedulers

    def _add_optimizer(self, name: str, modules: list[nn.Module], stage_cfg: StageConfig) -> None:
        self.accum = stage_cfg.grad_accum
        optimizer = adam(modules, stage_cfg)
        self._optimizers[name] = optimizer
        self._schedulers[name] = step_lr(optimizer, stage_cfg)

    def trainable(self) -> dict[str, nn.Module]:
        return dict(self.trained)

    def _own_stage_modules(self, wrap: WrapFn) -> None:
        """Split the container into this stage's trained modules (also DDP-wrapped) and the frozen rest."""
        self.trained = {name: getattr(self.model, name) for name in STAGE_MODULES[self.stage]}
        self.wrapped = {name: wrap(module) for name, module in self.trained.items()}
        self.frozen = freeze_others(self.model, STAGE_MODULES[self.stage])

    def _setup_gan_stage(self, wrap: WrapFn, init_from: Path | None, critic_from: Path | None,
                         generator_side: tuple[str, ...]) -> None:
        """Stages 1 and 3: container, frozen critics, own modules, GAN losses, G and D optimisers."""
        self.model, _ = build_container(self.cfg.model, self.device, init_from)
        critics = load_critics(self.cfg, self.device, critic_from)
        self.critics, self.critic = critics, critics.module
        self._own_stage_modules(wrap)
        self.gan = Adversarial(self.wrapped["discriminator"], self.cfg.model, self.stage_cfg, self.device)
        self._add_optimizer("generator", [self.trained[n] for n in generator_side], self.stage_cfg)
        self._add_optimizer("discriminator", [self.trained["discriminator"]], self.stage_cfg)

    def _step(self, name: str, loss: torch.Tensor, step: int) -> None:
        accumulate_and_step(self._optimizers[name], loss, step, self.accum)

    def _generator_and_discriminator_step(self, total: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                                          step: int) -> torch.Tensor:
        """Generator update (the discriminator's own accumulated gradients untouched), then D's."""
        with gradients_kept(self.trained["discriminator"]):
            self._step("generator", total, step)
        return self.gan.discriminator_step(self._optimizers["discriminator"], fake, real, step, self.accum)

    def export(self) -> dict[str, nn.Module]:
        """``model`` (the whole PDFGC container) and ``critic`` when this stage has one; the loop
        saves their state dicts with ``pdfgc.train.checkpoint.save_export``."""
        modules = {"model": self.model, "critic": self.critic}
        return {name: module for name, module in modules.items() if module is not None}

    def state_dict(self) -> dict[str, Any]:
        """Task-owned state beyond the trainable modules (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore by default; tasks with state override this."""


# ----------------------------------------------------------------------------- critic stage


def take(value: Any, count: int) -> Any:
    """The first ``count`` samples of a tensor or of a dataclass of tensors (AppearanceFeatures)."""
    if torch.is_tensor(value):
        return value[:count]
    parts = {field.name: getattr(value, field.name)[:count] for field in dataclasses.fields(value)}
    return dataclasses.replace(value, **parts)
