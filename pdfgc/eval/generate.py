"""Synthesis on shard crops for evaluation, through the synthesis code of ``pdfgc.synth``.

``pdfgc synthesize`` reads a portrait image and driver videos and aligns them; evaluation
starts from a shard's crops, which preprocessing already aligned, and calls the same steps:
``to_tensor`` -> ``E_aud`` on ``audio_windows`` (smoothed as in synthesis) -> ``drive_factors``
(``E_mot`` and its heads, with synthesis's smoothing) -> ``render`` (``E_app`` + ``G``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from pdfgc.config import PdfgcConfig, config_from_tree
from pdfgc.errors import PdfgcError
from pdfgc.eval.clips import ClipData
from pdfgc.models import PDFGC
from pdfgc.synth.synthesize import (
    LIP_SMOOTH_SIGMA, audio_windows, batched, build_trained_model, drive_factors, gaussian_smooth,
    load_export, render, resolve_model, to_tensor,
)

_logger = logging.getLogger(__name__)

FACTORS = ("lips", "pose", "eyes", "expression")
"""The motion factors PD-FGC controls apart; lips are driven by the audio of their clip."""


@dataclass
class EvalModel:
    """A trained generator ready to render, with where it came from."""

    net: PDFGC
    cfg: PdfgcConfig
    uri: str
    export_path: Path

    @property
    def image_size(self) -> int:
        return self.cfg.model.image_size


def load_eval_model(uri: str, tracking_uri: str | None = None) -> EvalModel:
    """Resolve (path, ``runs:/``, ``models:/``), check and build the export's model."""
    path = resolve_model(uri, tracking_uri)
    export = load_export(path)
    try:
        cfg = config_from_tree(export["config"], None, str(path))
        net = build_trained_model(export, cfg)
    except PdfgcError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PdfgcError(f"{path}: the export's weights do not fit a pdfgc model ({first_line[:200]})") from None
    return EvalModel(net, cfg, uri, path)


@dataclass(frozen=True)
class Drivers:
    """The clip driving each factor: lips (its audio), pose, eyes and expression (its frames)."""

    lips: ClipData
    pose: ClipData
    eyes: ClipData
    expression: ClipData

    @classmethod
    def all_from(cls, clip: ClipData) -> Drivers:
        return cls(clip, clip, clip, clip)

    def swapped(self, factor: str, clip: ClipData) -> Drivers:
        """The same drivers with one factor's clip replaced."""
        fields = {name: getattr(self, name) for name in FACTORS}
        fields[factor] = clip
        return Drivers(**fields)

    def n_frames(self) -> int:
        return min(getattr(self, name).n_frames for name in FACTORS)


@torch.no_grad()
def render_clip(model: EvalModel, source: np.ndarray, drivers: Drivers) -> np.ndarray:
    """Frames (N, S, S, 3) uint8 of ``source`` (H, W, 3) driven by ``drivers``; N = the shortest driver."""
    cfg, net, size = model.cfg, model.net, model.image_size
    n = drivers.n_frames()
    portrait = to_tensor(source[None], size)[0]
    windows = audio_windows(drivers.lips.mel[: 4 * n], n, cfg.audio.window_frames)
    lip = gaussian_smooth(batched(net.audio_encoder, windows), LIP_SMOOTH_SIGMA)
    images = {name: to_tensor(getattr(drivers, name).frames[:n], size) for name in ("pose", "eyes", "expression")}
    factors = drive_factors(net, images, cfg.train.stage3.k_frames, n)
    return render(net, portrait, lip, factors)


def resize_frames(frames: np.ndarray, side: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, side, side, 3): area averaging down, bicubic up."""
    if frames.shape[1] == side and frames.shape[2] == side:
        return frames
    interpolation = cv2.INTER_AREA if frames.shape[1] > side else cv2.INTER_CUBIC
    return np.stack([cv2.resize(frame, (side, side), interpolation=interpolation) for frame in frames])


def through_model_resolution(frames: np.ndarray, model_side: int) -> np.ndarray:
    """Real frames as a perfect model of ``model_side`` pixels would draw them, back at their own
    size: the ground-truth ceiling at the model's resolution."""
    return resize_frames(resize_frames(frames, model_side), frames.shape[1])
