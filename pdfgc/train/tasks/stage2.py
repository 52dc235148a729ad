"""Stage 2: the lip, pose and eye heads on the frozen motion encoder, and the audio encoder (L_a2v, L_v2a, L_eye, L_pose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pdfgc.config import PdfgcConfig
from pdfgc.losses.contrastive import eye_contrastive_loss, lip_contrastive_loss
from pdfgc.losses.pose import pose_l1_loss
from pdfgc.train.augment import composite_eye_region
from pdfgc.train.task_base import WrapFn
from pdfgc.train.tasks.common import (
    GRID_ROWS,
    TaskBase,
    build_container,
    gather_with_grad,
    scalars,
    set_train,
    tile,
)


class Stage2Task(TaskBase):
    """Lip (audio-visual InfoNCE), eye (local contrastive) and pose heads on a frozen E_mot.

    Args:
        cfg: the whole config (``model``, ``train.stage2``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: the stage-1 export (its E_mot is what the heads read).
        rank, world_size: this process's place among the ranks, for gathering lip negatives.
    """

    stage = "2"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn, init_from: Path | None,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage2
        self.rank, self.world_size = rank, world_size
        self.model, source_stage = build_container(cfg.model, device, init_from)
        self.pose_head_centred = source_stage in ("2", "3")
        self._own_stage_modules(wrap)
        self._add_optimizer("heads", list(self.trained.values()), self.stage_cfg)

    def state_dict(self) -> dict[str, Any]:
        return {"pose_head_centred": torch.tensor(self.pose_head_centred)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pose_head_centred = bool(state["pose_head_centred"])

    @torch.no_grad()
    def _centre_pose_head(self, motion: torch.Tensor, pose: torch.Tensor) -> None:
        """Data-dependent init, once: shift E_pose's last bias so its mean output is the mean label.

        The pose label is in shard units (tz is about 1300 mm); an L1 regression whose output
        starts near 0 would spend its first million Adam steps walking the bias there.
        Collective when torch.distributed is initialised (the offset is averaged over ranks).
        """
        final = [module for module in self.model.pose_head.modules() if isinstance(module, nn.Linear)][-1]
        offset = pose.float().mean(0) - self.model.pose_head(motion).float().mean(0)  # (6,)
        if self.world_size > 1:
            dist.all_reduce(offset)  # Collective -> ALL ranks call it
            offset /= self.world_size
        final.bias += offset.to(final.bias)
        self.pose_head_centred = True

    def _eye_anchor(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:

        return composite_eye_region(batch["frames"], batch["frames2"], batch["landmarks"], batch["landmarks2"])

    def _losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:

        batch_size = batch["frames"].shape[0]
        images = torch.cat([batch["frames"], batch["frames2"], self._eye_anchor(batch)], dim=0)
        with torch.no_grad():
            motion = self.model.motion_encoder(images)  # (3B, motion_dim)
        if not self.pose_head_centred:
            self._centre_pose_head(motion[:batch_size], batch["pose"])
        heads = self.wrapped
        lip, audio = heads["lip_head"](motion[:batch_size]), heads["audio_encoder"](batch["mel"])
        both = gather_with_grad(torch.cat([lip, audio], dim=1), self.rank, self.world_size)  # one collective, not two
        video_feat, audio_feat = both.split([lip.shape[1], audio.shape[1]], dim=1)
        a2v, v2a = lip_contrastive_loss(audio_feat, video_feat, self.stage_cfg.temperature)
        eye_1, eye_2, eye_anchor = heads["eye_head"](motion).split(batch_size)
        return {
            "loss_a2v": a2v,
            "loss_v2a": v2a,
            "loss_eye": eye_contrastive_loss(eye_1, eye_2, eye_anchor, self.stage_cfg.temperature),
            "loss_pose": pose_l1_loss(heads["pose_head"](motion[:batch_size]), batch["pose"]),
        }

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        set_train(self.trained, self.frozen)
        losses = self._losses(batch)
        w = self.stage_cfg.weights
        total = (w.contrastive * (losses["loss_a2v"] + losses["loss_v2a"])
                 + w.eye * losses["loss_eye"] + w.pose * losses["loss_pose"])
        self._step("heads", total, step)
        return {"loss": float(total.detach()), **scalars(losses)}

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples; columns = v1, v2 and the eye anchor (v1's eyes on v2)."""
        rows = min(GRID_ROWS, batch["frames"].shape[0])
        anchor = self._eye_anchor(batch)
        return tile([[batch["frames"][i], batch["frames2"][i], anchor[i]] for i in range(rows)])


# ----------------------------------------------------------------------------- stage 3
