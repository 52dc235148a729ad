"""Run folders on object storage (fsspec's memory:// stands in for a bucket here; the e2e test
uses a real S3 server): uploads, server-side copies, fetch into a fresh working folder, pruning,
checkpoints that a fresh machine resumes from, and shard folders listed by URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest
import torch

from pdfgc.errors import InputError
from pdfgc.storage import MIRROR_ROOT_ENV, RunStore, fetch_file, list_urls, mirror_dir
from pdfgc.train.checkpoint import Checkpointer, TrainProgress, load_checkpoint
from pdfgc.train.distributed import DistInfo
from pdfgc.train.reader.loader import expand_shards
from tests.unit.train.test_checkpoint import SINGLE, _mutate, _task


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh memory:// root and a fresh working-folder root per test."""
    monkeypatch.setenv(MIRROR_ROOT_ENV, str(tmp_path / "mirrors"))
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/run"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def test_a_local_folder_has_no_remote_and_every_copy_is_a_no_op(tmp_path: Path) -> None:
    store = RunStore.at(tmp_path / "run")
    assert store.remote is None and store.local == tmp_path / "run"
    store.upload("missing.pt"), store.copy_remote("a", "b"), store.prune("*", 0)
    assert store.fetch("x") is False and store.url("export.pt") == str(tmp_path / "run" / "export.pt")


def test_upload_copy_fetch_and_prune_on_a_remote_root(bucket: str, tmp_path: Path) -> None:
    store = RunStore.at(bucket).child("checkpoints")
    assert store.local == mirror_dir(bucket) / "checkpoints" and store.remote == f"{bucket}/checkpoints"
    store.local.mkdir(parents=True)
    for step in (1, 2, 3):
        (store.local / f"step_{step}.pt").write_bytes(b"step %d" % step)
        store.upload(f"step_{step}.pt")
    store.copy_remote("step_3.pt", "latest.pt")
    store.prune("step_*.pt", keep=2)
    fs = fsspec.filesystem("memory")
    assert sorted(Path(p).name for p in fs.ls(store.remote, detail=False)) == ["latest.pt", "step_2.pt", "step_3.pt"]

    (store.local / "latest.pt").write_bytes(b"stale")
    assert store.fetch("latest.pt") and (store.local / "latest.pt").read_bytes() == b"step 3"
    assert not store.fetch("absent.pt") and store.exists("step_2.pt") and not store.exists("step_1.pt")
    assert store.url("latest.pt") == f"{bucket}/checkpoints/latest.pt"


def test_fetch_file_downloads_one_url_and_names_a_missing_one(bucket: str) -> None:
    fsspec.filesystem("memory").pipe(f"{bucket}/stage_3/export.pt", b"weights")
    assert fetch_file(f"{bucket}/stage_3/export.pt").read_bytes() == b"weights"
    with pytest.raises(InputError, match="no such file"):
        fetch_file(f"{bucket}/stage_3/nothing.pt")


def test_checkpoints_reach_the_remote_root_and_a_fresh_working_folder_resumes(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = RunStore.at(bucket).child("checkpoints")
    task = _task()
    checkpointer = Checkpointer(store.local, every=1, keep_last=1, dist_info=SINGLE, store=store)
    for step, loss in ((1, 2.0), (2, 1.0), (3, 5.0)):
        checkpointer.observe(loss)
        checkpointer.save(task, TrainProgress(step=step, samples_seen=2 * step), {}, None)
    saved = {k: v.clone() for k, v in task.net.state_dict().items()}
    fs = fsspec.filesystem("memory")
    assert sorted(Path(p).name for p in fs.ls(store.remote, detail=False)) == ["best.pt", "latest.pt", "step_00000003.pt"]
    assert fs.cat(f"{store.remote}/latest.pt") == fs.cat(f"{store.remote}/step_00000003.pt")
    assert checkpointer.saved_step == 3

    monkeypatch.setenv(MIRROR_ROOT_ENV, str(tmp_path / "fresh-machine"))
    fresh = RunStore.at(bucket).child("checkpoints")
    assert not fresh.local.exists()
    _mutate(task)
    resumed = Checkpointer(fresh.local, every=1, keep_last=1, dist_info=SINGLE, store=fresh)
    progress = resumed.resume(task, None)
    assert (progress.step, progress.samples_seen, resumed.saved_step) == (3, 6, 3)
    for key, value in task.net.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert load_checkpoint(fresh.local / "latest.pt")["best_loss"] == 1.0


def test_remote_shard_folders_expand_to_their_tars_in_order(bucket: str) -> None:
    fs = fsspec.filesystem("memory")
    for name in ("pdfgc-000001.tar", "pdfgc-000000.tar", "pdfgc-000000_stats.json"):
        fs.pipe(f"{bucket}/shards/{name}", b"x")
    expected = [f"{bucket}/shards/pdfgc-000000.tar", f"{bucket}/shards/pdfgc-000001.tar"]
    assert list_urls(f"{bucket}/shards", "*.tar") == expected
    assert expand_shards(f"{bucket}/shards/") == expected
    assert expand_shards(f"{bucket}/shards/pdfgc-{{000000..000001}}.tar") == expected


def test_two_rank_info_is_not_needed_for_a_local_store(tmp_path: Path) -> None:
    """A Checkpointer without a store behaves as before: its folder is the only copy."""
    rank0 = DistInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"), distributed=False, backend=None)
    checkpointer = Checkpointer(tmp_path, every=1, keep_last=1, dist_info=rank0)
    assert checkpointer.store.remote is None and checkpointer.resume(_task(), None).step == 0


def test_a_node_rank_outside_the_nodes_is_one_line_error(tmp_path: Path, capsys) -> None:
    from pdfgc.cli import main

    assert main(["train", "--shards", str(tmp_path), "--nnodes", "2", "--node-rank", "2", "--config", "tiny"]) == 2
    assert "--node-rank 2 is not in 0..1" in capsys.readouterr().err


def test_first_text_without_a_process_group_is_the_text_itself() -> None:
    from pdfgc.train.distributed import first_text

    assert first_text("run-1", torch.device("cpu")) == "run-1" and first_text(None, torch.device("cpu")) is None
