"""``pdfgc model summary``: parameters and FLOPs of one forward of every PD-FGC network."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from pdfgc.config import ModelConfig
from pdfgc.models.model import NETWORK_NAMES, PDFGC, build_model

_logger = logging.getLogger(__name__)

MEL_FRAMES = 20
"""Mel frames in one audio window (5 video frames x 4)."""
MEL_BINS = 80


def _example_calls(model: PDFGC, cfg: ModelConfig) -> dict[str, Callable[[], object]]:
    """One batch-1 forward per network at the preset resolution (K = 1 appearance frame)."""
    size = cfg.net_image_size
    image = torch.zeros(1, 3, size, size)
    motion = torch.zeros(1, cfg.motion_dim)
    with torch.no_grad():
        app = model.app_encoder(image.unsqueeze(1))
    factors = {name: torch.zeros(1, getattr(cfg, f"{name}_dim")) for name in ("lip", "pose", "eye", "exp")}
    return {
        "app_encoder": lambda: model.app_encoder(image.unsqueeze(1)),
        "motion_encoder": lambda: model.motion_encoder(image),
        "lip_head": lambda: model.lip_head(motion),
        "pose_head": lambda: model.pose_head(motion),
        "eye_head": lambda: model.eye_head(motion),
        "exp_head": lambda: model.exp_head(motion),
        "audio_encoder": lambda: model.audio_encoder(torch.zeros(1, 1, MEL_BINS, MEL_FRAMES)),
        "generator0": lambda: model.generator0(app, motion),
        "generator": lambda: model.generator(app, **factors),
        "discriminator": lambda: model.discriminator(image),
    }


def count_flops(call: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        call()
    return counter.get_total_flops()


def summarize(cfg: ModelConfig) -> str:
    """A text table: network, parameters (M), GFLOPs of one batch-1 forward at ``cfg.net_image_size``."""
    model = build_model(cfg).eval()
    calls = _example_calls(model, cfg)
    rows = [f"PD-FGC networks, preset {cfg.preset}, {cfg.net_image_size}x{cfg.net_image_size}, batch 1",
            f"{'network':<16} {'params (M)':>11} {'GFLOPs':>9}"]
    total_params = 0
    for name in NETWORK_NAMES:
        params = sum(p.numel() for p in model.network(name).parameters())
        total_params += params
        rows.append(f"{name:<16} {params / 1e6:>11.3f} {count_flops(calls[name]) / 1e9:>9.3f}")
    rows.append(f"{'total':<16} {total_params / 1e6:>11.3f}")
    return "\n".join(rows)
