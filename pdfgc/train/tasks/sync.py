"""The sync stage: the audio-visual sync expert that evaluation's LSE-D / LSE-C scores read.

Trained from the shards alone (no ``init_from``): it measures lip sync, so it must not depend
on the model it will judge. Batch keys (``pdfgc.train.reader.sync_plan``): ``window`` (B, F, 3,
S, S) consecutive face crops centred on frame t, ``mel`` (B, 1, 80, 4F) the audio window of t,
``mel_shifted`` (B, K, 1, 80, 4F) windows of the same chunk at least ``sync.min_shift`` frames
away. The loss is ``pdfgc.losses.sync.sync_contrastive_loss``: the in-sync audio against the
other clips of the batch and the same clip's off-sync windows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pdfgc.config import PdfgcConfig
from pdfgc.losses.sync import sync_accuracy, sync_contrastive_loss
from pdfgc.models.sync import build_sync_expert, mouth_crops
from pdfgc.train.task_base import WrapFn
from pdfgc.train.tasks.common import GRID_ROWS, TaskBase, tile


class SyncTask(TaskBase):
    """Trains ``SyncExpert`` (``cfg.sync`` sizes, ``cfg.train.sync`` optimiser).

    Args:
        cfg: the whole config.
        device: where the expert lives.
        wrap: DDP wrapper for the expert.
    """

    stage = "sync"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn) -> None:
        super().__init__(cfg, device)
        self.sync_cfg = cfg.sync
        self.expert = build_sync_expert(cfg.sync).to(device)
        self.expert_ddp = wrap(self.expert)
        self._add_optimizer("sync", [self.expert], cfg.train.sync)

    def trainable(self) -> dict[str, nn.Module]:
        return {"sync": self.expert}

    def _embeddings(self, batch: dict[str, torch.Tensor], module: nn.Module) -> tuple[torch.Tensor, ...]:
        """(video (B, D), in-sync audio (B, D), off-sync audio (B, K, D)) in one forward of ``module``."""
        mouths = mouth_crops(batch["window"], self.sync_cfg)  # (B, F, C, h, w)
        shifted = batch["mel_shifted"]  # (B, K, 1, n_mels, rows)
        batch_size, count = shifted.shape[:2]
        mels = torch.cat([batch["mel"], shifted.flatten(0, 1)])  # one audio pass through DDP
        video, audio = module(mouths, mels)
        return video, audio[:batch_size], audio[batch_size:].view(batch_size, count, -1)

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        self.expert.train()
        video, audio, shifted = self._embeddings(batch, self.expert_ddp)
        loss = sync_contrastive_loss(video, audio, shifted, self.sync_cfg.temperature)
        self._step("sync", loss, step)
        return {"loss": float(loss.detach()), "loss_sync": float(loss.detach()),
                "sync_accuracy": float(sync_accuracy(video.detach(), audio.detach(), shifted.detach()))}

    @torch.no_grad()
    def evaluate(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Held-out loss and the share of windows whose in-sync audio ranks first."""
        self.expert.eval()
        video, audio, shifted = self._embeddings(batch, self.expert)
        return {"loss_sync": float(sync_contrastive_loss(video, audio, shifted, self.sync_cfg.temperature)),
                "sync_accuracy": float(sync_accuracy(video, audio, shifted))}

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples; columns = the mouth crops of the window the expert sees."""
        mouths = mouth_crops(batch["window"][:GRID_ROWS], self.sync_cfg)
        if mouths.shape[2] == 1:
            mouths = mouths.expand(-1, -1, 3, -1, -1)
        return tile([list(window) for window in mouths])

    def export(self) -> dict[str, nn.Module]:
        """The expert under ``model`` (an export with ``stage == "sync"``; ``pdfgc.models.sync.load_sync_expert``)."""
        return {"model": self.expert}
