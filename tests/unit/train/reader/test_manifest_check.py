"""Defect 9 of the reliability issue: training notices a garbage or mismatched manifest.parquet,
and the data hash it records is that of the manifest which lists the run's shards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from pdfgc.errors import InputError
from pdfgc.train.reader.manifest_check import verified_manifest_hash


def shards(folder: Path, names: dict[str, int]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, count in names.items():
        (folder / name).write_bytes(b"")
        (folder / name.replace(".tar", "_stats.json")).write_text(json.dumps({"n_samples": count}))
        rows += [{"key": f"{name}-{i}", "shard": name} for i in range(count)]
    pd.DataFrame(rows).to_parquet(folder / "manifest.parquet")
    return [str(folder / name) for name in names]


def test_matching_manifest_gives_its_hash(tmp_path: Path) -> None:
    urls = shards(tmp_path / "d", {"pdfgc-000000.tar": 2, "pdfgc-000001.tar": 1})
    expected = hashlib.sha256((tmp_path / "d" / "manifest.parquet").read_bytes()).hexdigest()
    assert verified_manifest_hash(urls) == expected


def test_garbage_manifest_is_one_line(tmp_path: Path) -> None:
    urls = shards(tmp_path / "d", {"pdfgc-000000.tar": 2})
    (tmp_path / "d" / "manifest.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(InputError, match=r"manifest\.parquet: not a readable manifest") as err:
        verified_manifest_hash(urls)
    assert "\n" not in str(err.value)


def test_manifest_of_another_data_set_is_refused(tmp_path: Path) -> None:
    urls = shards(tmp_path / "d", {"pdfgc-000000.tar": 2})
    shards(tmp_path / "other", {"other-000000.tar": 2})
    (tmp_path / "d" / "manifest.parquet").write_bytes((tmp_path / "other" / "manifest.parquet").read_bytes())
    with pytest.raises(InputError, match="does not list shard.*pdfgc-000000.tar"):
        verified_manifest_hash(urls)


def test_row_count_differing_from_the_stats_is_refused(tmp_path: Path) -> None:
    urls = shards(tmp_path / "d", {"pdfgc-000000.tar": 2})
    (tmp_path / "d" / "pdfgc-000000_stats.json").write_text(json.dumps({"n_samples": 5}))
    with pytest.raises(InputError, match="lists 2 samples of pdfgc-000000.tar, its stats file says 5"):
        verified_manifest_hash(urls)


def test_shards_from_two_folders_hash_both_manifests(tmp_path: Path) -> None:
    first = shards(tmp_path / "a", {"pdfgc-000000.tar": 1})
    second = shards(tmp_path / "b", {"pdfgc-000000.tar": 1, "pdfgc-000001.tar": 1})
    combined = verified_manifest_hash(first + second)
    assert combined not in (verified_manifest_hash(first), verified_manifest_hash(second))
    assert verified_manifest_hash([str(tmp_path / "nowhere" / "x.tar")]) is None


def test_training_checks_the_manifest_before_any_work(tmp_path: Path) -> None:
    from pdfgc.config import load_config
    from pdfgc.train.launch import manifest_hash, train_all
    from pdfgc.train.plan import TrainPlan

    shards(tmp_path / "d", {"pdfgc-000000.tar": 2})
    (tmp_path / "d" / "manifest.parquet").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable manifest"):
        manifest_hash(str(tmp_path / "d"))
    plan = TrainPlan(["critic"], str(tmp_path / "d"), tmp_path / "run")
    with pytest.raises(InputError, match="not a readable manifest"):
        train_all(load_config("tiny"), plan)
    assert not (tmp_path / "run").exists()
