"""Batch decoding: planned samples -> the stage's batch tensors, decoding only the planned frames.

Images travel as uint8 (3, S, S) tensors, 4 times lighter than float32 through the batch and
the copy to the device; ``batch_to_device`` moves a batch and turns every uint8 tensor (an
image, by this module's contract) into float in [-1, 1] there. At the paper preset (nine 224 px
frames per stage-1 sample) float32 frames made the loader 2.4 times slower than the tar read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pdfgc.config import PdfgcConfig
from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.media.image_header import JPEG_MAGIC, check_pixels, image_size
from pdfgc.train.reader.plan import LABEL_NAMES, FramePlan, sample_array
from pdfgc.train.reader.sync_plan import sync_mel_windows

MEL_ROWS_PER_FRAME = 4
REDUCED_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                        8: cv2.IMREAD_REDUCED_COLOR_8}
"""libjpeg scales in the DCT domain: decoding a 224 crop for a 64 model reads it at 112 (2x less work)."""

ImageSource = Callable[[FramePlan], "int | tuple[int, ...]"]
STAGE_IMAGES: dict[str, dict[str, ImageSource]] = {
    "critic": {"image": attrgetter("driver")},
    "1": {"driver": attrgetter("driver"), "app_frames": attrgetter("others")},
    "2": {"frames": attrgetter("driver"), "frames2": lambda plan: plan.others[0]},
    "3": {"driver": attrgetter("driver"), "app_frames": attrgetter("others"), "window": attrgetter("window")},
    "sync": {"window": attrgetter("window")},
}
"""Each stage's image keys and the plan's frame (3, S, S) or frames (K, 3, S, S) behind them."""


class BatchDecoder:
    """Collation of planned samples: decodes only their planned frames and labels into the
    stage's batch tensors.

    Frames are written straight into their place in the batch: one write per frame, where
    decoding per sample and then stacking wrote every 224 px frame twice. In a DataLoader worker
    the batch is allocated in shared memory (as torch's ``default_collate`` does), so it reaches
    the main process without another copy."""

    def __init__(self, stage: str, cfg: PdfgcConfig) -> None:
        self.stage = stage
        self.size = cfg.model.net_image_size
        self.window_frames = cfg.audio.window_frames
        self.max_pixels = cfg.limits.max_image_pixels
        self.sync_frames = cfg.sync.frames

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        plans: list[FramePlan] = [s["__plan__"] for s in samples]
        readers = [_FrameReader(s, sample_array(s, "frame_offsets"), self.size, self.max_pixels) for s in samples]
        batch: dict[str, Any] = {"key": [s["__key__"] for s in samples]}
        for name, source in STAGE_IMAGES[self.stage].items():
            batch[name] = self._images([source(plan) for plan in plans], readers)
        extras = [self._sample_tensors(s, plan, reader.scale)  # known once a frame is decoded
                  for s, plan, reader in zip(samples, plans, readers, strict=True)]
        for name in extras[0]:
            values = [e[name] for e in extras]
            batch[name] = torch.stack(values, out=batch_buffer((len(values), *values[0].shape), values[0].dtype))
        return batch

    def _images(self, frames: list[int | tuple[int, ...]], readers: list[_FrameReader]) -> torch.Tensor:
        per_sample = () if isinstance(frames[0], int) else (len(frames[0]),)
        out = batch_buffer((len(frames), *per_sample, 3, self.size, self.size), torch.uint8)
        for b, (indices, reader) in enumerate(zip(frames, readers, strict=True)):
            single = isinstance(indices, int)
            write_model_images(reader.decode((indices,) if single else indices), out[b : b + 1] if single else out[b])
        return out

    def _sample_tensors(self, sample: dict[str, Any], plan: FramePlan, scale: float) -> dict[str, torch.Tensor]:
        labels = {name: sample_array(sample, name) for name in LABEL_NAMES}
        out = {name: torch.from_numpy(labels[name][plan.driver].astype(np.float32)) for name in LABEL_NAMES}
        out["landmarks"] = out["landmarks"] * scale  # (68, 2) in S pixels
        if self.stage == "2":
            out["landmarks2"] = torch.from_numpy(labels["landmarks"][plan.others[0]].astype(np.float32)) * scale
        if self.stage in ("2", "3"):
            mel = sample_array(sample, "mel")
            out["mel"] = self._mel_window(mel, plan.driver)
        if self.stage == "sync":
            out.update(sync_mel_windows(sample_array(sample, "mel"), plan.driver, plan.others, self.sync_frames,
                                        audio_window))
        if self.stage == "3":
            out["mel_window"] = torch.stack([self._mel_window(mel, t) for t in plan.window])
        return out

    def _mel_window(self, mel: np.ndarray, t: int) -> torch.Tensor:
        return torch.from_numpy(audio_window(mel, t, self.window_frames))


def batch_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised batch tensor; in shared memory inside a DataLoader worker."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


def audio_window(mel: np.ndarray, t: int, window_frames: int) -> np.ndarray:
    """Rows ``[4 (t - w//2), 4 (t - w//2 + w))`` of a (4T, 80) log-mel, zero-padded beyond the
    chunk (docs/DATA_FORMAT.md alignment rule), as float32 (1, 80, 4w)."""
    first = MEL_ROWS_PER_FRAME * (t - window_frames // 2)
    rows = MEL_ROWS_PER_FRAME * window_frames
    out = np.zeros((rows, mel.shape[1]), dtype=np.float32)
    lo, hi = max(first, 0), min(first + rows, mel.shape[0])
    if hi > lo:
        out[lo - first : hi - first] = mel[lo:hi]
    return out.T[None]  # (1, 80, 20)


class _FrameReader:
    """Decodes single JPEG/WebP frames out of ``frames.mjpeg`` on demand, each once per sample."""

    def __init__(self, sample: dict[str, Any], offsets: np.ndarray, size: int, max_pixels: int) -> None:
        self.blob, self.offsets, self.size, self.max_pixels = sample["frames.mjpeg"], offsets, size, max_pixels
        self.where = f"{sample.get('__url__')}: {sample.get('__key__')}.frames.mjpeg"
        self.cache: dict[int, np.ndarray] = {}
        self.width = 0

    def decode(self, indices: tuple[int, ...]) -> list[np.ndarray]:
        """Frames as BGR uint8 (H, W, 3), as cv2 decodes them."""
        for t in indices:
            if t not in self.cache:
                self.cache[t] = self._decode(t)
        return [self.cache[t] for t in indices]

    @property
    def scale(self) -> float:
        """Model pixels per crop pixel (the frames' stored width, not their decoded one)."""
        return self.size / self.width

    def _decode(self, t: int) -> np.ndarray:
        """Frame ``t``, JPEG scaled down in the DCT domain where that still leaves at least the
        model size."""
        frame = self.blob[self.offsets[t] : self.offsets[t + 1]]
        width, _ = check_pixels(frame, self.max_pixels, f"{self.where}: frame {t}", UnsafeShardError)
        encoded = np.frombuffer(frame, dtype=np.uint8)
        factor = reduction_factor(width, self.size) if frame[:2] == JPEG_MAGIC else 1
        bgr = cv2.imdecode(encoded, REDUCED_DECODE_FLAGS[factor])
        if bgr is None:
            raise InputError(f"{self.where}: frame {t} is not a decodable image")
        self.width = width
        return bgr


def batch_to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to ``device``; uint8 ones (images in [0, 255]) become float in [-1, 1] there."""
    return {k: _value_to_device(v, device) for k, v in batch.items()}


def _value_to_device(value: Any, device: torch.device) -> Any:
    if not torch.is_tensor(value):
        return value
    value = value.to(device, non_blocking=True)
    return value.float().div_(127.5).sub_(1.0) if value.dtype == torch.uint8 else value


def write_model_images(frames: list[np.ndarray], out: torch.Tensor) -> None:
    """BGR uint8 (H, W, 3) frames, as cv2 decodes them -> ``out[i]``, RGB uint8 (3, S, S)
    (``batch_to_device`` scales them).

    A frame at the model size is split into its planes in reverse order, straight into ``out``
    (BGR -> RGB and channels-first in one pass, 4 times cheaper than converting and
    transposing). Other frames get the antialiased bilinear resize that synthesis applies to its
    crops (``pdfgc.synth.synthesize.to_tensor``), once per frame shape on channels-last data."""
    size = out.shape[-1]
    planes = out.numpy()
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        if frame.shape[:2] == (size, size):
            cv2.split(frame, [planes[i, 2], planes[i, 1], planes[i, 0]])
        else:
            by_shape.setdefault(frame.shape, []).append(i)
    for where in by_shape.values():
        rgb = np.stack([cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in where])
        images = torch.from_numpy(rgb).permute(0, 3, 1, 2)  # (N, 3, H, W)
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        for i, image in zip(where, images, strict=True):
            out[i].copy_(image)


def reduction_factor(side: int, size: int) -> int:
    """The largest JPEG decode reduction (1, 2, 4, 8) that still leaves at least ``size`` pixels."""
    return max(f for f in REDUCED_DECODE_FLAGS if side // f >= size or f == 1)


def jpeg_width(encoded: np.ndarray) -> int | None:
    """Width from a baseline/progressive JPEG's SOF header without decoding; None for other
    formats (WebP) or an unreadable header, which are then decoded at full size."""
    data = encoded.tobytes()
    size = image_size(data) if data[:2] == JPEG_MAGIC else None
    return size[0] if size else None
