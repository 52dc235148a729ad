"""The audio-visual sync expert: SyncNet-style embeddings of mouth motion and of speech.

A window of ``sync.frames`` (5) consecutive mouth crops, stacked on the channel axis, and the
0.2 s log-mel window around the same frames (1, 80, 20) are each mapped to a unit-length
embedding; in-sync pairs are trained to be near, off-sync ones far
(``pdfgc.losses.sync.sync_contrastive_loss``). Both encoders are plain stride-2 conv stacks
(conv-BN-ReLU), as in SyncNet and Wav2Lip's expert, sized by ``sync.base_channels`` and
``sync.embed_dim``. ``mouth_crops`` cuts the mouth region out of aligned face crops the same
way for training batches, real frames and generated frames.

Saved as a stage export (``stage == "sync"``, the expert's state under ``model``), loaded by
``load_sync_expert`` from a file, a run folder or an MLflow ``models:/`` / ``runs:/`` URI.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import SyncConfig, config_from_tree
from pdfgc.errors import InputError
from pdfgc.train.checkpoint import EXPORT_FORMAT

_logger = logging.getLogger(__name__)

SYNC_STAGE = "sync"
VIDEO_STRIDES = 4
"""Stride-2 layers of the video encoder (48 x 96 -> 3 x 6)."""
AUDIO_STRIDES = 3
"""Stride-2 layers of the audio encoder (80 x 20 -> 10 x 3)."""
MAX_WIDTH_FACTOR = 8


def _conv(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _encoder(in_channels: int, base: int, strides: int, embed_dim: int) -> nn.Sequential:
    """conv(base) then ``strides`` x [stride-2 conv (doubling, capped), conv], pooled, linear."""
    layers, channels = [_conv(in_channels, base, 1)], base
    for level in range(strides):
        wider = base * min(2 ** (level + 1), MAX_WIDTH_FACTOR)
        layers += [_conv(channels, wider, 2), _conv(wider, wider, 1)]
        channels = wider
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, embed_dim))


def mouth_channels(cfg: SyncConfig) -> int:
    return 1 if cfg.grayscale else 3


class SyncExpert(nn.Module):
    """Mouth windows (B, frames, C, h, w) and mel windows (B, 1, n_mels, 4 frames) -> unit vectors (B, D).

    Args:
        cfg: the ``sync`` section (sizes).
    """

    def __init__(self, cfg: SyncConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video = _encoder(cfg.frames * mouth_channels(cfg), cfg.base_channels, VIDEO_STRIDES, cfg.embed_dim)
        self.audio = _encoder(1, cfg.base_channels, AUDIO_STRIDES, cfg.embed_dim)

    def embed_video(self, mouths: torch.Tensor) -> torch.Tensor:
        """(B, frames, C, h, w) in [-1, 1] -> (B, D), unit length."""
        stacked = mouths.flatten(1, 2)  # (B, frames * C, h, w)
        return F.normalize(self.video(stacked).float(), dim=1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_mels, rows) log-mel in [0, 1] -> (B, D), unit length."""
        return F.normalize(self.audio(mel).float(), dim=1)

    def forward(self, mouths: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_video(mouths), self.embed_audio(mel)


def mouth_crops(images: torch.Tensor, cfg: SyncConfig) -> torch.Tensor:
    """Aligned face crops (..., 3, H, W) in [-1, 1] -> mouth regions (..., C, crop_height, crop_width).

    The region is ``cfg.mouth_box`` of the crop, resized with antialiasing; grey is the ITU-R
    BT.601 luma of RGB."""
    lead, (height, width) = images.shape[:-3], images.shape[-2:]
    top, bottom, left, right = cfg.mouth_box
    region = images.reshape(-1, *images.shape[-3:])[
        :, :, round(top * height): round(bottom * height), round(left * width): round(right * width)]
    region = F.interpolate(region.float(), size=(cfg.crop_height, cfg.crop_width), mode="bilinear",
                           antialias=True, align_corners=False)
    if cfg.grayscale:
        weights = region.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        region = (region * weights).sum(dim=1, keepdim=True)
    return region.reshape(*lead, *region.shape[1:])


def build_sync_expert(cfg: SyncConfig) -> SyncExpert:
    expert = SyncExpert(cfg)
    _logger.info("built the sync expert: %.2fM parameters", sum(p.numel() for p in expert.parameters()) / 1e6)
    return expert


def sync_expert_from_export(export: dict, where: str) -> SyncExpert:
    """The expert of a loaded ``sync`` stage export (eval mode, on the CPU)."""
    if export.get("stage") != SYNC_STAGE:
        raise InputError(f"{where}: a stage-{export.get('stage')!r} export, not a sync expert (stage 'sync')")
    try:
        cfg = config_from_tree(export["config"], origin=where).sync
        expert = SyncExpert(cfg)
        expert.load_state_dict(export["model"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise InputError(f"{where}: not a loadable sync expert ({type(exc).__name__}: {exc})") from None
    return expert.eval()


def load_sync_expert(model: str | Path, tracking_uri: str | None = None) -> SyncExpert:
    """The expert from an ``export.pt``, a folder holding one, or ``models:/NAME/VERSION``,
    ``models:/NAME@ALIAS``, ``runs:/ID/PATH`` (downloaded through MLflow from ``tracking_uri``)."""
    path = Path(model)
    if str(model).startswith(("models:/", "runs:/")):
        from pdfgc.integrations.model_uri import download_export

        path = download_export(str(model), tracking_uri)
    elif path.is_dir():
        path = path / "export.pt"
    if not path.is_file():
        raise InputError(f"{model}: no sync expert export found ({path} does not exist)")
    try:
        export = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a weights-only checkpoint
        raise InputError(f"{model}: not a readable export ({type(exc).__name__}: {exc})") from None
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise InputError(f"{model}: not a {EXPORT_FORMAT} export")
    return sync_expert_from_export(export, str(model))
