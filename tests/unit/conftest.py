"""Fixtures for the media, preprocessing and reader tests: a 2 s, 256 px cut of a real talking-head clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfgc.config import PdfgcConfig
from tests.helpers.media import cut_clip, tiny_config


@pytest.fixture(scope="session")
def short_clip(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of the first real clip at 256 x 256, 25 fps, AAC 16 kHz."""
    return cut_clip(real_videos[0], tmp_path_factory.mktemp("clips") / "short.mp4")


@pytest.fixture()
def tiny_cfg() -> PdfgcConfig:
    return tiny_config()
