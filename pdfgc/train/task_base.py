"""The contract between the generic training loop and a stage's task object.

The loop (``pdfgc.train.loop``) owns devices, DDP, data, checkpoints and logging; a task owns
the networks, optimisers and losses of one stage (``critic``, ``1``, ``2``, ``3``). Batches are
dicts of tensors built by ``pdfgc.train.reader.loader`` (keys per stage listed in docs/ARCHITECTURE.md),
images in [-1, 1], shape (B, 3, S, S).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

WrapFn = Callable[[nn.Module], nn.Module]
"""Wraps a trainable module for data-parallel training (DDP) or returns it unchanged."""


class StageTask(Protocol):
    stage: str

    def trainable(self) -> dict[str, nn.Module]:
        """Modules whose weights this stage updates (checkpointed and DDP-wrapped)."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        ...

    def schedulers(self) -> dict[str, Any]:
        ...

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """Forward, backward and optimiser steps (generator and discriminator) for one batch.
        Returns detached scalars named after PDFGC.md (``loss``, ``loss_mot``, ``loss_a2v``...).

        Every batch a task receives (here, in ``image_grid`` and ``evaluate``) is already on its
        device with images as float in [-1, 1]: the loop owns that move
        (``pdfgc.train.reader.loader.batch_to_device``)."""
        ...

    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """An (H, W, 3) uint8 picture for the tracker (source, driver, reconstruction...)."""
        ...

    def export(self) -> dict[str, nn.Module]:
        """Modules (trained and frozen) that later stages and synthesis load."""
        ...
