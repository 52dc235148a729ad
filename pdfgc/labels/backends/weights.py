"""Locate licensed model files and explain how to get them when they are missing."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from pdfgc.errors import MissingWeightsError

_logger = logging.getLogger(__name__)


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``), without importing torch."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    torch_home = os.environ.get("TORCH_HOME") or cache / "torch"
    return Path(torch_home) / "hub" / "checkpoints"


def require_file(backend: str, filename: str, search_dirs: list[Path | str | None], how_to_get: str) -> Path:
    """The first ``dir/filename`` that exists, else MissingWeightsError naming all places tried."""
    tried = [Path(d) / filename for d in search_dirs if d]
    for path in tried:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p in tried) or "nowhere: labels.weights_dir is not set"
    raise MissingWeightsError(f"{backend} backend: model file {filename} not found (looked in {where}); {how_to_get}")


def require_package(backend: str, module: str, pip_name: str) -> ModuleType:
    """Import an optional package lazily, or say which one to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingWeightsError(
            f"{backend} backend needs the python package '{pip_name}' (import {module} failed: {exc}); "
            f"install it with: pip install {pip_name}"
        ) from None


def load_weights_only(net: Any, path: Path, nested_key: str, device: str) -> Any:
    """Load a release checkpoint into ``net`` without unpickling objects; the state dict may sit
    under ``nested_key`` (as the releases save it) or at the top level."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state.get(nested_key, state))
    return net.eval().to(device)
