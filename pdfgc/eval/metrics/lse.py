"""LSE-D / LSE-C-style lip-sync scores from the pipeline's own sync expert.

SyncNet's definitions (Chung & Zisserman 2016; the ``LSE-D`` / ``LSE-C`` of Wav2Lip), applied to
``pdfgc.models.sync.SyncExpert`` embeddings:

- for every offset ``o`` in ``-max_offset .. max_offset`` (video frames), ``d(o)`` = the mean
  Euclidean distance between the video embedding of window ``t`` and the audio embedding of
  window ``t + o``, over every ``t`` where both windows lie inside the clip;
- ``offset`` = argmin_o d(o) (positive: the audio lags the video by that many frames);
- LSE-D = ``d(offset)`` (lower is better), LSE-C = ``median_o d(o) - min_o d(o)`` (higher is
  better).

The expert's embeddings have unit length, so distances lie in [0, 2]: the numbers rank models
measured with the same expert, but are not on the scale of published SyncNet figures. Unlike
SyncNet, which pads the audio features with zeros at the clip ends, an offset averages only the
pairs that exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pdfgc.errors import InputError
from pdfgc.models.sync import SyncExpert, load_sync_expert, mouth_crops
from pdfgc.train.reader.loader import audio_window

EMBED_BATCH = 256

__all__ = ["SyncScore", "load_expert", "load_sync_expert", "lse_scores", "score_clip", "score_mouths", "sync_embeddings"]


@dataclass(frozen=True)
class SyncScore:
    """One clip's sync scores; ``distances[i]`` is d(offsets[i])."""

    distance: float
    """LSE-D-style: mean embedding distance at the best offset."""
    confidence: float
    """LSE-C-style: median distance over offsets minus the minimum."""
    offset: int
    """Best offset in video frames; positive when the audio lags the video."""
    offsets: list[int]
    distances: list[float]
    windows: int
    """Video windows scored (frames - window + 1)."""

    def to_json(self) -> dict:
        return asdict(self)


def lse_scores(video: torch.Tensor | np.ndarray, audio: torch.Tensor | np.ndarray, max_offset: int = 15) -> SyncScore:
    """Scores of aligned embeddings: ``video[i]`` and ``audio[i]`` belong to the same window.

    Offsets whose shift leaves no pair (|o| >= number of windows) are left out."""
    video_t, audio_t = torch.as_tensor(video, dtype=torch.float64), torch.as_tensor(audio, dtype=torch.float64)
    if video_t.shape != audio_t.shape or video_t.ndim != 2 or len(video_t) == 0:
        raise InputError(f"sync scores need two (N, D) embeddings of the same shape, got "
                         f"{tuple(video_t.shape)} and {tuple(audio_t.shape)}")
    count = len(video_t)
    offsets = [o for o in range(-max_offset, max_offset + 1) if abs(o) < count]
    distances = []
    for o in offsets:
        v = video_t[max(0, -o): count - max(0, o)]
        a = audio_t[max(0, o): count - max(0, -o)]
        distances.append(float(torch.linalg.vector_norm(v - a, dim=1).mean()))
    best = int(np.argmin(distances))
    return SyncScore(distance=distances[best], confidence=float(np.median(distances)) - distances[best],
                     offset=offsets[best], offsets=offsets, distances=distances, windows=count)


@torch.no_grad()
def sync_embeddings(expert: SyncExpert, mouths: torch.Tensor, mel: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(video, audio) embeddings (N, D) of every full window of a clip, N = T - frames + 1.

    Args:
        mouths: (T, C, h, w) mouth crops in [-1, 1] (``pdfgc.models.sync.mouth_crops``).
        mel: (4T, n_mels) log-mel of the same clip (docs/DATA_FORMAT.md alignment rule).
    """
    frames = expert.cfg.frames
    count = len(mouths) - frames + 1
    if count < 1:
        raise InputError(f"a clip of {len(mouths)} frames is shorter than the sync window ({frames} frames)")
    if mel.shape[0] < 4 * len(mouths):
        raise InputError(f"{mel.shape[0]} mel rows for {len(mouths)} frames: expected {4 * len(mouths)}")
    device = next(expert.parameters()).device
    half = frames // 2
    windows = torch.stack([mouths[i: i + frames] for i in range(count)])  # (N, frames, C, h, w)
    mels = torch.from_numpy(np.stack([audio_window(mel, i + half, frames) for i in range(count)]))
    video = [expert.embed_video(chunk.to(device)) for chunk in windows.split(EMBED_BATCH)]
    audio = [expert.embed_audio(chunk.to(device)) for chunk in mels.split(EMBED_BATCH)]
    return torch.cat(video).cpu(), torch.cat(audio).cpu()


def score_mouths(expert: SyncExpert, mouths: torch.Tensor, mel: np.ndarray, max_offset: int | None = None) -> SyncScore:
    """Scores of one clip from its mouth crops (T, C, h, w) in [-1, 1] and log-mel (4T, n_mels)."""
    expert.eval()
    video, audio = sync_embeddings(expert, mouths, mel)
    return lse_scores(video, audio, expert.cfg.max_offset if max_offset is None else max_offset)


def score_clip(expert: SyncExpert, frames: torch.Tensor, mel: np.ndarray, max_offset: int | None = None) -> SyncScore:
    """Scores of one clip from aligned face crops (T, 3, H, W) in [-1, 1] (real or generated,
    any size: the mouth region is cut and resized the way training did) and its log-mel (4T, n_mels)."""
    return score_mouths(expert, mouth_crops(frames, expert.cfg), mel, max_offset)


def load_expert(model: str | Path, tracking_uri: str | None = None, device: str | torch.device = "cpu") -> SyncExpert:
    """``load_sync_expert`` on ``device``, in eval mode."""
    return load_sync_expert(model, tracking_uri).to(device).eval()
