"""Every config field says what it is, ``--explain`` shows it, and renamed keys name their new key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from pydantic import BaseModel

from pdfgc.cli import main
from pdfgc.config import RENAMED_KEYS, PdfgcConfig, explain_config, load_config
from pdfgc.errors import ConfigError


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, object]]:
    for name, field in model.model_fields.items():
        yield prefix + name, field
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _fields(field.annotation, f"{prefix}{name}.")


def test_every_config_field_has_a_description() -> None:
    fields = dict(_fields(PdfgcConfig))
    missing = [name for name, field in fields.items() if not (field.description or "").strip()]
    assert len(fields) > 100 and missing == []


def test_explain_is_the_same_yaml_with_descriptions_as_comments() -> None:
    cfg = load_config("tiny", ["train.seed=5"])
    text = explain_config(cfg)
    assert yaml.safe_load(text) == cfg.model_dump(mode="json")
    lines = text.splitlines()
    key_line = lines.index("  net_image_size: 64")
    assert lines[key_line - 1].startswith("  # ") and "networks read and draw" in " ".join(lines[key_line - 3 : key_line])


def test_config_show_explain_prints_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", "tiny", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "# Side in pixels of the aligned face crops" in out and "shard_crop_size: 224" in out


@pytest.mark.parametrize("old", sorted(RENAMED_KEYS))
def test_an_old_key_is_one_line_naming_the_new_key(old: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("tiny", [f"{old}=64"])
    assert str(info.value).count("\n") == 0 and f"'{old}' is now '{RENAMED_KEYS[old]}'" in str(info.value)


def test_an_old_key_in_a_yaml_file_is_refused(tmp_path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("base: tiny\ndata:\n  crop_size: 128\n")
    with pytest.raises(ConfigError, match=r"old\.yaml: config key 'data\.crop_size' is now 'data\.shard_crop_size'"):
        load_config(path)
