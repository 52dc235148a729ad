"""The bundled sample-set generator, ``pdfgc.sample.generate`` in the installed package."""

from __future__ import annotations

import importlib
from types import ModuleType


def load_sample_generator() -> ModuleType:
    """``pdfgc.sample.generate`` as a module (``generate_sample_set`` and its helpers)."""
    return importlib.import_module("pdfgc.sample.generate")
