"""A small StageTask for testing the loop, checkpoints and launcher without the real networks.

One conv net reads the stage's main image key and regresses the driver's pose and blink labels.
It uses dropout (so the torch RNG matters for exact resume), Adam + StepLR, and keeps a small
feature memory bank in ``state_dict`` (like stage 3's decorrelation banks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pdfgc.config import PdfgcConfig
from pdfgc.stages import stage_config
from pdfgc.train.task_base import WrapFn

IMAGE_KEY = {"critic": "image", "1": "driver", "2": "frames", "3": "driver"}
BANK_SIZE = 4


class TinyRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                      nn.Flatten(), nn.Dropout(0.2))
        self.head = nn.Linear(16, 8)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.features(image)  # (B, 16)
        return self.head(feat), feat  # (B, 8), (B, 16)


class TinyTask:
    def __init__(self, stage: str, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                 init_from: Path | None = None) -> None:
        self.stage, self.device = stage, device
        self.net = TinyRegressor()
        if init_from is not None:
            self.net.load_state_dict(torch.load(init_from, weights_only=True)["model"])
        self.wrapped = wrap(self.net)
        section = stage_config(cfg, stage)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=section.lr, betas=section.betas)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=2, gamma=0.5)
        self.bank = torch.zeros(BANK_SIZE, 16)

    def trainable(self) -> dict[str, nn.Module]:
        return {"generator": self.wrapped}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.optimizer}

    def schedulers(self) -> dict[str, Any]:
        return {"generator": self.scheduler}

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        pred, feat = self.wrapped(batch[IMAGE_KEY[self.stage]])
        target = torch.cat([batch["pose"], batch["blink"]], dim=1)  # (B, 8)
        loss = nn.functional.mse_loss(pred, target) + 1e-3 * (feat.mean(0) - self.bank.mean(0)).pow(2).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.bank = torch.cat([self.bank[1:], feat.detach().mean(0, keepdim=True).cpu()])
        return {"loss": loss.item(), "loss_label": nn.functional.mse_loss(pred, target).item()}

    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        first = batch[IMAGE_KEY[self.stage]][0]  # (3, S, S)
        return ((first.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()

    def export(self) -> dict[str, nn.Module]:
        return {"model": self.net}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"bank": self.bank}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.bank = state["bank"].clone()


def build_tiny_task(stage: str, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                    init_from: Path | None, critic_from: Path | None) -> TinyTask:
    return TinyTask(stage, cfg, device, wrap, init_from)
