"""The stage tasks: critic, 1 (appearance/motion), 2 (lip/pose/eye heads), 3 (expression + G), and
sync (the audio-visual sync expert that evaluation uses; ``tasks/sync.py``, independent of the others).

Each task owns one stage's networks, optimisers, schedulers and losses; the generic loop in
``pdfgc.train.loop`` feeds it batches (keys per stage in docs/DATA_FORMAT.md and the loader),
steps the StepLR schedulers once per step after ``training_step``, and checkpoints what
``trainable()``, ``optimizers()``, ``schedulers()`` and ``state_dict()`` return. A GAN stage runs
its generator and discriminator updates inside one ``training_step``.

Every stage builds the full ``PDFGC`` container with ``build_model`` and loads the previous
stage's export (``init_from``); it trains only its own modules and freezes the rest:

| stage  | trains                                              | frozen (eval, no weight change) |
| ------ | --------------------------------------------------- | ------------------------------- |
| critic | LabelCritic                                         | (PDFGC built, exported untrained) |
| 1      | app_encoder, motion_encoder, generator0, D          | everything else                 |
| 2      | lip_head, pose_head, eye_head, audio_encoder        | motion_encoder (per the paper)  |
| 3      | exp_head, generator, D, app_encoder (fine-tuned)    | motion_encoder, lip/pose/eye heads, audio_encoder |

Stage 3 fine-tunes the appearance encoder because its generator is new: the appearance features
were shaped for G0, and no frozen module reads them, so adapting them cannot break an earlier
stage's factor. Stage 3 gives G the audio lip feature ``E_aud(mel)`` (not ``E_lip(E_mot(frame))``)
because that is what drives G at synthesis time, and L_con and L_decor compare against the same
audio feature; G therefore learns the distribution it will be driven with.

Stage 2 shifts E_pose's output bias once, on its first batch, to the mean pose label (see
``Stage2Task._centre_pose_head``): the shards' pose is in degrees and millimetres, tz near 1300.
"""
from __future__ import annotations

from pathlib import Path

import torch

from pdfgc.config import PdfgcConfig
from pdfgc.stages import check_stage
from pdfgc.train.task_base import StageTask, WrapFn
from pdfgc.train.tasks.common import (
    gather_with_grad,
    gradients_kept,
    load_export,
    world,
)
from pdfgc.train.tasks.critic import CriticTask
from pdfgc.train.tasks.stage1 import Stage1Task
from pdfgc.train.tasks.stage2 import Stage2Task
from pdfgc.train.tasks.stage3 import Stage3Task
from pdfgc.train.tasks.sync import SyncTask

__all__ = ["CriticTask", "Stage1Task", "Stage2Task", "Stage3Task", "SyncTask", "build_task", "gather_with_grad",
           "gradients_kept", "load_export"]


def build_task(stage: str, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
               init_from: Path | None = None, critic_from: Path | None = None) -> StageTask:
    """The task object of ``stage`` (one of ``STAGES``) for the training loop.

    Stage 2 reads its rank and world size from torch.distributed when a process group exists.
    """
    check_stage(stage)
    if stage == "critic":
        return CriticTask(cfg, device, wrap)
    if stage == "1":
        return Stage1Task(cfg, device, wrap, init_from, critic_from)
    if stage == "2":
        rank, world_size = world()
        return Stage2Task(cfg, device, wrap, init_from, rank=rank, world_size=world_size)
    if stage == "sync":
        return SyncTask(cfg, device, wrap)
    return Stage3Task(cfg, device, wrap, init_from, critic_from)
