"""Curation rules on hand-made measure tables: each dropped sample gets the first rule's reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pdfgc.config.ops import CurateConfig
from pdfgc.curate.filters import NEAR_DUPLICATE, SPEAKER_CAP, duplicate_drops, speaker_cap_drops, threshold_drops
from pdfgc.curate.measures import SampleFacts, landmark_jitter, lip_sync_proxy
from pdfgc.curate.view import VIEW_COLUMNS, apply_rules


def table(**columns) -> pd.DataFrame:
    n = len(columns["key"])
    base = {"shard": ["a.tar"] * n, "speaker": ["s"] * n, "video": ["v"] * n, "split": ["train"] * n,
            "face_px": [100.0] * n, "sharpness": [50.0] * n, "pose_range_deg": [5.0] * n, "audio_dbfs": [-20.0] * n,
            "duration_s": [4.0] * n, "yaw_deg": [0.0] * n, "landmark_jitter": [0.01] * n, "lip_sync": [0.5] * n}
    frame = pd.DataFrame({**base, **columns})
    if "clip" not in frame:
        frame["clip"] = frame["key"]
    frame["clip_id"] = frame["speaker"] + "/" + frame["video"] + "/" + frame["clip"]
    return frame


def test_thresholds_name_the_measure_and_skip_unknown_values():
    frame = table(key=["ok", "small", "blurry_and_small", "unknown"], face_px=[100.0, 40.0, 30.0, np.nan],
                  sharpness=[50.0, 50.0, 1.0, 50.0])
    drops = threshold_drops(frame, CurateConfig(min_face_px=64, min_sharpness=10))
    assert drops["small"] == ("small_face", "face_px=40 < min_face_px=64")
    assert drops["blurry_and_small"][0] == "small_face"  # the first rule wins
    assert set(drops) == {"small", "blurry_and_small"}


def test_absolute_yaw_and_upper_bounds():
    frame = table(key=["left", "right", "front", "shaky"], yaw_deg=[-50.0, 50.0, 5.0, 0.0],
                  landmark_jitter=[0.0, 0.0, 0.0, 0.2])
    drops = threshold_drops(frame, CurateConfig(max_abs_yaw_deg=30, max_landmark_jitter=0.1))
    assert {k: v[0] for k, v in drops.items()} == {"left": "profile_pose", "right": "profile_pose", "shaky": "landmark_jitter"}


def facts(hashes: list[int], seed: int) -> SampleFacts:
    bits = np.random.default_rng(seed).random((30, 16)) > 0.5
    return SampleFacts(frame_hashes=hashes, audio_bits=bits)


def test_duplicates_keep_the_sharpest_copy_and_need_frames_and_audio():
    frame = table(key=["orig", "copy", "same_picture_other_sound", "other"], sharpness=[50.0, 40.0, 60.0, 50.0])
    found = {"orig": facts([0x0F0F0F0F0F0F0F0F] * 4, 1), "copy": facts([0x0F0F0F0F0F0F0F0E] * 4, 1),
             "same_picture_other_sound": facts([0x0F0F0F0F0F0F0F0F] * 4, 2), "other": facts([0xF0F0F0F0F0F0F0F0] * 4, 1)}
    drops = duplicate_drops(frame, found, CurateConfig())
    assert set(drops) == {"copy"}
    assert drops["copy"][0] == NEAR_DUPLICATE and "of orig" in drops["copy"][1]


def test_speaker_cap_keeps_the_sharpest_clips():
    frame = table(key=["a0", "a1", "b0", "c0"], clip=["a", "a", "b", "c"], sharpness=[10.0, 20.0, 30.0, 5.0])
    drops = speaker_cap_drops(frame, 1)
    assert set(drops) == {"a0", "a1", "c0"} and drops["a0"][0] == SPEAKER_CAP
    assert speaker_cap_drops(frame, None) == {}


def test_apply_rules_gives_every_sample_one_row_and_keeps_the_rest():
    frame = table(key=["ok", "small"], face_px=[100.0, 10.0])
    found = {"ok": facts([1], 1), "small": facts([2 ** 63], 2)}
    view = apply_rules(frame, found, CurateConfig(min_face_px=64))
    assert list(view.columns) == list(VIEW_COLUMNS)
    assert view.set_index("key").loc["small", "reason"] == "small_face"
    assert view.set_index("key").loc["ok", "kept"] and view.set_index("key").loc["ok", "reason"] == ""


def eyes_at(n: int) -> np.ndarray:
    landmarks = np.zeros((n, 68, 2))
    landmarks[:, 36:42] = [0.0, 0.0]
    landmarks[:, 42:48] = [10.0, 0.0]  # inter-ocular distance 10
    return landmarks


def test_landmark_jitter_ignores_smooth_motion_and_sees_noise():
    smooth = eyes_at(20) + np.arange(20)[:, None, None] * 2.0  # constant velocity: zero second difference
    assert landmark_jitter(smooth) == 0.0
    shaky = eyes_at(20)
    shaky[1::2] += [1.0, 0.0]  # +-1 px alternation: second difference 2 px, 0.2 inter-ocular
    assert np.isclose(landmark_jitter(shaky), 0.2)


def test_lip_sync_proxy_finds_a_lagged_correlation():
    n = 40
    opening = np.sin(np.arange(n) / 3.0)
    landmarks = eyes_at(n)
    landmarks[:, 66, 1] = 5 + 3 * opening  # lower lip moves, upper lip (62) stays at 0
    energy = np.roll(opening, 1)  # audio one frame later
    mel = np.repeat(energy[:, None], 4, axis=0) * np.ones((1, 80))
    assert lip_sync_proxy(landmarks, mel, max_lag=2) > 0.95
    assert lip_sync_proxy(landmarks, mel, max_lag=0) < 0.95
    assert np.isnan(lip_sync_proxy(landmarks[:5], mel[:20], max_lag=0))
