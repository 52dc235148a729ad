"""Output roots on an fsspec filesystem (memory:// here): same shards, resumable, no shared disk."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from pdfgc.preprocess import remote
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards, pending_videos, summarize
from pdfgc.preprocess.shard_worker import process_video
from tests.helpers.media import tiny_config
from tests.helpers.media import cut_clip

URL = "memory://bucket/shards"


@pytest.fixture(scope="module")
def clips(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("remote-input")
    cut_clip(real_videos[0], folder / "katie.mp4")
    cut_clip(real_videos[1], folder / "retalk.mp4", seconds=1.2)
    (folder / "broken.mp4").write_bytes(b"")
    return folder


@pytest.fixture()
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(remote.MIRROR_ROOT_ENV, str(tmp_path / "mirrors"))
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists("/bucket"):
        fs.rm("/bucket", recursive=True)


def run(input_dir: Path) -> tuple[list, object]:
    cfg = tiny_config()
    cfg.data.shard_target_mb = 0.01  # one video per shard
    specs = pending_videos(discover_videos(str(input_dir)), URL, cfg)
    results = [process_video(spec, cfg, URL) for spec in specs]
    return specs, pack_shards(URL, cfg.data, results)


def remote_keys(fs: fsspec.AbstractFileSystem) -> list[str]:
    keys = set()
    for path in fs.glob("/bucket/shards/pdfgc-*.tar"):
        with tarfile.open(fileobj=io.BytesIO(fs.cat_file(path))) as tar:
            keys |= {name.partition(".")[0] for name in tar.getnames()}
    return sorted(keys)


def test_remote_root_gets_shards_tables_and_no_staging(clips: Path, bucket) -> None:
    specs, packed = run(clips)
    assert len(specs) == 3
    assert packed.new_shards == [f"{URL}/pdfgc-000000.tar", f"{URL}/pdfgc-000001.tar"]
    names = sorted(Path(p).name for p in bucket.ls("/bucket/shards", detail=False))
    assert names == ["_staging", "manifest.parquet", "pdfgc-000000.tar", "pdfgc-000000_stats.json",
                     "pdfgc-000001.tar", "pdfgc-000001_stats.json", "quarantine.parquet"]
    assert bucket.ls("/bucket/shards/_staging", detail=False) == []
    manifest = pd.read_parquet(io.BytesIO(bucket.cat_file("/bucket/shards/manifest.parquet")))
    assert sorted(manifest["key"]) == remote_keys(bucket) and len(manifest) == packed.n_samples == 3
    quarantine = pd.read_parquet(io.BytesIO(bucket.cat_file("/bucket/shards/quarantine.parquet")))
    assert list(quarantine["reason"]) == ["empty_file"]
    assert summarize(URL)["samples"] == 3
    assert not list(remote.mirror_dir(URL).glob("*.tar")), "the mirror keeps no published shard"


def test_a_new_machine_resumes_from_the_remote_root_alone(clips: Path, bucket, tmp_path: Path) -> None:
    run(clips)
    shutil.rmtree(remote.mirror_dir(URL))  # the mirror is a cache
    specs, packed = run(clips)
    assert specs == [] and packed.new_shards == []

    shutil.rmtree(remote.mirror_dir(URL))
    (tmp_path / "extra").mkdir()
    cut_clip(clips / "katie.mp4", tmp_path / "extra" / "later.mp4", start=0.4, seconds=1.2)
    specs, packed = run(tmp_path / "extra")
    assert [Path(s.source).name for s in specs] == ["later.mp4"]
    assert packed.new_shards == [f"{URL}/pdfgc-000002.tar"]  # numbered after the remote shards
    manifest = pd.read_parquet(io.BytesIO(bucket.cat_file("/bucket/shards/manifest.parquet")))
    assert sorted(manifest["key"]) == remote_keys(bucket) and len(manifest) == 4


def test_staged_video_on_the_remote_root_is_packed_by_the_next_run(clips: Path, bucket) -> None:
    cfg = tiny_config()
    spec = next(s for s in discover_videos(str(clips)) if s.source.endswith("katie.mp4"))
    result = process_video(spec, cfg, URL)  # a worker finished, then the flow was killed
    assert result.ok and result.staged == f"{URL}/_staging/{result.uid}.tar"
    assert sorted(Path(p).name for p in bucket.ls("/bucket/shards/_staging", detail=False)) == [
        f"{result.uid}.json", f"{result.uid}.tar"]
    packed = pack_shards(URL, cfg.data, [])
    assert packed.n_samples == result.n_samples and len(remote_keys(bucket)) == result.n_samples


def test_a_remote_tar_without_stats_is_replaced(clips: Path, bucket) -> None:
    bucket.pipe_file("/bucket/shards/pdfgc-000000.tar", b"half an upload")
    run(clips)
    assert len(remote_keys(bucket)) == 3
