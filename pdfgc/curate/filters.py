"""The curation rules: threshold filters, near-duplicates, clips per speaker.

Each rule reads one column of the measures table (one row per sample) and returns, for the
samples it drops, a reason tag and a detail. A rule sees only the samples that earlier rules
kept, so every dropped sample has exactly one reason: the first rule that dropped it.
A measure that could not be computed (NaN) never triggers a threshold.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from pdfgc.config.ops import CurateConfig
from pdfgc.curate.fingerprint import audio_distance, frame_hash_distance
from pdfgc.curate.measures import SampleFacts

BAND_BITS = 16
"""Candidate duplicates share one 16-bit band of one frame hash (then the full check runs)."""
NEAR_DUPLICATE = "near_duplicate"
SPEAKER_CAP = "speaker_cap"


@dataclass(frozen=True)
class Threshold:
    """``reason`` drops a sample whose ``column`` is below ``min`` / above ``max`` (one of them set)."""

    reason: str
    column: str
    setting: str
    keep_above: bool
    absolute: bool = False


THRESHOLDS = (
    Threshold("small_face", "face_px", "min_face_px", keep_above=True),
    Threshold("blurry", "sharpness", "min_sharpness", keep_above=True),
    Threshold("pose_range", "pose_range_deg", "max_pose_range_deg", keep_above=False),
    Threshold("profile_pose", "yaw_deg", "max_abs_yaw_deg", keep_above=False, absolute=True),
    Threshold("too_short", "duration_s", "min_duration_s", keep_above=True),
    Threshold("quiet_audio", "audio_dbfs", "min_audio_dbfs", keep_above=True),
    Threshold("poor_lip_sync", "lip_sync", "min_lip_sync", keep_above=True),
    Threshold("landmark_jitter", "landmark_jitter", "max_landmark_jitter", keep_above=False),
)


def threshold_drops(table: pd.DataFrame, cfg: CurateConfig) -> dict[str, tuple[str, str]]:
    """``{key: (reason, detail)}`` of samples outside a configured bound."""
    drops: dict[str, tuple[str, str]] = {}
    for rule in THRESHOLDS:
        bound = getattr(cfg, rule.setting)
        if bound is None:
            continue
        for key, value in zip(table["key"], table[rule.column]):
            if key in drops or value is None or not math.isfinite(value):
                continue
            measured = abs(value) if rule.absolute else value
            failed = measured < bound if rule.keep_above else measured > bound
            if failed:
                sign = "<" if rule.keep_above else ">"
                drops[key] = (rule.reason, f"{rule.column}={measured:.4g} {sign} {rule.setting}={bound:g}")
    return drops


def _candidate_pairs(keys: list[str], facts: dict[str, SampleFacts]) -> set[tuple[str, str]]:
    """Pairs of samples that share one 16-bit band of some frame hash (locality-sensitive
    hashing: pairs with few differing bits almost always share a band; the rest are never compared)."""
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for key in keys:
        for value in set(facts[key].frame_hashes):
            for band in range(64 // BAND_BITS):
                buckets[(band, (value >> (band * BAND_BITS)) & 0xFFFF)].append(key)
    pairs: set[tuple[str, str]] = set()
    for members in buckets.values():
        pairs.update(combinations(sorted(set(members)), 2))
    return pairs


def is_near_duplicate(a: SampleFacts, b: SampleFacts, cfg: CurateConfig) -> tuple[bool, float, float]:
    """Both the frames and the audio must be close; returns (duplicate, frame distance, audio distance)."""
    frames = frame_hash_distance(a.frame_hashes, b.frame_hashes)
    audio = audio_distance(a.audio_bits, b.audio_bits)
    return frames <= cfg.max_phash_distance and audio <= cfg.max_audio_distance, frames, audio


def duplicate_drops(table: pd.DataFrame, facts: dict[str, SampleFacts], cfg: CurateConfig) -> dict[str, tuple[str, str]]:
    """Keep one sample of each group of near-duplicates: the one with the largest face (the
    highest-resolution copy), then the sharpest, then the first key; the others are dropped
    naming the one kept."""
    order = table.sort_values(["face_px", "sharpness", "key"], ascending=[False, False, True], na_position="last")
    rank = {key: i for i, key in enumerate(order["key"])}
    clip_of = dict(zip(table["key"], table["clip_id"]))
    drops: dict[str, tuple[str, str]] = {}
    for a, b in sorted(_candidate_pairs(list(table["key"]), facts), key=lambda pair: (min(rank[pair[0]], rank[pair[1]]), pair)):
        if clip_of[a] == clip_of[b]:
            continue
        keep, drop = (a, b) if rank[a] < rank[b] else (b, a)
        if keep in drops or drop in drops:
            continue
        duplicate, frames, audio = is_near_duplicate(facts[a], facts[b], cfg)
        if duplicate:
            drops[drop] = (NEAR_DUPLICATE, f"of {keep} (frame hash {frames:.1f}/64 bits, audio {audio:.2f})")
    return drops


def speaker_cap_drops(table: pd.DataFrame, cap: int | None) -> dict[str, tuple[str, str]]:
    """Keep the ``cap`` sharpest clips of each speaker (mean sharpness of their samples)."""
    if cap is None:
        return {}
    drops: dict[str, tuple[str, str]] = {}
    clips = table.groupby(["speaker", "clip_id"], sort=True)["sharpness"].mean().reset_index()
    for speaker, group in clips.groupby("speaker", sort=True):
        ordered = group.sort_values(["sharpness", "clip_id"], ascending=[False, True])
        for clip_id in ordered["clip_id"].iloc[cap:]:
            for key in table.loc[table["clip_id"] == clip_id, "key"]:
                drops[key] = (SPEAKER_CAP, f"speaker {speaker} keeps {cap} clip(s)")
    return drops
