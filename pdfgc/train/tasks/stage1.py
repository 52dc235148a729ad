"""Stage 1: appearance / motion disentanglement (LPD-style self-driven reconstruction through G0, with L_mot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdfgc.config import PdfgcConfig
from pdfgc.losses.motion import motion_reconstruction_loss
from pdfgc.train.augment import MotionAugment
from pdfgc.train.task_base import WrapFn
from pdfgc.train.tasks.common import (
    GRID_ROWS,
    TaskBase,
    scalars,
    set_eval,
    set_train,
    tile,
    world,
)


class Stage1Task(TaskBase):
    """LPD self-driving: I_0 = G0(E_app(K frames), E_mot(augment(driver))) reconstructs the driver.

    Args:
        cfg: the whole config (``model``, ``train.stage1``, ``train.critic_backend``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: an earlier export whose PDFGC weights start this stage (optional).
        critic_from: the critic-stage export providing phi and psi for L_mot.
    """

    stage = "1"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                 init_from: Path | None, critic_from: Path | None) -> None:

        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage1
        self._setup_gan_stage(wrap, init_from, critic_from, ("app_encoder", "motion_encoder", "generator0"))
        rank, _ = world()
        self.augment_rng = torch.Generator(device=device).manual_seed(cfg.train.seed * 1000 + rank)
        self.augment = MotionAugment()

    def _reconstruct(self, app_frames: torch.Tensor, driver: torch.Tensor, augment: bool) -> torch.Tensor:
        modules = self.wrapped if augment else self.trained
        app = modules["app_encoder"](app_frames)
        driver_in = self.augment(driver, self.augment_rng) if augment else driver
        motion = modules["motion_encoder"](driver_in)  # (B, motion_dim)
        return modules["generator0"](app, motion)  # (B, 3, S, S)

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:

        set_train(self.trained, self.frozen)
        driver = batch["driver"]
        fake = self._reconstruct(batch["app_frames"], driver, augment=True)
        losses = self.gan.generator_losses(fake, driver)
        losses["loss_mot"] = motion_reconstruction_loss(self.critics.phi, self.critics.psi, fake, driver)
        total = losses.pop("loss_image") + self.stage_cfg.weights.mot * losses["loss_mot"]
        losses["loss_d"] = self._generator_and_discriminator_step(total, fake, driver, step)
        return {"loss": float(total.detach()), **scalars(losses)}

    def state_dict(self) -> dict[str, Any]:
        return {"augment_rng": self.augment_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.augment_rng.set_state(state["augment_rng"].cpu())

    @torch.no_grad()
    def reconstruct(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(I_0 of the driver, not augmented; the driver): validation curves compare the two."""
        set_eval(self.trained)
        return self._reconstruct(batch["app_frames"], batch["driver"], augment=False), batch["driver"]

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples; columns = an appearance frame, the driver, I_0 (driver not augmented)."""
        set_eval(self.trained)
        rows = min(GRID_ROWS, batch["driver"].shape[0])
        app_frames, driver = batch["app_frames"][:rows], batch["driver"][:rows]
        fake = self._reconstruct(app_frames, driver, augment=False)
        return tile([[app_frames[i, 0], driver[i], fake[i]] for i in range(rows)])


# ----------------------------------------------------------------------------- stage 2
