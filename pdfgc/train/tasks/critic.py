"""The critic stage: label critics (pose, expression, gaze, blink) trained on the shards' labels, the stand-ins for the paper's prior networks in L_mot and L_con."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import PdfgcConfig
from pdfgc.errors import ConfigError
from pdfgc.models.critics import (
    LABELS,
    LabelCritic,
    critic_metrics,
)
from pdfgc.train.task_base import WrapFn
from pdfgc.train.tasks.common import (
    TaskBase,
    build_container,
    labels_expression_dim,
    scalars,
)


class CriticTask(TaskBase):
    """Fits ``LabelCritic`` to the shards' labels (Huber loss on standardised targets).

    Its export also carries a freshly initialised PDFGC container (the hand-over contract wants
    every export to hold one); it stays on the CPU and is never trained here.

    Args:
        cfg: the whole config (``model`` sizes, ``train.critic`` optimiser, ``labels`` for E).
        device: where the critic lives.
        wrap: DDP wrapper for the critic.
        expression_dim: E; default: the width the configured expression labeler declares.
    """

    stage = "critic"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn, expression_dim: int | None = None) -> None:
        super().__init__(cfg, device)
        width = expression_dim if expression_dim is not None else labels_expression_dim(cfg.labels)
        self.critic = LabelCritic(cfg.model, width).to(device)
        self.model, _ = build_container(cfg.model, torch.device("cpu"), init_from=None)
        self.critic_ddp = wrap(self.critic)
        self._add_optimizer("critic", [self.critic], cfg.train.critic)

    def trainable(self) -> dict[str, nn.Module]:
        return {"critic": self.critic}

    def _check_batch(self, batch: dict[str, torch.Tensor]) -> None:
        width = batch["expression"].shape[1]
        if width != self.critic.expression_dim:
            raise ConfigError(
                f"batch 'expression' has {width} dims but labels.expression={self.cfg.labels.expression} "
                f"declares {self.critic.expression_dim}: the shards were labelled with another backend"
            )

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        self._check_batch(batch)
        self.critic.train()
        self.critic.update_normalisers(batch)
        targets = self.critic.standardised_targets(batch)
        output = self.critic_ddp(batch["image"])
        losses = {f"loss_{name}": F.smooth_l1_loss(output.label(name), targets[name]) for name in LABELS}
        total = sum(losses.values())
        self._step("critic", total, step)
        with torch.no_grad():
            metrics = critic_metrics(self.critic.in_label_units(output), batch)
        return {"loss": float(total.detach()), **scalars(losses), **metrics}

    @torch.no_grad()
    def evaluate(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Mean absolute errors in label units on a held-out batch."""
        self.critic.eval()
        return critic_metrics(self.critic.in_label_units(self.critic(batch["image"])), batch)

    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """The critic draws nothing; its metrics say how well it fits."""
        return None


# ----------------------------------------------------------------------------- stage 1
