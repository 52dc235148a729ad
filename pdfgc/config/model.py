"""The model section: network sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pdfgc.config.base import Section


class ModelConfig(Section):
    """Network sizes. ``paper`` follows the public inference release; ``tiny`` runs on a CPU."""

    preset: Literal["tiny", "paper"] = "paper"
    """Which size family these values belong to (shown in ``pdfgc model summary``)."""
    net_image_size: int = Field(224, gt=0)
    """Side in pixels of the square images the networks read and draw (a multiple of 32). Shard
    crops (``data.shard_crop_size``) are resized to it when a batch is decoded."""
    app_dim: int = Field(2048, gt=0)
    """Width of the global appearance feature of E_app."""
    app_map_channels: int = Field(512, gt=0)
    """Channels of E_app's spatial appearance map (side ``net_image_size / 32``)."""
    motion_dim: int = Field(512, gt=0)
    """Width of E_mot's motion feature, the input of the lip, pose, eye and expression heads."""
    lip_dim: int = Field(500, gt=0)
    """Width of the lip feature (E_lip and the audio encoder's output)."""
    pose_dim: int = Field(6, gt=0)
    """Width of the pose feature (pitch, yaw, roll, tx, ty, tz)."""
    eye_dim: int = Field(6, gt=0)
    """Width of the eye feature."""
    exp_dim: int = Field(30, gt=0)
    """Width of the expression feature."""
    audio_dim: int = Field(512, gt=0)
    """Width of the audio encoder's hidden feature before its lip projection."""
    base_channels: int = Field(64, gt=0)
    """Width multiplier for the convolutional trunks (tiny preset shrinks it)."""
    disc_scales: int = Field(2, gt=0)
    """Image scales judged by the multi-scale patch discriminator."""
    disc_layers: int = Field(4, gt=0)
    """Stride-2 blocks of each patch discriminator (then one stride-1 block and the logit conv)."""
    perceptual: Literal["vgg19", "stlpips_vgg16", "none"] = "vgg19"
    """Backbone of the perceptual loss: 'vgg19' needs ``vgg19_weights``; 'stlpips_vgg16' uses the
    VGG16 trunk shipped by the stlpips-pytorch wheel; 'none' disables the term."""
    vgg19_weights: str | None = None
    """Local path of the VGG19 weights for ``perceptual: vgg19`` (nothing is downloaded)."""
