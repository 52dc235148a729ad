"""The library stays plain Python + torch: no orchestration or tracking engine on import."""

import subprocess
import sys

import pytest

CORE_MODULES = ["pdfgc.config", "pdfgc.cli", "pdfgc.media", "pdfgc.preprocess", "pdfgc.labels", "pdfgc.models", "pdfgc.losses",
                "pdfgc.train", "pdfgc.synth", "pdfgc.report", "pdfgc.export", "pdfgc.shardformat", "pdfgc.sample",
                "pdfgc.integrations"]
ENGINES = ("prefect", "dask", "distributed", "mlflow")


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_engine(module):
    code = (
        "import importlib, pkgutil, sys\n"
        f"m = importlib.import_module({module!r})\n"
        "for info in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        f"print(','.join(sorted({{n.split('.')[0] for n in sys.modules}} & set({ENGINES!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} imported {result.stdout.strip()}"
