"""Shared fixtures: real footage from ../shared/samples and the generated sample set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLES = Path(os.environ.get("PDFGC_SHARED_SAMPLES", REPO_ROOT.parent / "shared" / "samples"))

os.environ.setdefault("WDS_SECURE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Small tensors on 2 cores: one intra-op thread is several times faster than oversubscribing.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """Real talking-head clips and portraits: ../shared/samples (the offline mirror) or, on a
    plain clone, the same pinned files downloaded once into ~/.cache/pdfgc/samples."""
    from tests.helpers.media_sources import MediaUnavailable, find_samples

    try:
        return find_samples(SHARED_SAMPLES)
    except MediaUnavailable as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def real_videos(shared_samples: Path) -> list[Path]:
    return sorted((shared_samples / "videos").glob("*.mp4"))


@pytest.fixture(scope="session")
def real_portraits(shared_samples: Path) -> list[Path]:
    return sorted((shared_samples / "images").glob("*.png"))
