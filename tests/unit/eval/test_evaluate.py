"""The evaluation runner's logic with a stand-in scorer: clip selection, rows, skipping, schema,
bad inputs. The measuring code and the metric math have their own tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pdfgc.cli import main
from pdfgc.config import load_config
from pdfgc.errors import InputError, PdfgcError, UnsafeShardError
from pdfgc.eval.clips import ClipData, load_clips, read_manifest, select_clips
from pdfgc.eval.evaluate import EvalRequest, cross_pairs, evaluate, run_evaluation
from pdfgc.eval.generate import FACTORS, load_eval_model, through_model_resolution
from pdfgc.eval.results import METHODS, RowCollector, check_metrics_json
from pdfgc.models import build_model
from pdfgc.preprocess.writer import TarSampleWriter, encode_frames, json_bytes, npy_bytes
from pdfgc.train.checkpoint import save_export

CROP = 64
FRAMES = 6


@dataclasses.dataclass
class FakeMeasures:
    face_found: np.ndarray  # (T,)
    brightness: np.ndarray  # (T,)


class FakeScorer:
    """Face = a frame brighter than 20 grey levels; every metric = mean brightness (so the
    three methods give different, checkable numbers)."""

    def measure(self, frames: np.ndarray) -> FakeMeasures:
        level = frames.reshape(len(frames), -1).mean(axis=1).astype(np.float64)
        return FakeMeasures(level > 20, level)

    def still(self, frame: np.ndarray, n_frames: int) -> FakeMeasures:
        one = self.measure(frame[None])
        return FakeMeasures(np.repeat(one.face_found, n_frames), np.repeat(one.brightness, n_frames))

    def found_face(self, measures: FakeMeasures) -> bool:
        return bool(measures.face_found.any())

    def self_scores(self, candidate, measures, real, real_measures, source):
        return {"brightness": float(measures.brightness.mean()), "never": "cannot be measured here"}

    def cross_scores(self, frames, measures, identity_measures, drivers, driver_measures, source):
        return {"brightness": float(measures.brightness.mean())}

    def crosstalk(self, base, swapped):
        return np.eye(len(FACTORS)) + 0.1

    measure_labels = measure


def _clip_frames(level: int) -> np.ndarray:
    rng = np.random.default_rng(level)
    frames = np.full((FRAMES, CROP, CROP, 3), level, np.uint8)
    return np.clip(frames + rng.integers(0, 10, frames.shape), 0, 255).astype(np.uint8)


def write_shards(root: Path, clips: list[tuple[str, str, str, int]], face_ok: bool = True) -> Path:
    """``clips``: (key, speaker, split, grey level). One shard, and a manifest with a split column."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "pdfgc-000000.tar", "wb") as stream, TarSampleWriter(stream) as writer:
        for key, speaker, _, level in clips:
            blob, offsets = encode_frames(_clip_frames(level), "jpg", 95)
            ok = np.full(FRAMES, face_ok and level > 20)
            writer.write_sample(key, {"frames.mjpeg": blob, "frame_offsets.npy": npy_bytes(offsets),
                                      "mel.npy": npy_bytes(np.zeros((4 * FRAMES, 80), np.float16)),
                                      "face_ok.npy": npy_bytes(ok), "meta.json": json_bytes({"key": key})})
    rows = [{"key": k, "speaker": s, "split": split, "shard": "pdfgc-000000.tar", "n_frames": FRAMES}
            for k, s, split, _ in clips]
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet", index=False)
    return root


@pytest.fixture(scope="module")
def export_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config("tiny")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("export") / "export.pt"
    return save_export(path, "3", cfg.model_dump(mode="json"), {"model": build_model(cfg.model)}, 1)


@pytest.fixture()
def shards(tmp_path: Path) -> Path:
    return write_shards(tmp_path / "shards", [
        ("a_1", "a", "test", 120), ("a_2", "a", "test", 130), ("b_1", "b", "test", 200),
        ("c_1", "c", "test", 60), ("dark", "d", "test", 5), ("t_1", "t", "train", 90),
    ])


def test_select_clips_keeps_the_split_and_spreads_over_speakers(shards: Path) -> None:
    manifest = read_manifest(str(shards))
    assert [r.key for r in select_clips(manifest, "test", None)] == ["a_1", "b_1", "c_1", "dark", "a_2"]
    assert [r.key for r in select_clips(manifest, "test", 2)] == ["a_1", "b_1"]
    assert [r.key for r in select_clips(manifest, "train", None)] == ["t_1"]
    assert len(select_clips(manifest, "all", None)) == 6


