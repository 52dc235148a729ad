"""Defect 9 of the reliability issue: a full disk during preprocessing gives one clear error and
the next run redoes the unfinished videos (no internal_error quarantine). The disk is "full"
through RLIMIT_FSIZE in a child process (EFBIG, handled like ENOSPC), so no mount is needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from pdfgc.errors import DiskFullError
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards, pending_videos
from pdfgc.preprocess.plan import stop_if_disk_full
from pdfgc.preprocess.shard_worker import DISK_FULL_REASON, process_video, staging_dir
from tests.helpers.media import cut_clip, tiny_config

REPO_ROOT = Path(__file__).resolve().parents[3]
LIMITED = textwrap.dedent("""
    import json, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    from pdfgc.preprocess.discover import discover_videos
    from pdfgc.preprocess.pack import pack_shards, pending_videos
    from pdfgc.preprocess.shard_worker import process_video
    from tests.helpers.media import tiny_config
    source, out, limit, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cfg = tiny_config()
    specs = pending_videos(discover_videos(source), out, cfg)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    if phase == "stage":
        print(json.dumps([[r.spec.source, r.ok, r.reason] for r in (process_video(s, cfg, out) for s in specs)]))
    else:
        try:
            pack_shards(out, cfg.data, [])
        except Exception as exc:
            print(json.dumps([type(exc).__name__, str(exc)]))
""")


@pytest.fixture(scope="module")
def inputs(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    cut_clip(real_videos[1], folder / "a.mp4", seconds=1.2)
    cut_clip(real_videos[0], folder / "b.mp4", seconds=1.2)
    return folder


def limited(source: Path, out: Path, limit: int, phase: str) -> list:
    import json

    proc = subprocess.run([sys.executable, "-c", LIMITED, str(source), str(out), str(limit), phase],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_staging_on_a_full_disk_leaves_the_videos_pending(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcomes = limited(inputs, out, 4096, "stage")
    assert [(ok, reason) for _, ok, reason in outcomes] == [(False, DISK_FULL_REASON)] * 2
    assert not list(staging_dir(str(out)).glob("*")), "no marker and no partial file"
    cfg = tiny_config()
    specs = discover_videos(str(inputs))
    assert len(pending_videos(specs, str(out), cfg)) == 2
    results = [process_video(spec, cfg, str(out)) for spec in pending_videos(specs, str(out), cfg)]
    with pytest.raises(DiskFullError, match=r"no space left while staging 1 video\(s\)"):
        stop_if_disk_full(str(out), results[:1] + [_full_like(results[0])])
    packed = pack_shards(str(out), cfg.data, results)
    assert all(r.ok for r in results) and packed.n_samples == 2
    assert not (out / "quarantine.parquet").exists() or pd.read_parquet(out / "quarantine.parquet").empty


def _full_like(result):
    from dataclasses import replace

    return replace(result, ok=False, reason=DISK_FULL_REASON, error="No space left on device")


def test_packing_on_a_full_disk_is_one_error_and_the_next_pack_finishes(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = tiny_config()
    for spec in pending_videos(discover_videos(str(inputs)), str(out), cfg):
        process_video(spec, cfg, str(out))
    name, message = limited(inputs, out, 4096, "pack")
    assert name == "DiskFullError" and "no space left while packing shards" in message and "\n" not in message
    assert not list(out.glob(".*.tmp")) and not list(out.glob("pdfgc-*.tar"))
    packed = pack_shards(str(out), cfg.data, [])
    assert packed.n_samples == 2 and len(pd.read_parquet(packed.manifest)) == 2
