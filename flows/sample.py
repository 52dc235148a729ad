"""The bundled sample-set generator, loaded from datasets/ (a recipe folder, not a package)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SAMPLE_GENERATOR = Path(__file__).resolve().parents[1] / "datasets" / "sample" / "generate.py"


@functools.cache
def load_sample_generator() -> ModuleType:
    """``datasets/sample/generate.py`` as a module (``generate_sample_set`` and its helpers)."""
    spec = importlib.util.spec_from_file_location("pdfgc_sample_generator", SAMPLE_GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