def test_an_empty_split_names_the_splits_present(shards: Path) -> None:
    with pytest.raises(InputError, match=r"split 'val' has no clips \(6 samples in all; splits present: test, train\)"):
        select_clips(read_manifest(str(shards)), "val", None)


def test_shards_without_split_column_need_split_all(shards: Path) -> None:
    manifest = read_manifest(str(shards)).drop(columns=["split"])
    with pytest.raises(InputError, match="no 'split' column"):
        select_clips(manifest, "test", None)
    assert len(select_clips(manifest, "all", None)) == 6


def test_a_folder_without_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no manifest"):
        read_manifest(str(tmp_path))


def test_load_clips_decodes_frames_and_refuses_unsafe_shard_names(shards: Path) -> None:
    manifest = read_manifest(str(shards))
    refs = select_clips(manifest, "test", 1)
    clip = load_clips(str(shards), refs)["a_1"]
    assert clip.frames.shape == (FRAMES, CROP, CROP, 3) and clip.mel.shape == (4 * FRAMES, 80)
    assert abs(float(clip.frames.mean()) - 124.5) < 3
    bad = [dataclasses.replace(refs[0], shard="../elsewhere.tar")]
    with pytest.raises(UnsafeShardError):
        load_clips(str(shards), bad)


def test_a_foreign_export_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(PdfgcError, match="not a pdfgc export"):
        load_eval_model(str(path))


def test_an_export_whose_weights_do_not_fit_is_refused(tmp_path: Path, export_path: Path) -> None:
    export = torch.load(export_path, weights_only=True)
    export["model"] = {"generator.weight": torch.zeros(3)}
    torch.save(export, tmp_path / "bad.pt")
    with pytest.raises(PdfgcError, match="weights do not fit a pdfgc model"):
        load_eval_model(str(tmp_path / "bad.pt"))


