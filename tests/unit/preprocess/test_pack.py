"""pack_shards: shards, stats, tables, idempotence and incremental growth."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import webdataset as wds

from pdfgc.preprocess.discover import VideoSpec, discover_videos
from pdfgc.preprocess.pack import pack_shards, pending_videos, summarize
from pdfgc.preprocess.shard_worker import process_video, staging_dir
from pdfgc.preprocess.writer import read_sample_members
from tests.helpers.media import tiny_config
from tests.helpers.media import cut_clip


@pytest.fixture(scope="module")
def clips(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flat input folder with two 2 s clips, plus a third kept aside for the incremental run."""
    folder = tmp_path_factory.mktemp("input")
    cut_clip(real_videos[0], folder / "katie.mp4")
    cut_clip(real_videos[1], folder / "retalk.mp4", seconds=1.2)
    cut_clip(real_videos[0], folder.parent / "later.mp4", start=4.0, seconds=1.2)
    (folder / "broken.mp4").write_bytes(b"")
    return folder


def run_pending(input_dir: Path, out_dir: Path) -> list:
    cfg = tiny_config()
    cfg.data.shard_target_mb = 0.01  # one video per shard
    specs = pending_videos(discover_videos(str(input_dir)), str(out_dir), cfg)
    results = [process_video(spec, cfg, str(out_dir)) for spec in specs]
    return specs, pack_shards(str(out_dir), cfg.data, results)


def shard_keys(out_dir: Path) -> list[str]:
    return sorted(s["__key__"] for tar in sorted(out_dir.glob("pdfgc-*.tar")) for s in wds.WebDataset(str(tar), shardshuffle=False))


def test_pack_then_repack_is_idempotent_and_grows_incrementally(clips: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    specs, first = run_pending(clips, out_dir)
    assert len(specs) == 3
    assert [Path(p).name for p in first.new_shards] == ["pdfgc-000000.tar", "pdfgc-000001.tar"]
    keys = shard_keys(out_dir)
    # katie: 2 chunks of 25; retalk (30 frames): 1 chunk of 25, the 5 left are under min_chunk_frames
    assert first.n_samples == len(keys) == 3
    manifest = pd.read_parquet(first.manifest)
    assert sorted(manifest["key"]) == keys
    assert set(manifest["shard"]) == {"pdfgc-000000.tar", "pdfgc-000001.tar"}
    quarantine = pd.read_parquet(first.quarantine)
    assert list(quarantine["reason"]) == ["empty_file"]
    assert not list(staging_dir(str(out_dir)).iterdir())

    stats = json.loads((out_dir / "pdfgc-000000_stats.json").read_text())
    assert stats["n_samples"] == len(stats["keys"]) and len(stats["uids"]) == 1
    before = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}

    specs, again = run_pending(clips, out_dir)
    assert specs == [] and again.new_shards == [] and again.n_samples == 0
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()} == before

    (clips.parent / "later.mp4").rename(clips / "later.mp4")
    specs, grown = run_pending(clips, out_dir)
    assert [s.speaker for s in specs] == ["later"]
    assert [Path(p).name for p in grown.new_shards] == ["pdfgc-000002.tar"]
    assert len(shard_keys(out_dir)) == 4 and len(pd.read_parquet(grown.manifest)) == 4
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.glob("pdfgc-00000[01]*")} == {
        name: mtime for name, mtime in before.items() if name.startswith(("pdfgc-000000", "pdfgc-000001"))}
    assert len(pd.read_parquet(grown.quarantine)) == 1

    summary = summarize(str(out_dir))
    assert summary["samples"] == 4 and summary["videos"] == 3
    assert summary["frames"] == 50 + 25 + 25
    assert summary["hours"] == pytest.approx(100 / 25 / 3600)
    assert summary["quarantined"] == {"empty_file": 1} and summary["shards"] == 3


def test_crash_leftovers_are_repaired(clips: Path, tmp_path: Path) -> None:
    """A shard tar without stats is removed; staged uids already in a stats file are not packed twice."""
    cfg = tiny_config()
    out_dir = tmp_path / "out"
    spec = VideoSpec(str(clips / "retalk.mp4"), "r", "r", "0", {})
    result = process_video(spec, cfg, str(out_dir))
    staged_tar = Path(result.staged).read_bytes()
    marker = (staging_dir(str(out_dir)) / f"{result.uid}.json").read_text()
    pack_shards(str(out_dir), cfg.data, [result])
    # as if killed after the stats were written but before the staging files were removed
    (staging_dir(str(out_dir)) / f"{result.uid}.tar").write_bytes(staged_tar)
    (staging_dir(str(out_dir)) / f"{result.uid}.json").write_text(marker)
    (out_dir / "pdfgc-000001.tar").write_bytes(b"half a shard")  # as if killed before its stats
    again = pack_shards(str(out_dir), cfg.data, [])
    assert again.new_shards == [] and not (out_dir / "pdfgc-000001.tar").exists()
    assert shard_keys(out_dir) == ["r_r_0_000"]
    assert not list(staging_dir(str(out_dir)).iterdir())
    assert list(read_sample_members(out_dir / "pdfgc-000000.tar")) == ["r_r_0_000"]


def test_internal_errors_are_quarantined_then_retried(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pdfgc.preprocess.shard_worker as shard_worker

    cfg = tiny_config()
    out_dir = str(tmp_path / "out")
    specs = [VideoSpec(str(clips / "retalk.mp4"), "r", "r", "0", {})]

    def broken_backends(labels_json: str):
        raise RuntimeError("model server went away")

    monkeypatch.setattr(shard_worker, "_backends", broken_backends)
    failed = process_video(specs[0], cfg, out_dir)
    assert (failed.ok, failed.reason, failed.stage) == (False, "internal_error", "setup")
    assert "model server went away" in failed.error
    pack_shards(out_dir, cfg.data, [failed])
    assert list(pd.read_parquet(Path(out_dir) / "quarantine.parquet")["reason"]) == ["internal_error"]
    assert pending_videos(specs, out_dir, cfg) == specs

    monkeypatch.undo()
    fixed = process_video(specs[0], cfg, out_dir)
    pack_shards(out_dir, cfg.data, [fixed])
    assert fixed.ok and pending_videos(specs, out_dir, cfg) == []
    assert len(pd.read_parquet(Path(out_dir) / "quarantine.parquet")) == 0
    assert summarize(out_dir)["quarantined"] == {}
