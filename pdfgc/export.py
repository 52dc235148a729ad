"""The stage export (``export.pt``): what one training stage hands the next stage and synthesis.

``{"format": EXPORT_FORMAT, "stage", "config", "model": PDFGC state dict, "critic": critic
state or None, "step"}``, read with ``torch.load(weights_only=True)`` so that a foreign file
cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pdfgc.errors import InputError
from pdfgc.storage import fetch_file, is_remote

EXPORT_FORMAT = "pdfgc-export/1"
EXPORT_NAME = "export.pt"
"""File name of a stage's export in its run folder and among a registered model's artifacts."""


def load_export(path: Path | str) -> dict[str, Any]:
    """A stage export (tensors and plain values only; a local path or an fsspec URL, fetched
    first); InputError naming the file when it is missing, not loadable without unpickling
    objects, or of another format."""
    path = fetch_file(str(path)) if is_remote(path) else Path(path)
    if not path.is_file():
        raise InputError(f"{path}: stage export not found")
    try:
        export = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which and why, no traceback
        raise InputError(f"{path}: not a loadable pdfgc export ({type(exc).__name__}: {exc})") from None
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path}: not a pdfgc export (expected format {EXPORT_FORMAT})")
    return export
