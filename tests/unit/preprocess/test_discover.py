"""discover_videos on the three input layouts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pdfgc.preprocess.discover import discover_videos
from pdfgc.errors import InputError

VOX_META = """Identity  : \tid00012
Reference : \t21Uxsk56VDQ
Offset    : \t0
FV Conf   : \t16.647\t(1)
ASD Conf  : \t5.586

FRAME \tX \tY \tW \tH
000109 \t0.472 \t0.231 \t0.230 \t0.409
000110 \t0.473 \t0.232 \t0.229 \t0.408
"""


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_voxceleb_layout_parses_ids_and_metadata(tmp_path: Path) -> None:
    touch(tmp_path / "id00012" / "21Uxsk56VDQ" / "00001.mp4")
    touch(tmp_path / "id00012" / "21Uxsk56VDQ" / "00001.txt", VOX_META)
    touch(tmp_path / "id00015" / "abc" / "00003.mp4")
    specs = discover_videos(str(tmp_path))
    assert [(s.speaker, s.video, s.clip) for s in specs] == [("id00012", "21Uxsk56VDQ", "00001"), ("id00015", "abc", "00003")]
    assert specs[0].extra == {"identity": "id00012", "reference": "21Uxsk56VDQ", "offset": "0",
                              "fv_conf": "16.647\t(1)", "asd_conf": "5.586", "n_track_frames": 2}
    assert specs[1].extra == {}


def test_flat_folder_uses_the_stem_as_speaker(tmp_path: Path) -> None:
    touch(tmp_path / "WDA_Alice_000.mp4")
    touch(tmp_path / "notes.txt")
    (spec,) = discover_videos(str(tmp_path))
    assert spec.speaker == "WDA_Alice_000" and spec.source == str(tmp_path / "WDA_Alice_000.mp4")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_with_optional_speaker(tmp_path: Path, suffix: str) -> None:
    table = pd.DataFrame({"path": ["/v/a.mp4", "/v/b.mp4"], "speaker": ["alice", None]})
    path = tmp_path / f"list{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    specs = discover_videos(str(path))
    assert [(s.source, s.speaker) for s in specs] == [("/v/a.mp4", "alice"), ("/v/b.mp4", "b")]


def test_missing_input_and_missing_column_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        discover_videos(str(tmp_path / "nowhere"))
    bad = tmp_path / "list.csv"
    bad.write_text("file\n/v/a.mp4\n")
    with pytest.raises(InputError, match="'path'"):
        discover_videos(str(bad))
