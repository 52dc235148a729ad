"""Per-sample measures that the manifest does not hold, computed from a sample's shard members.

The manifest already has ``quality_face_px``, ``quality_sharpness``, ``quality_pose_range_deg``,
``quality_audio_dbfs`` and ``quality_duration_s`` (docs/DATA_FORMAT.md). From the members this
module adds the mean yaw, the landmark jitter, the lip-sync proxy, the frame hashes and the
audio fingerprint, plus a few small thumbnails for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pdfgc.config.ops import CurateConfig
from pdfgc.curate.fingerprint import audio_fingerprint, phash, sample_frame_indices
from pdfgc.eval.metrics.lips import sync_proxy
from pdfgc.preprocess.writer import load_npy

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
INNER_UPPER_LIP = 62
INNER_LOWER_LIP = 66
MEL_ROWS_PER_FRAME = 4
MIN_SYNC_FRAMES = 10
"""Fewer usable frames than this leave the lip-sync proxy undefined (NaN)."""
THUMB_SIDE = 96


@dataclass
class SampleFacts:
    """What curation knows about one sample beyond its manifest row."""

    yaw_deg: float = float("nan")
    landmark_jitter: float = float("nan")
    lip_sync: float = float("nan")
    frame_hashes: list[int] = field(default_factory=list)
    audio_bits: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), bool))
    thumbs: list[bytes] = field(default_factory=list)
    """JPEG thumbnails (for the report)."""


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres per frame (T,)."""
    return np.linalg.norm(landmarks[:, LEFT_EYE].mean(axis=1) - landmarks[:, RIGHT_EYE].mean(axis=1), axis=1)


def landmark_jitter(landmarks: np.ndarray) -> float:
    """Median over frames of the mean second difference of the landmarks, in inter-ocular units.

    Smooth head motion has a small second difference; tracking noise a large one."""
    if len(landmarks) < 3:
        return float("nan")
    second = landmarks[2:] - 2 * landmarks[1:-1] + landmarks[:-2]
    per_frame = np.linalg.norm(second, axis=2).mean(axis=1) / np.maximum(inter_ocular(landmarks[1:-1]), 1e-6)
    per_frame = per_frame[np.isfinite(per_frame)]
    return float(np.median(per_frame)) if per_frame.size else float("nan")


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap per frame in inter-ocular units (T,)."""
    gap = np.linalg.norm(landmarks[:, INNER_UPPER_LIP] - landmarks[:, INNER_LOWER_LIP], axis=1)
    return gap / np.maximum(inter_ocular(landmarks), 1e-6)


def frame_audio_energy(mel: np.ndarray, n_frames: int) -> np.ndarray:
    """Mean log-mel value of each video frame's 4 mel rows (T,)."""
    rows = np.asarray(mel[: n_frames * MEL_ROWS_PER_FRAME], np.float32)
    usable = len(rows) // MEL_ROWS_PER_FRAME
    return rows[: usable * MEL_ROWS_PER_FRAME].reshape(usable, -1).mean(axis=1)


def lip_sync_proxy(landmarks: np.ndarray, mel: np.ndarray, max_lag: int) -> float:
    """Best Pearson correlation between mouth opening and audio energy over lags of up to
    ``max_lag`` frames (the evaluation's ``sync_proxy``); NaN with fewer than
    ``MIN_SYNC_FRAMES`` usable frames."""
    return sync_proxy(mouth_opening(landmarks), frame_audio_energy(mel, len(landmarks)), max_lag,
                      MIN_SYNC_FRAMES).correlation


def decode_frames_at(members: dict[str, bytes], indices: list[int]) -> list[np.ndarray]:
    """RGB frames ``indices`` of a sample's ``frames.mjpeg`` (only those are decoded)."""
    offsets = load_npy(members["frame_offsets.npy"])
    blob = members["frames.mjpeg"]
    frames = []
    for t in indices:
        encoded = np.frombuffer(blob[int(offsets[t]) : int(offsets[t + 1])], np.uint8)
        bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        if bgr is not None:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


def _thumb(frame: np.ndarray) -> bytes:
    small = cv2.resize(frame, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return encoded.tobytes() if ok else b""


def sample_facts(members: dict[str, bytes], cfg: CurateConfig) -> SampleFacts:
    """Measures, hashes and thumbnails of one sample from its members (``field -> bytes``)."""
    landmarks = load_npy(members["landmarks.npy"]).astype(np.float64)
    mel = load_npy(members["mel.npy"])
    pose = load_npy(members["pose.npy"]) if "pose.npy" in members else np.zeros((0, 6), np.float32)
    face_ok = load_npy(members["face_ok.npy"]) if "face_ok.npy" in members else np.ones(len(landmarks), bool)
    face_frames = np.flatnonzero(face_ok)
    hash_frames = decode_frames_at(members, face_frames[sample_frame_indices(len(face_frames), cfg.phash_frames)].tolist())
    thumb_picks = sample_frame_indices(len(hash_frames), cfg.report_frames)
    yaw = pose[:, 1][np.isfinite(pose[:, 1])] if len(pose) else np.zeros(0)
    return SampleFacts(
        yaw_deg=float(yaw.mean()) if yaw.size else float("nan"),
        landmark_jitter=landmark_jitter(landmarks),
        lip_sync=lip_sync_proxy(landmarks, mel, cfg.lip_sync_max_lag),
        frame_hashes=[phash(frame) for frame in hash_frames],
        audio_bits=audio_fingerprint(mel),
        thumbs=[_thumb(hash_frames[i]) for i in thumb_picks],
    )
