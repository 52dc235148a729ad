"""PD-FGC networks (plain torch, no torchvision). ``build_model(cfg.model)`` builds them all."""

from pdfgc.models.appearance import AppearanceEncoder, AppearanceFeatures
from pdfgc.models.audio import AudioEncoder
from pdfgc.models.discriminator import MultiScaleDiscriminator
from pdfgc.models.generator import Generator, Generator0, assemble_style, style_layout
from pdfgc.models.model import NETWORK_NAMES, PDFGC, build_model
from pdfgc.models.motion import MotionEncoder, motion_head

__all__ = [
    "NETWORK_NAMES", "PDFGC", "AppearanceEncoder", "AppearanceFeatures", "AudioEncoder", "Generator",
    "Generator0", "MotionEncoder", "MultiScaleDiscriminator", "assemble_style", "build_model", "motion_head",
    "style_layout",
]
