"""Stage 3: the expression head and the final generator (window-averaged expression, L_decor with memory banks, L_con)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import PdfgcConfig
from pdfgc.losses.decorrelation import (
    FeatureMemoryBank,
    decorrelation_loss,
    window_average,
)
from pdfgc.losses.motion import motion_consistency_loss, motion_reconstruction_loss
from pdfgc.losses.pose import masked_l1
from pdfgc.train.augment import MotionAugment
from pdfgc.train.task_base import WrapFn
from pdfgc.train.tasks.common import (
    GRID_ROWS,
    SWAP_FACTORS,
    TaskBase,
    scalars,
    set_eval,
    set_train,
    take,
    tile,
    world,
)


class Stage3Task(TaskBase):
    """Expression head and final generator: I_f = G(app, lip, pose, eye, exp) rebuilds the driver.

    Losses: L1 + L_vgg + adversarial + feature matching on I_f, L_decor between the
    window-averaged expression feature and the window's audio feature (memory banks of
    ``train.stage3.memory_bank``, kept per rank), and L_con.

    Args:
        cfg: the whole config (``model``, ``train.stage3``, ``train.stage1.k_frames``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: the stage-2 export.
        critic_from: the critic-stage export (phi, psi, Gaze).
    """

    stage = "3"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                 init_from: Path | None, critic_from: Path | None) -> None:

        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage3
        self._setup_gan_stage(wrap, init_from, critic_from, ("app_encoder", "exp_head", "generator"))
        bank_size = self.stage_cfg.memory_bank
        self.exp_bank = FeatureMemoryBank(bank_size, cfg.model.exp_dim).to(device)
        self.audio_bank = FeatureMemoryBank(bank_size, cfg.model.lip_dim).to(device)
        rank, _ = world()
        self.augment_rng = torch.Generator(device=device).manual_seed(cfg.train.seed * 1000 + rank)
        self.augment = MotionAugment() if self.stage_cfg.augment_expression else None

    @torch.no_grad()
    def _frozen_factors(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """lip (audio), pose, eye of the driver and the window's mean audio feature; no grad."""

        model = self.model
        batch_size, window = batch["mel_window"].shape[:2]
        motion = model.motion_encoder(batch["driver"])  # (B, motion_dim)
        audio_window = model.audio_encoder(batch["mel_window"].flatten(0, 1))  # (B*K3, lip_dim)
        return {
            "lip": model.audio_encoder(batch["mel"]),  # (B, lip_dim)
            "pose": model.pose_head(motion),  # (B, 6)
            "eye": model.eye_head(motion),  # (B, eye_dim)
            "audio_window": window_average(audio_window.view(batch_size, window, -1)),  # (B, lip_dim)
        }

    def _expression(self, window: torch.Tensor, modules: dict[str, nn.Module], augment: bool = False) -> torch.Tensor:
        """f_exp: E_exp(E_mot(.)) averaged over the K3 window frames -> (B, exp_dim); with
        ``augment`` (training, ``augment_expression``) the frames are augmented first."""

        batch_size, frames = window.shape[:2]
        flat = window.flatten(0, 1)
        if augment and self.augment is not None:
            flat = self.augment(flat, self.augment_rng)
        with torch.no_grad():
            motion = self.model.motion_encoder(flat)  # (B*K3, motion_dim)
        return window_average(modules["exp_head"](motion).view(batch_size, frames, -1))

    def _consistency(self, fake: torch.Tensor, real: torch.Tensor, lip: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_con = exp(-S(V_lip(I_f), E_aud(a_g))) + |Gaze(I_f) - Gaze(I_g)|_1 + L_mot."""

        lip_fake = self.model.lip_head(self.model.motion_encoder(fake))  # (B, lip_dim), frozen V_lip
        lip_sim = F.cosine_similarity(lip_fake, lip, dim=1)  # (B,)
        gaze_fake = self.critics.gaze(fake)
        with torch.no_grad():
            gaze_real = self.critics.gaze(real)
        l_mot = motion_reconstruction_loss(self.critics.phi, self.critics.psi, fake, real)
        return {
            "loss_con": motion_consistency_loss(lip_sim, gaze_fake, gaze_real, l_mot),
            "loss_con_lip": torch.exp(-lip_sim).mean(),
            "loss_con_gaze": masked_l1(gaze_fake, gaze_real),
            "loss_mot": l_mot,
        }

    def _decorrelation(self, exp_feat: torch.Tensor, audio_feat: torch.Tensor) -> torch.Tensor:
        """L_decor against the banks as they were before this batch, then push the batch."""

        loss = decorrelation_loss(exp_feat, audio_feat, self.exp_bank, self.audio_bank)
        self.exp_bank.push(exp_feat.detach())
        self.audio_bank.push(audio_feat.detach())
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        set_train(self.trained, self.frozen)
        factors = self._frozen_factors(batch)
        exp_feat = self._expression(batch["window"], self.wrapped, augment=True)
        app = self.wrapped["app_encoder"](batch["app_frames"])
        driver = batch["driver"]
        fake = self.wrapped["generator"](app, factors["lip"], factors["pose"], factors["eye"], exp_feat)
        losses = self.gan.generator_losses(fake, driver)
        losses["loss_decor"] = self._decorrelation(exp_feat, factors["audio_window"])
        w = self.stage_cfg.weights
        total = losses.pop("loss_image") + w.decor * losses["loss_decor"]
        if w.con > 0:  # L_con runs E_mot, the lip head and three critics on I_f: skipped when off
            losses.update(self._consistency(fake, driver, factors["lip"]))
            total = total + w.con * losses["loss_con"]
        losses["loss_d"] = self._generator_and_discriminator_step(total, fake, driver, step)
        return {"loss": float(total.detach()), **scalars(losses)}

    def state_dict(self) -> dict[str, Any]:
        return {"exp_bank": self.exp_bank.state_dict(), "audio_bank": self.audio_bank.state_dict(),
                "augment_rng": self.augment_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.exp_bank.load_state_dict(state["exp_bank"])
        self.audio_bank.load_state_dict(state["audio_bank"])
        if "augment_rng" in state:  # absent from checkpoints written before the option existed
            self.augment_rng.set_state(state["augment_rng"].cpu())

    def _factors(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        factors = self._frozen_factors(batch)
        factors["exp"] = self._expression(batch["window"], self.trained)
        factors["app"] = self.trained["app_encoder"](batch["app_frames"])
        return factors

    def _draw(self, factors: dict[str, Any]) -> torch.Tensor:
        generator = self.trained["generator"]
        return generator(factors["app"], factors["lip"], factors["pose"], factors["eye"], factors["exp"])

    def _swap_rows(self, factors: dict[str, Any], batch: dict[str, torch.Tensor]) -> list[list[torch.Tensor]]:
        """One row per factor: driver 0, driver 1, G(0 with 1's factor), G(1 with 0's factor)."""
        order = torch.tensor([1, 0], device=self.device)
        pair = {name: take(value, 2) for name, value in factors.items()}
        rows = []
        for name in SWAP_FACTORS:
            swapped = dict(pair, **{name: pair[name].index_select(0, order)})
            drawn = self._draw(swapped)
            rows.append([batch["driver"][0], batch["driver"][1], drawn[0], drawn[1]])
        return rows

    @torch.no_grad()
    def reconstruct(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(I_f drawn from the driver's own factors; the driver): validation curves compare the two."""
        set_eval(self.trained)
        return self._draw(self._factors(batch)), batch["driver"]

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples (app frame, driver, I_f), then the factor-swap rows of samples 0 and 1."""
        set_eval(self.trained)
        factors = self._factors(batch)
        fake = self._draw(factors)
        rows = [[batch["app_frames"][i, 0], batch["driver"][i], fake[i]] for i in range(min(GRID_ROWS, len(fake)))]
        if len(fake) >= 2:
            rows += self._swap_rows(factors, batch)
        return tile(rows)
