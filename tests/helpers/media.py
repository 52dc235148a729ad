"""Make small test videos with the ffmpeg binary (from the real sample clips, in tmp folders),
and the small config that fits them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pdfgc.config import PdfgcConfig, load_config

FAST_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def cut_clip(source: Path, target: Path, seconds: float = 2.0, size: str = "256:256", start: float = 0.0) -> Path:
    """A short H.264 + AAC copy of ``source`` scaled to ``size``."""
    ffmpeg("-ss", str(start), "-i", str(source), "-t", str(seconds), "-vf", f"scale={size}", *FAST_H264,
           "-c:a", "aac", "-ar", "16000", str(target))
    return target


def tiny_config() -> PdfgcConfig:
    """The tiny preset with 1 s chunks and 128 px crops, so a 2 s clip gives two small samples."""
    return load_config("tiny", ["data.chunk_frames=25", "data.shard_crop_size=128"])
