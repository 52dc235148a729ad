"""The sync expert end to end: sample videos with audio-driven mouths -> preprocessing (speaker
splits in the manifest) -> ``pdfgc train --stage sync`` (torchrun, MLflow run, registered model)
-> the expert, loaded from its ``models:/`` URI, finds a known audio shift on a held-out speaker."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from flows.sample import load_sample_generator
from pdfgc.config import load_config
from pdfgc.eval.metrics.lse import load_expert, score_clip
from pdfgc.preprocess.discover import discover_videos
from pdfgc.preprocess.pack import pack_shards
from pdfgc.preprocess.shard_worker import process_video
from tests.e2e.conftest import BIN

pytestmark = pytest.mark.e2e

SYNC_STEPS = 200
"""About 25 CPU-seconds at batch 16; enough for the tiny expert to find shifts on an unseen speaker."""
SHIFTS = (4, -6)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 speakers x 2 clips x 6 s; the tiny split seed puts id00001 in train, id00002 in val, id00003 in test."""
    root = tmp_path_factory.mktemp("sync_sample")
    load_sample_generator().generate_sample_set(root / "videos", speakers=3, clips_per_speaker=2, seconds=6.0)
    cfg = load_config("tiny")
    out = root / "shards"
    results = [process_video(spec, cfg, str(out)) for spec in discover_videos(str(root / "videos"))]
    assert all(r.ok for r in results)
    pack_shards(str(out), cfg.data, results, cfg.split)
    return out


@pytest.fixture(scope="module")
def trained(shards: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = tmp_path_factory.mktemp("sync_run")
    command = [str(BIN / "pdfgc"), "train", "--shards", str(shards), "--stage", "sync", "--preset", "tiny",
               "--nproc", "1", "--out", str(run), "--set", f"train.sync.steps={SYNC_STEPS}",
               "--set", "train.sync.batch_size=16", "--set", "train.checkpoint_every=0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((run / "summary.json").read_text())


def _clips(shards: Path, speaker: str) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """Whole clips of a speaker from its chunks: frames (T, 3, 224, 224) in [-1, 1], mel (4T, 80)."""
    chunks: dict[str, dict[str, dict[str, bytes]]] = defaultdict(dict)
    for tar_path in sorted(shards.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                if key.startswith(speaker):
                    clip = key.rsplit("_", 1)[0]
                    chunks[clip].setdefault(key, {})[ext] = tar.extractfile(member).read()
    clips = {}
    for clip, by_key in chunks.items():
        frames, mels = [], []
        for key in sorted(by_key):
            sample = by_key[key]
            offsets = np.load(io.BytesIO(sample["frame_offsets.npy"]), allow_pickle=False)
            blob = sample["frames.mjpeg"]
            frames += [cv2.cvtColor(cv2.imdecode(np.frombuffer(blob[a:b], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                       for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
            mels.append(np.load(io.BytesIO(sample["mel.npy"]), allow_pickle=False))
        images = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        clips[clip] = (images, np.concatenate(mels))
    return clips


def _delay_audio(mel: np.ndarray, frames: int) -> np.ndarray:
    """The audio ``frames`` video frames later (earlier when negative), silence where it runs out."""
    shifted = np.zeros_like(mel)
    rows = 4 * abs(frames)
    if frames >= 0:
        shifted[rows:] = mel[: len(mel) - rows]
    else:
        shifted[: len(mel) - rows] = mel[rows:]
    return shifted


def test_manifest_splits_the_sample_speakers(shards: Path) -> None:
    table = pd.read_parquet(shards / "manifest.parquet")
    assert (table.groupby("speaker")["split"].nunique() == 1).all()
    assert dict(table.groupby("speaker")["split"].first()) == {"id00001": "train", "id00002": "val", "id00003": "test"}
    assert set(table["split_mode"]) == {"speaker"}


def test_sync_stage_has_its_own_run_and_registered_model(trained: dict) -> None:
    import mlflow

    assert trained["sync_model_uri"] == "models:/pdfgc-generator-sync/1"
    assert trained["registered_model_uri"] is None  # no generator stage ran
    run = mlflow.tracking.MlflowClient(trained["tracking_uri"]).get_run(trained["child_run_ids"]["sync"])
    assert run.data.params["split.name"] == "train" and run.data.params["split.mode"] == "speaker"
    assert run.data.params["split.test_speakers"] == "1"
    assert "val/sync_accuracy" in run.data.metrics


def test_expert_finds_a_known_audio_shift_on_an_unseen_speaker(trained: dict, shards: Path) -> None:
    expert = load_expert(trained["sync_model_uri"], trained["tracking_uri"])
    clips = _clips(shards, "id00003")  # the test speaker: never seen in training
    assert len(clips) == 2
    for clip, (frames, mel) in clips.items():
        assert abs(score_clip(expert, frames, mel).offset) <= 1, clip
        for shift in SHIFTS:
            score = score_clip(expert, frames, _delay_audio(mel, shift))
            assert abs(score.offset - shift) <= 1, (clip, shift, score.offset)
            assert score.confidence > 0


def test_adding_speakers_by_an_incremental_run_leaves_the_test_split_unchanged(
        shards: Path, tmp_path: Path) -> None:
    """Two more speakers, preprocessed incrementally into a copy of the shards: every earlier
    sample keeps its split (the test split is the same keys), newcomers follow the same rule."""
    import shutil

    from pdfgc.preprocess.pack import pending_videos
    from pdfgc.preprocess.splits import split_of

    grown = tmp_path / "grown"
    shutil.copytree(shards, grown)
    videos = shards.parent / "videos"
    load_sample_generator().generate_sample_set(videos, speakers=5, clips_per_speaker=1, seconds=6.0)  # old clips are kept
    cfg = load_config("tiny")
    todo = pending_videos(discover_videos(str(videos)), str(grown), cfg)
    assert {spec.speaker for spec in todo} == {"id00004", "id00005"}
    pack_shards(str(grown), cfg.data, [process_video(spec, cfg, str(grown)) for spec in todo], cfg.split)
    before = pd.read_parquet(shards / "manifest.parquet").set_index("key")["split"]
    after = pd.read_parquet(grown / "manifest.parquet").set_index("key")
    assert after.loc[before.index, "split"].tolist() == before.tolist()
    assert set(after.index[after["split"] == "test"]) == set(before.index[before == "test"])
    new = after[after["speaker"].isin(["id00004", "id00005"])]
    assert len(new) and new["split"].tolist() == [split_of(s, cfg.split) for s in new["speaker"]]
