"""Frames and audio windows of the ``sync`` stage (the sync expert, ``pdfgc.models.sync``).

A sample contributes one window of ``sync.frames`` consecutive usable frames centred on ``t``,
the audio window of ``t`` (in sync) and ``sync.shifted_negatives`` audio windows of the same
chunk centred at least ``sync.min_shift`` frames away (off sync). Off-sync centres are drawn
where their whole window lies inside the chunk when there are such centres; otherwise anywhere
in the chunk (the window is zero-padded beyond it, as for every audio window).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pdfgc.config import SyncConfig


def plan_sync_window(face_ok: np.ndarray, rng: np.random.Generator, cfg: SyncConfig) -> tuple[int, tuple[int, ...], tuple[int, ...]] | None:
    """(centre t, off-sync centres, window frames), or None when no full window of usable frames exists."""
    half, length = cfg.frames // 2, face_ok.size
    centres = [t for t in range(half, length - (cfg.frames - half) + 1)
               if face_ok[t - half: t - half + cfg.frames].all()]
    if not centres:
        return None
    t = int(rng.choice(centres))
    shifted = _shifted_centres(t, length, rng, cfg)
    if shifted is None:
        return None
    return t, shifted, tuple(range(t - half, t - half + cfg.frames))


def _shifted_centres(t: int, length: int, rng: np.random.Generator, cfg: SyncConfig) -> tuple[int, ...] | None:
    if cfg.shifted_negatives == 0:
        return ()
    half = cfg.frames // 2
    far = np.array([c for c in range(length) if abs(c - t) >= cfg.min_shift])
    inside = far[(far >= half) & (far < length - (cfg.frames - half) + 1)] if far.size else far
    pool = inside if inside.size else far
    if not pool.size:
        return None
    picks = rng.choice(pool, size=cfg.shifted_negatives, replace=pool.size < cfg.shifted_negatives)
    return tuple(int(c) for c in picks)


WindowFn = Callable[[np.ndarray, int, int], np.ndarray]
"""(mel, centre frame, frames) -> (1, n_mels, 4 frames) float32: the loader's ``audio_window``."""


def sync_mel_windows(mel: np.ndarray, t: int, shifted: tuple[int, ...], window_frames: int,
                     window_fn: WindowFn) -> dict[str, torch.Tensor]:
    """``mel`` (1, n_mels, 4w) at ``t`` and ``mel_shifted`` (K, 1, n_mels, 4w) at the off-sync centres."""
    in_sync = torch.from_numpy(window_fn(mel, t, window_frames))
    off = [torch.from_numpy(window_fn(mel, c, window_frames)) for c in shifted]
    return {"mel": in_sync, "mel_shifted": torch.stack(off) if off else in_sync.new_zeros((0, *in_sync.shape))}
