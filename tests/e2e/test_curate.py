"""`pdfgc curate` on shards preprocessed from real footage: a planted near-duplicate (the same clip
re-encoded and cropped 5 %) and a sample below a filter (a blurred copy) are dropped, each with
its reason; the view trains nothing it dropped and `pdfgc train` refuses a view of other shards."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pdfgc.config import load_config
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards
from pdfgc.preprocess.shard_worker import process_video
from tests.e2e.conftest import BIN
from tests.helpers.media import FAST_H264, cut_clip, ffmpeg

pytestmark = pytest.mark.e2e
CONFIG = ["data.chunk_frames=25", "data.shard_crop_size=128"]


@pytest.fixture(scope="module")
def shards(real_videos: list[Path], tmp_path_factory) -> Path:
    videos = tmp_path_factory.mktemp("videos")
    katie = cut_clip(real_videos[0], videos / "katie.mp4", seconds=2.0, size="512:512")
    cut_clip(real_videos[1], videos / "retalk.mp4", seconds=2.0, size="512:512")
    ffmpeg("-i", str(katie), "-vf", "crop=iw*0.95:ih*0.95:iw*0.025:ih*0.025,scale=460:460", *FAST_H264,
           "-crf", "30", "-c:a", "aac", "-b:a", "48k", str(videos / "katie_copy.mp4"))
    ffmpeg("-i", str(videos / "retalk.mp4"), "-vf", "gblur=sigma=6", *FAST_H264, "-c:a", "aac",
           str(videos / "retalk_blur.mp4"))
    out = tmp_path_factory.mktemp("shards")
    cfg = load_config("tiny", CONFIG)
    results = [process_video(spec, cfg, str(out)) for spec in discover_videos(str(videos))]
    assert all(result.ok for result in results), [result.reason for result in results]
    pack_shards(str(out), cfg.data, results)
    return out


def pdfgc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "pdfgc"), *args], capture_output=True, text=True)


def test_view_drops_the_planted_duplicate_and_the_blurred_sample(shards, tmp_path):
    view_path = tmp_path / "view.parquet"
    done = pdfgc("curate", str(shards), "--out", str(view_path), "--config", "tiny",
                 *[item for o in CONFIG for item in ("--set", o)], "--set", "curate.min_sharpness=15")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    view = pd.read_parquet(view_path).set_index("key")
    dropped = view[~view["kept"]]
    copies = dropped[dropped.index.str.startswith("katie_copy")]
    assert len(copies) >= 1 and set(copies["reason"]) == {"near_duplicate"}
    assert all("of katie_katie_" in detail for detail in copies["detail"])
    blurred = dropped[dropped.index.str.startswith("retalk_blur")]
    assert len(blurred) >= 1 and set(blurred["reason"]) == {"blurry"}
    assert view.loc[~view.index.str.contains("copy|blur"), "kept"].all()
    assert summary["dropped"] == dropped["reason"].value_counts().to_dict()
    report = Path(summary["report"]).read_text()
    assert "near_duplicate" in report and "blurry" in report and report.count("data:image/jpeg") >= 2

    other = tmp_path / "other"
    other.mkdir()
    (other / "pdfgc-000042.tar").write_bytes(b"")
    refused = pdfgc("train", "--shards", str(other), "--view", str(view_path), "--preset", "tiny",
                    "--out", str(tmp_path / "run"))
    assert refused.returncode == 2 and "missing from the training shards" in refused.stderr
    errors = [line for line in refused.stderr.strip().splitlines() if not line.startswith("pdfgc: log file")]
    assert len(errors) == 1, refused.stderr
