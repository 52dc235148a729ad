"""The sync proxy finds a known audio shift made with ffmpeg on a generated sample clip.

The sample generator opens the mouth with the speech loudness, so mouth opening and loudness
agree at offset 0; ``adelay`` (audio later) and ``atrim`` (audio earlier) move them apart by a
known number of 40 ms frames, and the proxy must report exactly that shift.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pdfgc.config import LabelsConfig
from pdfgc.eval.measure import FaceMeasurer, MeasureOptions
from pdfgc.eval.metrics.lips import loudness_per_frame, sync_proxy
from pdfgc.media.decode import decode_audio

REPO_ROOT = Path(__file__).resolve().parents[3]
SIZE = 256
SECONDS = 3.0
FRAME_SECONDS = 0.04


@pytest.fixture(scope="module")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("sample_generate_for_sync", REPO_ROOT / "datasets/sample/generate.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    out = tmp_path_factory.mktemp("sync_sample")
    return generator.generate_sample_set(out, speakers=1, clips_per_speaker=1, seconds=SECONDS, size=SIZE)[0]


@pytest.fixture(scope="module")
def mouth(sample_clip: Path) -> np.ndarray:
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sample_clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, SIZE, SIZE, 3)
    measures = FaceMeasurer(LabelsConfig(), MeasureOptions(identity=False, emotion=False)).measure(frames)
    assert measures.face_rate == 1.0
    return measures.mouth_opening


def _shifted_loudness(clip: Path, frames: int, shift: int, tmp_path: Path) -> np.ndarray:
    """Loudness of the clip's audio moved ``shift`` frames later (earlier when negative) by ffmpeg."""
    if shift >= 0:
        audio_filter = f"adelay={int(shift * FRAME_SECONDS * 1000)}:all=1"
    else:
        audio_filter = f"atrim=start={-shift * FRAME_SECONDS},asetpts=PTS-STARTPTS"
    target = tmp_path / f"shift{shift}.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip), "-af", audio_filter,
                    "-c:v", "copy", str(target)], check=True)
    return loudness_per_frame(decode_audio(str(target), 16000), frames)


@pytest.mark.parametrize("shift", [0, 5, -4])
def test_sync_proxy_finds_an_ffmpeg_audio_shift(sample_clip: Path, mouth: np.ndarray, shift: int,
                                                tmp_path: Path) -> None:
    loudness = _shifted_loudness(sample_clip, len(mouth), shift, tmp_path)
    result = sync_proxy(mouth, loudness, max_offset=10)
    assert result.offset == -shift  # audio later = the mouth leads it
    assert result.correlation > 0.5