def test_cli_prints_one_line_for_a_foreign_export(tmp_path: Path, shards: Path, capsys: pytest.CaptureFixture) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    code = main(["evaluate", "--model", str(tmp_path / "foreign.pt"), "--shards", str(shards), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "not a pdfgc export" in err


def _run(shards: Path, export_path: Path, split: str = "test") -> tuple[dict, object]:
    model = load_eval_model(str(export_path))
    refs = select_clips(read_manifest(str(shards)), split, None)
    return run_evaluation(model, FakeScorer(), load_clips(str(shards), refs), split)


def test_every_metric_gets_three_rows_and_faceless_clips_are_skipped(shards: Path, export_path: Path) -> None:
    document, state = _run(shards, export_path)
    check_metrics_json(document)
    assert document["clips"] == 4
    assert document["skipped"] == [{"clip": "dark", "reason": "no frame with a face (face_ok is false everywhere)"}]
    metrics = {row["metric"] for row in document["rows"]}
    assert metrics == {"self/brightness", "self/never", "cross/brightness"}
    for metric in metrics:
        assert sorted(r["method"] for r in document["rows"] if r["metric"] == metric) == sorted(METHODS)
    never = [r for r in document["rows"] if r["metric"] == "self/never"]
    assert all(r["value"] is None and r["reason"] == "cannot be measured here" for r in never)
    # the ground truth is the real frames (means 124.5, 134.5, 204.5, 64.5) through 64 -> 64 px: unchanged
    truth = next(r for r in document["rows"] if r["metric"] == "self/brightness" and r["method"] == "ground_truth")
    assert truth["value"] == pytest.approx((124.5 + 134.5 + 204.5 + 64.5) / 4, abs=2.0) and truth["clips"] == 4
    assert state.generated_frames == 4 * FRAMES + 4 * FRAMES * (1 + len(FACTORS))


def test_cross_driven_pairs_take_other_speakers(shards: Path, export_path: Path) -> None:
    document, _ = _run(shards, export_path)
    pairs = document["cross_driven_pairs"]
    assert pairs == [["a_1", "b_1"], ["a_2", "b_1"], ["b_1", "c_1"], ["c_1", "a_1"]]
    crosstalk = document["crosstalk"]
    assert crosstalk["factors"] == list(FACTORS) and crosstalk["clips"] == 4
    assert np.allclose(crosstalk["matrix"], np.eye(4) + 0.1)


def test_one_speaker_gives_no_crosstalk_and_says_why(tmp_path: Path, export_path: Path) -> None:
    shards = write_shards(tmp_path / "one", [("a_1", "a", "test", 120), ("a_2", "a", "test", 130)])
    document, _ = _run(shards, export_path)
    assert document["crosstalk"]["matrix"] is None and "one usable speaker" in document["crosstalk"]["reason"]
    assert not any(r["metric"].startswith("cross/") for r in document["rows"])


def test_a_split_of_faceless_clips_is_an_error_not_zeros(tmp_path: Path, export_path: Path) -> None:
    shards = write_shards(tmp_path / "dark", [("d_1", "d", "test", 5), ("e_1", "e", "test", 8)])
    with pytest.raises(InputError, match=r"none of its 2 clip\(s\) can be evaluated"):
        _run(shards, export_path)


def test_cross_pairs_with_three_speakers_swap_to_a_third_speaker() -> None:
    def clip(key: str, speaker: str) -> ClipData:
        return ClipData(key, speaker, np.zeros((2, 4, 4, 3), np.uint8), np.zeros((8, 80), np.float32), np.ones(2, bool))

    pairs = cross_pairs([clip("a", "s1"), clip("b", "s2"), clip("c", "s3")])
    assert [(s.key, d.key, w.key) for s, d, w in pairs] == [("a", "b", "c"), ("b", "c", "a"), ("c", "a", "b")]


def test_rows_average_finite_values_only() -> None:
    rows = RowCollector()
    rows.add("self", "model", {"m": 1.0})
    rows.add("self", "model", {"m": float("nan")})
    rows.add("self", "model", {"m": 3.0})
    rows.add("self", "ground_truth", {"m": "no face"})
    by_method = {r["method"]: r for r in rows.rows()}
    assert by_method["model"]["value"] == 2.0 and by_method["model"]["clips"] == 2
    assert by_method["ground_truth"] == {"method": "ground_truth", "metric": "self/m", "value": None, "clips": 0, "reason": "no face"}
    assert by_method["source_repeated"]["value"] is None and by_method["source_repeated"]["reason"]


def test_ground_truth_passes_through_the_model_resolution() -> None:
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    frames[0, :, ::2] = 255  # a stripe pattern a 4 px model cannot draw
    assert through_model_resolution(frames, 8) is frames
    assert np.abs(through_model_resolution(frames, 4).astype(int) - 127).max() < 40


def test_evaluate_writes_metrics_json_and_report(tmp_path: Path, shards: Path, export_path: Path) -> None:
    request = EvalRequest(str(export_path), str(shards), tmp_path / "out", "test", 3)
    document = evaluate(request, scorer=FakeScorer())
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["model"] == str(export_path) and written["split"] == "test" and written["clips"] == 3
    check_metrics_json(written)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Cross-talk matrix" in page and page.count("data:image/png;base64") >= 3 and "source_repeated" in page
    assert document["paths"]["report"].endswith("report.html")


def test_lse_rows_come_from_a_given_sync_expert_and_say_why_without_one() -> None:
    from pdfgc.eval.scoring import LSE_METRICS, MetricScorer
    from pdfgc.models.sync import build_sync_expert

    frames = np.random.default_rng(0).integers(0, 255, (12, CROP, CROP, 3), dtype=np.uint8)
    clip = ClipData("k", "s", frames, np.random.default_rng(1).random((48, 80), dtype=np.float32), np.ones(12, bool))
    assert MetricScorer(None)._lse(frames, clip) == {name: "no sync expert given (--sync-model)" for name in LSE_METRICS}
    torch.manual_seed(0)
    scores = MetricScorer(None, sync_expert=build_sync_expert(load_config("tiny").sync).eval())._lse(frames, clip)
    assert 0.0 <= scores["lse_d"] <= 2.0 and scores["lse_c"] >= 0.0 and abs(scores["lse_offset_frames"]) <= 7
    short = MetricScorer(None, sync_expert=build_sync_expert(load_config("tiny").sync).eval())._lse(frames[:3], clip)
    assert all("shorter than the sync window" in reason for reason in short.values())
