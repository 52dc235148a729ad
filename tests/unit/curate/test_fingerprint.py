"""pHash and audio fingerprint on real footage: a re-encoded, 5 % cropped and rescaled copy of
a clip is a near-duplicate; the other real clip is not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pdfgc.config import AudioConfig
from pdfgc.config.ops import CurateConfig
from pdfgc.curate.filters import is_near_duplicate
from pdfgc.curate.fingerprint import (HASH_BITS, audio_distance, audio_fingerprint, frame_hash_distance, hamming,
                                      phash)
from pdfgc.curate.measures import SampleFacts
from pdfgc.media.audio import log_mel
from pdfgc.media.decode import decode_audio
from tests.helpers.media import FAST_H264, ffmpeg

SECONDS = 3
SIDE = 128
FRAMES = 8


def decoded_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-t", str(SECONDS), "-vf",
                          f"fps=25,scale={SIDE}:{SIDE}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, SIDE, SIDE, 3)


def facts_of(path: Path) -> SampleFacts:
    frames = decoded_frames(path)
    picks = np.linspace(0, len(frames) - 1, FRAMES).round().astype(int)
    wave = decode_audio(str(path), 16000)[: SECONDS * 16000]
    mel = log_mel(wave, SECONDS * 25, AudioConfig())
    return SampleFacts(frame_hashes=[phash(frames[i]) for i in picks], audio_bits=audio_fingerprint(mel))


@pytest.fixture(scope="module")
def clips(real_videos: list[Path], tmp_path_factory) -> dict[str, SampleFacts]:
    folder = tmp_path_factory.mktemp("dups")
    copy = folder / "copy.mp4"
    ffmpeg("-i", str(real_videos[0]), "-t", str(SECONDS + 1),
           "-vf", "crop=iw*0.95:ih*0.95:iw*0.025:ih*0.025,scale=400:400", *FAST_H264, "-crf", "32",
           "-c:a", "aac", "-b:a", "48k", "-ar", "22050", str(copy))
    return {"original": facts_of(real_videos[0]), "copy": facts_of(copy), "other": facts_of(real_videos[1])}


def test_phash_of_identical_images_is_equal_and_of_inverted_image_is_far():
    image = cv2.resize(np.tile(np.arange(64, dtype=np.uint8)[None, :] * 4, (64, 1)), (64, 64))
    image[10:30, 20:40] = 255
    assert phash(image) == phash(image.copy())
    assert hamming(phash(image), phash(255 - image)) > HASH_BITS // 2


def test_reencoded_cropped_copy_is_a_near_duplicate(clips):
    duplicate, frames, audio = is_near_duplicate(clips["original"], clips["copy"], CurateConfig())
    assert duplicate, (frames, audio)
    assert frames <= 10 and audio <= 0.2


def test_a_different_real_clip_is_not_a_duplicate(clips):
    duplicate, frames, audio = is_near_duplicate(clips["original"], clips["other"], CurateConfig())
    assert not duplicate
    assert frames > 16 and audio > 0.3


def test_audio_distance_tolerates_a_block_of_offset_and_not_a_mismatch():
    rng = np.random.default_rng(0)
    bits = rng.random((30, 16)) > 0.5
    assert audio_distance(bits, bits[1:]) == 0.0
    assert audio_distance(bits, rng.random((30, 16)) > 0.5) > 0.3
    assert audio_distance(bits, np.zeros((0, 16), bool)) == 1.0


def test_frame_hash_distance_matches_neighbours():
    hashes = [1 << i for i in range(8)]
    assert frame_hash_distance(hashes, hashes) == 0.0
    assert frame_hash_distance(hashes, []) == HASH_BITS
