"""Synthesis: one portrait + audio (+ pose, eye and expression driver videos) -> an mp4.

Source portrait -> ``E_app``. Audio -> log-mel windows -> ``E_aud`` -> lip features (smoothed
over time). Each driver video -> aligned crops -> ``E_mot`` -> its own head (pose averaged over
3 frames, expression averaged over the stage-3 window). A factor without a driver comes from
the portrait itself, held still. ``G`` draws each frame; ffmpeg muxes frames and the audio.

Driver videos are read whole into memory as aligned crops (N x S x S x 3 bytes), which suits
clips of seconds to a few minutes.
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pdfgc.config import DataConfig, ModelConfig, config_from_tree, load_config
from pdfgc.media.align import chunk_transform, warp_crop
from pdfgc.media.audio import log_mel
from pdfgc.media.decode import decode_audio, iter_frames
from pdfgc.media.image import read_image
from pdfgc.media.probe import probe_video
from pdfgc.media.track import FaceTracker
from pdfgc.errors import InputError, PdfgcError
from pdfgc.export import load_export
from pdfgc.io import atomic_path
from pdfgc.labels.base import FaceLandmarker
from pdfgc.labels.registry import build_landmarker
from pdfgc.losses.decorrelation import window_average
from pdfgc.models import PDFGC, build_model
from pdfgc.storage import fetch_file, is_remote

_logger = logging.getLogger(__name__)
BATCH = 16
POSE_SMOOTH_FRAMES = 3
LIP_SMOOTH_SIGMA = 1.0


@dataclass(frozen=True)
class SynthesisInputs:
    portrait: Path
    audio: Path
    """Any file with a sound track (wav, mp3, mp4...)."""
    pose: Path | None = None
    eyes: Path | None = None
    expression: Path | None = None


@dataclass(frozen=True)
class FactorGains:
    """Feature gains at synthesis; the release used lip 1.5, eye 1.2, expression 1.2 for its model."""

    lip: float = 1.0
    eye: float = 1.0
    expression: float = 1.0

TRACKER_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:")
"""Model URIs that MLflow resolves; other URLs of a ``.pt`` file are read with fsspec."""


def resolve_model(model: str | Path, tracking_uri: str | None) -> Path:
    """A local export path, a ``models:/`` / ``runs:/`` / ``mlflow-artifacts:`` URI downloaded
    from the tracker, or the URL of an export on object storage (``s3://.../export.pt``)."""
    text = str(model)
    if text.startswith(TRACKER_SCHEMES):
        from pdfgc.integrations.model_uri import download_export

        return download_export(text, tracking_uri)
    if text.endswith(".pt") and is_remote(text):
        return fetch_file(text)
    if "://" in text:
        from pdfgc.integrations.model_uri import download_export

        return download_export(text, tracking_uri)
    return Path(text)


def build_trained_model(export: dict, cfg: ModelConfig) -> PDFGC:
    model = build_model(cfg)
    model.load_state_dict(export["model"])
    return model.eval()


def aligned_crops(frames: list[np.ndarray], landmarker: FaceLandmarker, cfg: DataConfig, source: Path) -> np.ndarray:
    """Crops (N, S, S, 3) with one transform per clip, found as in preprocessing (detect every
    ``data.detect_every`` frames, landmark tracking in between)."""
    tracker = FaceTracker(landmarker, cfg.detect_every, cfg.max_faces)
    points = [tracker.step(frame).landmarks for frame in frames]
    found = np.array([p is not None for p in points])
    if not found.any():
        raise InputError(f"{source}: no face found")
    landmarks = np.stack([p if p is not None else np.zeros((68, 2), np.float32) for p in points])  # (N, 68, 2)
    matrix = chunk_transform(landmarks, found, cfg.shard_crop_size, cfg.alignment, cfg.box_scale)
    return np.stack([warp_crop(frame, matrix, cfg.shard_crop_size) for frame in frames])


def video_crops(path: Path, n_frames: int, landmarker: FaceLandmarker, cfg: DataConfig) -> np.ndarray:
    """The first ``n_frames`` aligned crops of a driver video; the last frame is held if it is shorter."""
    info = probe_video(str(path))
    frames = []
    for frame in iter_frames(str(path), info, cfg.fps, cfg.max_decode_side):
        frames.append(frame)
        if len(frames) == n_frames:
            break
    crops = aligned_crops(frames, landmarker, cfg, path)
    if len(crops) < n_frames:
        crops = np.concatenate([crops, np.repeat(crops[-1:], n_frames - len(crops), axis=0)])
    return crops


def to_tensor(crops: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size) in [-1, 1]."""
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return images


def audio_windows(mel: np.ndarray, n_frames: int, window_frames: int) -> torch.Tensor:
    """(N, 1, n_mels, 4 * window_frames): the centred window of each frame, zero-padded at the ends."""
    rows = 4 * window_frames
    pad = 4 * (window_frames // 2)
    padded = np.pad(mel, ((pad, rows), (0, 0)))
    windows = np.stack([padded[4 * t: 4 * t + rows] for t in range(n_frames)])  # (N, rows, n_mels)
    return torch.from_numpy(windows).float().transpose(1, 2).unsqueeze(1)


def gaussian_smooth(features: torch.Tensor, sigma: float) -> torch.Tensor:
    """Smooth (N, D) along time with a 3-tap Gaussian (the release's k=3, sigma=1)."""
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0]) / (2 * sigma**2))
    taps = (taps / taps.sum()).view(1, 1, 3).repeat(features.shape[1], 1, 1)
    padded = F.pad(features.T.unsqueeze(0), (1, 1), mode="replicate")
    return F.conv1d(padded, taps, groups=features.shape[1])[0].T


