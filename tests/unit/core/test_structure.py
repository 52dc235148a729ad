"""The shape of the library: imports only run down the layers, rooms stay small, functions take
few parameters, and every file a docstring or comment names is in the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE = REPO_ROOT / "pdfgc"
MAX_LINES = 500
MAX_PARAMETERS = 8

LAYERS = (
    ("config", "errors", "io", "stages", "shardformat", "export", "procs", "telemetry", "console", "storage"),
    ("media", "labels", "sample", "integrations"),
    ("models", "losses"),
    ("preprocess", "train", "synth", "eval", "curate", "retrain", "report", "infra"),
    ("cli", "ops_cli", "__init__", "__main__"),
)
"""Rooms of ``pdfgc/`` from the bottom up: a module may import from its own layer and the ones
below it, never from a layer above. ``integrations`` (adapters to MLflow) depend on the core
only, so training and synthesis can use them. A room is a subpackage or a top-level module."""
LAYER_OF = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}

FILE_REFERENCE = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.(?:md|py)\b")
OUTSIDE_REFERENCE = re.compile(r"\.\./shared|/work/")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _room(module: str) -> str:
    """``pdfgc.train.loop`` -> ``train``; ``pdfgc.config`` -> ``config``; ``pdfgc`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every absolute ``pdfgc`` import, at module level or inside a function."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name == "pdfgc" or name.startswith("pdfgc.")]


def test_every_room_has_a_layer() -> None:
    rooms = {_room(_module_name(path)) for path in _modules()}
    assert sorted(rooms - set(LAYER_OF)) == []


def test_no_module_imports_from_a_layer_above() -> None:
    upward = []
    for path in _modules():
        room = _room(_module_name(path))
        for imported in _imported_modules(ast.parse(path.read_text())):
            target = _room(imported)
            if LAYER_OF.get(target, -1) > LAYER_OF.get(room, len(LAYERS)):
                upward.append(f"{path.relative_to(REPO_ROOT)} ({room}) imports {imported} ({target})")
    assert upward == []


def test_no_file_is_over_the_line_limit() -> None:
    long = {str(p.relative_to(REPO_ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def _parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    named = [a for a in named if a.arg not in ("self", "cls")]
    return len(named) + (args.vararg is not None) + (args.kwarg is not None)


def test_no_function_takes_more_than_eight_parameters() -> None:
    wide = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _parameter_count(node) > MAX_PARAMETERS:
                wide.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name} ({_parameter_count(node)})")
    assert wide == []


def _reference_exists(reference: str, path: Path) -> bool:
    """A path relative to the repository, the package or the citing file; a bare file name
    anywhere in the repository."""
    candidates = (REPO_ROOT / reference, PACKAGE / reference, path.parent / reference)
    if any(candidate.is_file() for candidate in candidates):
        return True
    return "/" not in reference and any(REPO_ROOT.glob(f"**/{reference}"))


def test_no_reference_to_a_file_outside_the_repository() -> None:
    dangling = []
    for path in _modules():
        text = path.read_text()
        where = path.relative_to(REPO_ROOT)
        dangling += [f"{where}: {ref}" for ref in FILE_REFERENCE.findall(text) if not _reference_exists(ref, path)]
        dangling += [f"{where}: {ref}" for ref in OUTSIDE_REFERENCE.findall(text)]
    assert dangling == []


@pytest.mark.parametrize("reference, exists", [("docs/LABELS.md", True), ("PDFGC.md", False), ("train/loop.py", True)])
def test_reference_check_tells_present_from_absent(reference: str, exists: bool) -> None:
    assert _reference_exists(reference, PACKAGE / "cli.py") is exists
