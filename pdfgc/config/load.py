"""Loading a config: a preset or YAML file (with an optional ``base``), ``key.path=value``
overrides, one validation, one-line errors that name the bad key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pdfgc.config.tree import PdfgcConfig
from pdfgc.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PRESETS = ("tiny", "paper")
RENAMED_KEYS = {"data.crop_size": "data.shard_crop_size", "model.image_size": "model.net_image_size"}
"""Keys of earlier versions -> their names now; a config that still uses one is refused."""


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _resolve_source(source: str | Path) -> Path:
    if str(source) in PRESETS:
        return CONFIG_DIR / f"{source}.yaml"
    return Path(source)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def _apply_override(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {'.'.join(path)}: {part} is not a section")
    node[path[-1]] = value


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{where}'{_allowed_keys(err['loc'])}")
        else:
            lines.append(f"config key '{where}': {err['msg']}")
    return "; ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: Any = PdfgcConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    return f" (allowed: {', '.join(model.model_fields)})"


def load_config(source: str | Path = "paper", overrides: list[str] | None = None) -> PdfgcConfig:
    """Load a preset name or YAML path, apply ``key.path=value`` overrides and validate.

    Examples
    --------
    >>> cfg = load_config("tiny", ["data.fps=25", "train.stage1.steps=3"])
    >>> cfg.train.stage1.steps
    3
    """
    path = _resolve_source(source)
    tree = _read_yaml(path)
    base = tree.pop("base", None)
    if base is not None:
        tree = _deep_merge(_read_yaml(_resolve_source(base)), tree)
    return config_from_tree(tree, overrides, origin=str(path))


def config_from_tree(tree: dict[str, Any], overrides: list[str] | None = None, origin: str = "config") -> PdfgcConfig:
    """Apply ``key.path=value`` overrides to a plain config tree (e.g. the one a checkpoint
    stores) and validate it; errors name ``origin``."""
    tree = copy.deepcopy(tree)
    for item in overrides or []:
        keys, value = _parse_override(item)
        _apply_override(tree, keys, value)
    _refuse_renamed_keys(tree, origin)
    try:
        return PdfgcConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_format_error(exc)}") from None


def _refuse_renamed_keys(tree: dict[str, Any], origin: str) -> None:
    for old, new in RENAMED_KEYS.items():
        section, key = old.split(".")
        if isinstance(tree.get(section), dict) and key in tree[section]:
            raise ConfigError(f"{origin}: config key '{old}' is now '{new}'")


def save_config(cfg: PdfgcConfig, path: Path) -> Path:
    """Write the resolved config atomically (every rank of a job reads this one file)."""
    from pdfgc.io import atomic_write_text

    atomic_write_text(path, cfg.to_yaml())
    return path
