"""Defects 3 and 4 of the reliability issue: unreadable inputs and colliding sample keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import webdataset as wds

from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards, pending_videos
from pdfgc.preprocess.shard_worker import process_video
from tests.helpers.media import cut_clip, tiny_config

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_all(input_dir: Path, out_dir: Path) -> tuple[list, object]:
    cfg = tiny_config()
    specs = pending_videos(discover_videos(str(input_dir)), str(out_dir), cfg)
    results = [process_video(spec, cfg, str(out_dir)) for spec in specs]
    return results, pack_shards(str(out_dir), cfg.data, results)


@pytest.fixture(scope="module")
def good_clip(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_clip(real_videos[1], tmp_path_factory.mktemp("good") / "good.mp4", seconds=1.2)


def test_unreadable_inputs_are_quarantined_and_the_rest_processed(good_clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.mp4").write_bytes(good_clip.read_bytes())
    (folder / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    (folder / "loop.mp4").symlink_to(folder / "loop.mp4")
    locked = folder / "locked.mp4"
    locked.write_bytes(good_clip.read_bytes())
    locked.chmod(0)
    closed = folder / "id00001"
    (closed / "vid").mkdir(parents=True)
    (closed / "vid" / "00001.mp4").write_bytes(good_clip.read_bytes())
    closed.chmod(0)
    try:
        results, packed = run_all(folder, tmp_path / "out")
    finally:
        closed.chmod(0o755)
    reasons = {Path(r.spec.source).name: r.reason for r in results if not r.ok}
    expected = {"dangling.mp4": "dangling_symlink", "loop.mp4": "symlink_loop"}
    if os.geteuid() != 0:
        expected |= {"locked.mp4": "permission_denied", "id00001": "unlistable_folder"}
    assert reasons == expected
    readable = ["00001.mp4", "good.mp4", "locked.mp4"] if os.geteuid() == 0 else ["good.mp4"]
    assert sorted(Path(r.spec.source).name for r in results if r.ok) == readable
    quarantine = pd.read_parquet(packed.quarantine)
    assert dict(zip(quarantine["source"].map(lambda s: Path(s).name), quarantine["reason"])) == expected
    again, _ = run_all(folder, tmp_path / "out")
    assert again == []  # quarantined once, not offered again while unchanged


UNPRIVILEGED = """
import json, os, sys
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pending_videos
from tests.helpers.media import tiny_config
specs = pending_videos(discover_videos(sys.argv[1]), sys.argv[2], tiny_config())
print(json.dumps({os.path.basename(s.source): s.problem for s in specs}))
"""


def without_file_capabilities() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop the capability to read anything")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}"]


def test_permission_problems_are_found_by_an_unprivileged_user(good_clip: Path, tmp_path: Path) -> None:
    """Root reads everything, so this part runs discovery in a child without root's file
    capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    folder = tmp_path / "in"
    (folder / "closed" / "vid").mkdir(parents=True)
    (folder / "good.mp4").write_bytes(good_clip.read_bytes())
    (folder / "locked.mp4").write_bytes(b"x")
    (folder / "closed" / "vid" / "00001.mp4").write_bytes(b"x")
    (folder / "locked.mp4").chmod(0)
    (folder / "closed").chmod(0)
    try:
        proc = subprocess.run([*without_file_capabilities(), sys.executable, "-c", UNPRIVILEGED, str(folder), str(tmp_path / "out")],
                              capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    finally:
        (folder / "closed").chmod(0o755)
    assert proc.returncode == 0, proc.stderr[-1500:]
    problems = json.loads(proc.stdout.strip().splitlines()[-1])
    assert problems == {"closed": "unlistable_folder", "good.mp4": "", "locked.mp4": "permission_denied"}
    assert "closed: folder cannot be listed" in proc.stderr


def test_colliding_clean_names_keep_both_videos(good_clip: Path, real_videos: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    first = folder / "id00012" / "my vid" / "clip ü 1.mp4"
    second = folder / "id00012" / "my-vid" / "clip-ü-1.mp4"
    first.parent.mkdir(parents=True)
    second.parent.mkdir(parents=True)
    first.write_bytes(good_clip.read_bytes())
    cut_clip(real_videos[0], second, seconds=1.2)
    results, packed = run_all(folder, tmp_path / "out")
    assert [r.ok for r in results] == [True, True]
    manifest = pd.read_parquet(packed.manifest)
    assert manifest["key"].is_unique and len(manifest) == 2
    assert set(manifest["source"]) == {str(first), str(second)}
    samples = {s["__key__"]: s for tar in packed.new_shards for s in wds.WebDataset(tar, shardshuffle=False)}
    assert set(samples) == set(manifest["key"])
    for row in manifest.itertuples():
        assert str(row.uid).encode() in samples[row.key]["meta.json"]
    plain = "id00012_my-vid_clip---1_000"
    renamed = [key for key in manifest["key"] if key != plain]
    assert plain in set(manifest["key"]) and len(renamed) == 1
    assert renamed[0].startswith(plain + "-") and len(renamed[0]) == len(plain) + 9
    assert json.loads(samples[renamed[0]]["meta.json"])["key"] == renamed[0]
