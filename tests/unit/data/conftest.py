"""Fixtures for the preprocessing tests: a 2 s, 256 px cut of a real talking-head clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfgc.config import PdfgcConfig, load_config
from tests.unit.data.media import cut_clip


@pytest.fixture(scope="session")
def short_clip(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of the first real clip at 256 x 256, 25 fps, AAC 16 kHz."""
    return cut_clip(real_videos[0], tmp_path_factory.mktemp("clips") / "short.mp4")


def tiny_config() -> PdfgcConfig:
    """The tiny preset with 1 s chunks and 128 px crops, so a 2 s clip gives two small samples."""
    return load_config("tiny", ["data.chunk_frames=25", "data.crop_size=128"])


@pytest.fixture()
def tiny_cfg() -> PdfgcConfig:
    return tiny_config()
