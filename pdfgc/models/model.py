"""PDFGC: the container of every PD-FGC network, by the names the stage tasks freeze and optimise."""

from __future__ import annotations

import logging

from torch import nn

from pdfgc.config import ModelConfig
from pdfgc.models.appearance import AppearanceEncoder
from pdfgc.models.audio import AudioEncoder
from pdfgc.models.discriminator import MultiScaleDiscriminator
from pdfgc.models.generator import Generator, Generator0
from pdfgc.models.motion import MotionEncoder, motion_head

_logger = logging.getLogger(__name__)

NETWORK_NAMES = (
    "app_encoder", "motion_encoder", "lip_head", "pose_head", "eye_head", "exp_head",
    "audio_encoder", "generator0", "generator", "discriminator",
)


class PDFGC(nn.Module):
    """All networks of PD-FGC; it has no forward of its own (each stage task wires them).

    Args:
        cfg: the model section; ``paper`` sizes follow the public inference release.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.app_encoder = AppearanceEncoder(cfg)  # E_app
        self.motion_encoder = MotionEncoder(cfg)  # E_mot
        self.lip_head = motion_head(cfg.motion_dim, cfg.lip_dim)  # E_lip
        self.pose_head = motion_head(cfg.motion_dim, cfg.pose_dim)  # E_pose
        self.eye_head = motion_head(cfg.motion_dim, cfg.eye_dim)  # E_eye
        self.exp_head = motion_head(cfg.motion_dim, cfg.exp_dim)  # E_exp
        self.audio_encoder = AudioEncoder(cfg)  # E_aud
        self.generator0 = Generator0(cfg)  # G0
        self.generator = Generator(cfg)  # G
        self.discriminator = MultiScaleDiscriminator(cfg)

    def network(self, name: str) -> nn.Module:
        if name not in NETWORK_NAMES:
            raise KeyError(f"unknown PD-FGC network {name!r}; known: {', '.join(NETWORK_NAMES)}")
        return getattr(self, name)


def build_model(cfg: ModelConfig) -> PDFGC:
    model = PDFGC(cfg)
    _logger.info("built PD-FGC (%s preset): %.1fM parameters", cfg.preset,
                 sum(p.numel() for p in model.parameters()) / 1e6)
    return model