def moving_average(features: torch.Tensor, frames: int) -> torch.Tensor:
    padded = F.pad(features.T.unsqueeze(0), (frames // 2, frames - 1 - frames // 2), mode="replicate")
    return F.avg_pool1d(padded, frames, stride=1)[0].T


def batched(fn, tensor: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(tensor[i: i + BATCH]) for i in range(0, len(tensor), BATCH)])


@torch.no_grad()
def drive_factors(model: PDFGC, images: dict[str, torch.Tensor], window: int, n_frames: int) -> dict[str, torch.Tensor]:
    """Pose, eye and expression features (N, D) from each factor's driver crops (N or 1, 3, S, S);
    a single still image is encoded once and held for all N frames."""
    motion = {name: batched(model.motion_encoder, imgs) for name, imgs in images.items()}
    exp_frames = model.exp_head(motion["expression"])  # (N, exp_dim)
    half = window // 2
    padded = F.pad(exp_frames.T.unsqueeze(0), (half, window - 1 - half), mode="replicate")[0].T
    exp_windows = padded.unfold(0, window, 1).permute(0, 2, 1)  # (N, window, exp_dim)
    factors = {
        "pose": moving_average(model.pose_head(motion["pose"]), POSE_SMOOTH_FRAMES),
        "eye": model.eye_head(motion["eyes"]),
        "exp": window_average(exp_windows),
    }
    return {name: value.expand(n_frames, -1) if len(value) == 1 else value for name, value in factors.items()}


@torch.no_grad()
def render(model: PDFGC, portrait: torch.Tensor, lip: torch.Tensor, factors: dict[str, torch.Tensor]) -> np.ndarray:
    """Frames (N, S, S, 3) uint8."""
    app = model.app_encoder(portrait.unsqueeze(0).unsqueeze(0))  # K = 1 frame
    frames = []
    for start in range(0, len(lip), BATCH):
        stop = min(start + BATCH, len(lip))
        app_batch = type(app)(*(t.expand(stop - start, *t.shape[1:]) for t in app))
        image = model.generator(app_batch, lip[start:stop], factors["pose"][start:stop],
                                factors["eye"][start:stop], factors["exp"][start:stop])
        frames.append(((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(frames)


def write_mp4(frames: np.ndarray, audio: Path, fps: int, out: Path) -> Path:
    """H.264 + AAC mp4 (atomic: the file appears only when ffmpeg succeeded)."""
    height, width = frames.shape[1:3]
    with atomic_path(out) as tmp:
        command = [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-i", str(audio), "-map", "0:v:0",
            "-map", "1:a:0", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            "-f", "mp4", str(tmp),
        ]
        result = subprocess.run(command, input=frames.tobytes(), capture_output=True)
        if result.returncode != 0:
            raise PdfgcError(f"{out}: ffmpeg failed ({result.stderr.decode(errors='replace')[-300:]})")
    return out


def synthesize(
    model: str | Path,
    inputs: SynthesisInputs,
    out: Path,
    config_source: str | None = None,
    overrides: list[str] | None = None,
    gains: FactorGains = FactorGains(),
    tracking_uri: str | None = None,
) -> Path:
    """Render ``out`` (mp4) with the trained model; returns its path."""
    path = resolve_model(model, tracking_uri)
    export = load_export(path)
    cfg = load_config(config_source, overrides) if config_source else config_from_tree(export["config"], overrides, str(path))
    net = build_trained_model(export, cfg.model)
    landmarker = build_landmarker(cfg.labels)
    size = cfg.model.net_image_size
    portrait_crop = aligned_crops([read_image(inputs.portrait, cfg.limits.max_image_pixels)], landmarker, cfg.data,
                                  inputs.portrait)
    portrait = to_tensor(portrait_crop, size)[0]
    wave = decode_audio(str(inputs.audio), cfg.audio.sample_rate)
    n_frames = max(1, math.ceil(len(wave) / cfg.audio.sample_rate * cfg.data.fps))
    mel = log_mel(wave, n_frames, cfg.audio, cfg.data.fps)
    with torch.no_grad():
        lip = batched(net.audio_encoder, audio_windows(mel, n_frames, cfg.audio.window_frames))
    lip = gaussian_smooth(lip, LIP_SMOOTH_SIGMA) * gains.lip
    drivers = {
        name: to_tensor(video_crops(path, n_frames, landmarker, cfg.data), size) if path else portrait.unsqueeze(0)
        for name, path in (("pose", inputs.pose), ("eyes", inputs.eyes), ("expression", inputs.expression))
    }
    factors = drive_factors(net, drivers, cfg.train.stage3.k_frames, n_frames)
    factors["eye"] = factors["eye"] * gains.eye
    factors["exp"] = factors["exp"] * gains.expression
    frames = render(net, portrait, lip, factors)
    _logger.info("rendered %d frames at %dx%d", len(frames), size, size)
    return write_mp4(frames, inputs.audio, cfg.data.fps, Path(out))
