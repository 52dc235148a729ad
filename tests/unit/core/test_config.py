from pathlib import Path

import pytest

from pdfgc.config import PdfgcConfig, load_config, save_config
from pdfgc.errors import ConfigError


def test_tiny_inherits_paper_and_overrides_sizes():
    paper, tiny = load_config("paper"), load_config("tiny")
    assert paper.model.net_image_size == 224 and tiny.model.net_image_size == 64
    assert tiny.audio == paper.audio  # tiny changes only what differs
    assert tiny.train.nproc_per_node == 2


def test_set_override_is_typed_and_nested():
    cfg = load_config("tiny", ["train.stage2.lr=0.5", "data.image_format=webp", "compute.dask_address=tcp://127.0.0.1:8786"])
    assert cfg.train.stage2.lr == 0.5
    assert cfg.data.image_format == "webp"
    assert cfg.compute.dask_address == "tcp://127.0.0.1:8786"


def test_unknown_key_names_the_key_and_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        load_config("tiny", ["data.fsp=30"])
    message = str(info.value)
    assert "data.fsp" in message and "fps" in message and "chunk_frames" in message


def test_bad_literal_names_the_allowed_values():
    with pytest.raises(ConfigError, match="labels.pose.*'pnp' or 'deep3d'"):
        load_config("paper", ["labels.pose=hopenet"])


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_save_and_reload_round_trip(tmp_path: Path):
    cfg = load_config("tiny", ["train.seed=7"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(path) == cfg
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_digest_changes_only_with_the_named_sections():
    a = load_config("tiny")
    b = load_config("tiny", ["train.seed=9"])
    c = load_config("tiny", ["data.image_quality=80"])
    assert a.digest("data") == b.digest("data")
    assert a.digest("data") != c.digest("data")
    assert a.digest() != b.digest()


def test_flat_dict_for_tracker_params():
    flat = PdfgcConfig().to_flat_dict()
    assert flat["train.stage1.weights.vgg"] == 10.0
    assert flat["audio.n_mels"] == 80


def test_overrides_apply_to_a_stored_tree_without_changing_it():
    from pdfgc.config import config_from_tree

    stored = load_config("tiny").model_dump(mode="json")
    cfg = config_from_tree(stored, ["data.alignment=box"], origin="export.pt")
    assert cfg.data.alignment == "box" and stored["data"]["alignment"] == "pdfgc"
    with pytest.raises(ConfigError, match="export.pt: unknown config key 'data.bogus'"):
        config_from_tree(stored, ["data.bogus=1"], origin="export.pt")
