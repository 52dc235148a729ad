"""Training on a view: the loader reads only the view's kept samples outside the test split, and a
view that names missing shards is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pdfgc.config import load_config
from pdfgc.curate.view import check_view, training_keys, view_sha256, write_view
from pdfgc.errors import InputError
from pdfgc.train.reader.loader import build_loader, expand_shards
from tests.helpers.shards import write_test_shards

KEYS = [f"spk0_vid{c:02d}_0_000" for c in range(4)]


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    write_test_shards(out, n_clips=4, frames=8, crop_size=64, seed=0, clips_per_shard=2)
    return out


def view_file(path: Path, kept: list[bool], split: list[str], shards: list[str] | None = None) -> Path:
    table = pd.DataFrame({"key": KEYS, "shard": shards or ["pdfgc-000000.tar"] * 2 + ["pdfgc-000001.tar"] * 2,
                          "kept": kept, "split": split, "reason": ["" if k else "blurry" for k in kept]})
    write_view(table, path)
    return path


def test_loader_reads_only_kept_training_samples(shard_dir, tmp_path):
    view = view_file(tmp_path / "v.parquet", [True, False, True, True], ["train", "train", "train", "test"])
    assert training_keys(view, expand_shards(str(shard_dir))) == {KEYS[0], KEYS[2]}
    cfg = load_config("tiny", [f"train.view={view}", "train.num_workers=0", "train.shuffle_buffer=2",
                               "train.critic.batch_size=2"])
    seen = {key for batch in build_loader(str(shard_dir), "critic", cfg, 0, 1, 0, num_batches=6)
            for key in batch["key"]}
    assert seen <= {KEYS[0], KEYS[2]} and seen


def test_view_naming_missing_shards_or_keeping_nothing_is_refused(shard_dir, tmp_path):
    missing = view_file(tmp_path / "m.parquet", [True] * 4, ["train"] * 4, ["pdfgc-000009.tar"] * 4)
    with pytest.raises(InputError, match="pdfgc-000009.tar") as err:
        check_view(missing, str(shard_dir))
    assert "\n" not in str(err.value)
    empty = view_file(tmp_path / "e.parquet", [False] * 4, ["train"] * 4)
    with pytest.raises(InputError, match="keeps no sample"):
        check_view(empty, str(shard_dir))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="not a curated view"):
        check_view(tmp_path / "bad.parquet", str(shard_dir))


def test_view_hash_changes_with_content(tmp_path):
    a = view_file(tmp_path / "a.parquet", [True] * 4, ["train"] * 4)
    b = view_file(tmp_path / "b.parquet", [True, True, True, False], ["train"] * 4)
    assert view_sha256(a) != view_sha256(b) and len(view_sha256(a)) == 64
