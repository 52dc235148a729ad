"""Speaker-disjoint train/val/test splits: disjoint, stable as speakers are added, clip fallback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pdfgc.config import SplitConfig, load_config
from pdfgc.errors import ConfigError
from pdfgc.preprocess import manifest
from pdfgc.preprocess.splits import CLIP_MODE, SPEAKER_MODE, assign_splits, clip_id, split_of, unit_hash, with_splits


def _rows(speakers: list[str], clips_per_speaker: int = 3, chunks: int = 2) -> pd.DataFrame:
    rows = [{"key": f"{s}_vid_{c:05d}_{k:03d}", "speaker": s}
            for s in speakers for c in range(clips_per_speaker) for k in range(chunks)]
    return pd.DataFrame(rows)


def test_unit_hash_is_stable_and_in_unit_interval() -> None:
    values = [unit_hash(0, f"id{i:05d}") for i in range(500)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert unit_hash(0, "id00001") == unit_hash(0, "id00001") != unit_hash(1, "id00001")
    assert 0.4 < sum(values) / len(values) < 0.6


def test_no_speaker_is_in_two_splits() -> None:
    table, assignment = with_splits(_rows([f"id{i:05d}" for i in range(60)]), SplitConfig())
    assert assignment.mode == SPEAKER_MODE and assignment.warning is None
    assert (table.groupby("speaker")["split"].nunique() == 1).all()
    assert set(table["split"]) == {"train", "val", "test"}


def test_fractions_are_followed_on_many_speakers() -> None:
    cfg = SplitConfig(val_fraction=0.2, test_fraction=0.1)
    splits = [split_of(f"id{i:05d}", cfg) for i in range(5000)]
    assert abs(splits.count("test") / 5000 - 0.1) < 0.02
    assert abs(splits.count("val") / 5000 - 0.2) < 0.02


def test_test_split_is_unchanged_when_speakers_are_added() -> None:
    cfg = SplitConfig()
    first = _rows([f"id{i:05d}" for i in range(40)])
    grown = pd.concat([first, _rows([f"new{i:04d}" for i in range(200)])], ignore_index=True)
    before, _ = with_splits(first, cfg)
    after, _ = with_splits(grown, cfg)
    old = after.iloc[: len(before)]
    assert old["split"].tolist() == before["split"].tolist()
    assert set(after.loc[after["split"] == "test", "speaker"]) >= set(before.loc[before["split"] == "test", "speaker"])
    new = after.iloc[len(before):]
    assert new["split"].tolist() == [split_of(s, cfg) for s in new["speaker"]]  # the same rule for newcomers


def test_fewer_than_min_speakers_falls_back_to_clip_hash_with_a_warning() -> None:
    table = _rows(["id00001", "id00002"], clips_per_speaker=30)
    assignment = assign_splits(table["key"].tolist(), table["speaker"].tolist(), SplitConfig())
    assert assignment.mode == CLIP_MODE
    assert "only 2 speaker(s)" in assignment.warning and CLIP_MODE in assignment.warning
    by_clip = pd.DataFrame({"clip": [clip_id(k) for k in table["key"]], "split": assignment.splits})
    assert (by_clip.groupby("clip")["split"].nunique() == 1).all()  # chunks of a clip stay together
    assert len(set(assignment.splits)) > 1


def test_fractions_that_leave_nothing_to_train_are_refused() -> None:
    with pytest.raises(ConfigError, match="val_fraction"):
        load_config("tiny", ["split.val_fraction=0.6", "split.test_fraction=0.5"])


def test_manifest_update_splits_reassigns_when_the_set_grows(tmp_path: Path) -> None:
    path = tmp_path / manifest.MANIFEST_FILE
    manifest.append_rows(path, _rows(["id00001"]).to_dict("records"), unique_by="key")
    assert set(manifest.update_splits(path, SplitConfig())["split_mode"]) == {CLIP_MODE}
    manifest.append_rows(path, _rows(["id00002", "id00003", "id00004"]).to_dict("records"), unique_by="key")
    table = manifest.update_splits(path, SplitConfig())
    assert set(table["split_mode"]) == {SPEAKER_MODE}
    assert table["split"].tolist() == [split_of(s, SplitConfig()) for s in table["speaker"]]
    assert manifest.read_table(path)["split"].tolist() == table["split"].tolist()


def test_presets_give_the_sample_speakers_every_split() -> None:
    """The demo's sample set (id00001..id00003) holds out a val and a test speaker under tiny."""
    cfg = load_config("tiny").split
    assert {split_of(f"id{i:05d}", cfg) for i in range(1, 4)} == {"train", "val", "test"}


def test_report_shows_the_splits_and_warns_about_the_fallback(tmp_path: Path) -> None:
    from pdfgc.report import build_report

    rows = _rows(["id00001", "id00002"], clips_per_speaker=10).assign(n_frames=50)
    table, _ = with_splits(rows, SplitConfig())
    page = build_report(tmp_path / "r.html", table, pd.DataFrame(), {}).read_text()
    assert "<h2>Splits</h2>" in page and CLIP_MODE in page and "Warning" in page
    table, _ = with_splits(_rows([f"id{i:05d}" for i in range(20)]).assign(n_frames=50), SplitConfig())
    page = build_report(tmp_path / "r.html", table, pd.DataFrame(), {}).read_text()
    assert "<h2>Splits</h2>" in page and "Warning" not in page


def test_preprocessing_summary_counts_speakers_per_split(tmp_path: Path) -> None:
    from flows.preprocess import format_summary
    from pdfgc.preprocess.pack import summarize

    table, _ = with_splits(_rows([f"id{i:05d}" for i in range(20)]).assign(n_frames=50, fps=25, uid="u"), SplitConfig())
    table.to_parquet(tmp_path / manifest.MANIFEST_FILE, index=False)
    summary = summarize(str(tmp_path))
    assert sum(v["speakers"] for v in summary["splits"].values()) == 20 and summary["split_mode"] == SPEAKER_MODE
    text = format_summary({**summary, "videos_total": 1, "videos_new": 0, "videos_ok": 0, "samples_new": 0,
                           "new_shards": [], "frames_per_s": 0.0})
    assert "split test (speakers / samples)" in text
