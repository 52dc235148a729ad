"""``pdfgc config show --explain``: the effective config as YAML with each field's description."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import yaml
from pydantic import BaseModel

INDENT = "  "
COMMENT_WIDTH = 96


def explain_config(cfg: BaseModel) -> str:
    """YAML of ``cfg`` in which every key is preceded by its description as ``#`` comments."""
    return "\n".join(_explain_lines(cfg, depth=0)) + "\n"


def _explain_lines(section: BaseModel, depth: int) -> Iterator[str]:
    indent = INDENT * depth
    for name, field in type(section).model_fields.items():
        value = getattr(section, name)
        for line in textwrap.wrap(" ".join((field.description or "").split()), COMMENT_WIDTH - len(indent)):
            yield f"{indent}# {line}"
        if isinstance(value, BaseModel):
            yield f"{indent}{name}:"
            yield from _explain_lines(value, depth + 1)
        else:
            dumped = yaml.safe_dump({name: section.model_dump(mode="json")[name]}, sort_keys=False).rstrip("\n")
            yield from (indent + line for line in dumped.splitlines())
