"""Turn one video into staged WebDataset samples: the per-video worker the flow distributes.

``process_video`` never raises: bad input becomes a quarantined ``VideoResult``. Memory stays
bounded: frames stream from ffmpeg and at most one chunk (``data.chunk_frames`` frames plus a
short no-face gap) is held at a time. Output, both written atomically, json last:

    out_dir/_staging/<uid>.tar    the video's samples (absent when quarantined)
    out_dir/_staging/<uid>.json   the done marker: the result and one manifest row per sample

Segment policy (see also ``track``): a segment ends at a shot cut, a frame with too many faces,
a different face, or more than ``MAX_GAP_FRAMES`` frames in a row without a face (trailing
no-face frames are trimmed; shorter gaps stay in the sample with ``face_ok`` False). Each
segment is cut into chunks of ``chunk_frames``; a chunk shorter than ``min_chunk_frames`` is dropped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import fsspec
import numpy as np

from pdfgc.config import LabelsConfig, PdfgcConfig
from pdfgc.media import align, audio, decode, probe
from pdfgc.preprocess import remote, writer
from pdfgc.preprocess.discover import VideoSpec
from pdfgc.media.track import FaceTracker, TrackStep, landmark_box
from pdfgc.errors import MediaError
from pdfgc.io import atomic_path, atomic_write_json
from pdfgc.labels.base import FaceBox, FaceLandmarker, Labeler
from pdfgc.labels.registry import build_labelers, build_landmarker, label_versions
from pdfgc.shardformat import sanitize_key

_logger = logging.getLogger(__name__)

STAGING_DIR = remote.STAGING_DIR
MAX_GAP_FRAMES = 12
"""Frames (about 0.5 s) a face may be missing before the segment ends."""
MIN_DECODED_FRACTION = 0.8
"""Fewer decoded frames than this fraction of duration x fps means the file is truncated."""
HASH_BLOCK_BYTES = 1 << 20
CONFIG_SECTIONS = ("audio", "data", "labels")


@dataclass
class VideoResult:
    """Outcome of ``process_video`` for one video (picklable; also the staging marker's body)."""

    spec: VideoSpec
    ok: bool
    reason: str
    """'' when ok, else a quarantine reason (``MediaError.reason`` or 'internal_error')."""
    error: str
    stage: str
    """The stage that was running when it stopped ('done' when ok)."""
    n_samples: int
    n_frames: int
    staged: str | None
    """Path of the staged tar, None when quarantined."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: hash, probe, audio, decode, detect, landmarks, align, labels, encode, write."""
    source_sha256: str = ""
    uid: str = ""


@dataclass
class Chunk:
    """Contiguous frames ``[start, start + T)`` of one face segment."""

    start: int
    frames: list[np.ndarray]
    steps: list[TrackStep]


def staging_dir(out_dir: str) -> Path:
    return Path(out_dir) / STAGING_DIR


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def uid_from(source: str, source_sha256: str, cfg: PdfgcConfig) -> str:
    text = f"{source}\n{source_sha256}\n{cfg.digest(*CONFIG_SECTIONS)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def video_uid(spec: VideoSpec, cfg: PdfgcConfig) -> str:
    """sha256 of the source path, its content hash and the audio/data/labels config digest."""
    return uid_from(spec.source, file_sha256(spec.source), cfg)


class _Timer:
    """Accumulates seconds per stage and remembers the stage running now."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.stage = "start"

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        previous, self.stage = self.stage, stage
        began = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - began
        self.stage = previous


class _TimedLandmarker:
    """Wraps a FaceLandmarker to time detection and landmark prediction separately."""

    def __init__(self, inner: FaceLandmarker, timer: _Timer) -> None:
        self.inner, self.timer = inner, timer
        self.name, self.version = inner.name, inner.version

    def detect(self, frame: np.ndarray) -> list[FaceBox]:
        with self.timer("detect"):
            return self.inner.detect(frame)

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> tuple[np.ndarray, float]:
        with self.timer("landmarks"):
            return self.inner.landmarks(frame, box)


@functools.lru_cache(maxsize=4)
def _backends(labels_json: str) -> tuple[FaceLandmarker, list[Labeler]]:
    """Load the models once per process (the dlib predictor alone takes about a second)."""
    labels_cfg = LabelsConfig.model_validate_json(labels_json)
    return build_landmarker(labels_cfg), build_labelers(labels_cfg)


def process_video(spec: VideoSpec, cfg: PdfgcConfig, out_dir: str) -> VideoResult:
    """Process one video into ``out_dir/_staging``; never raises (failures are quarantined).

    For a remote ``out_dir`` (an fsspec URL) the video is staged in a local temp folder and
    uploaded, tar first and marker last (``pdfgc.preprocess.remote``).
    """
    if not remote.is_remote(out_dir):
        return _process_into(spec, cfg, out_dir)
    with tempfile.TemporaryDirectory(prefix="pdfgc-stage-") as local_out:
        result = _process_into(spec, cfg, local_out)
        if result.uid:
            remote.upload_staged(local_out, out_dir, result.uid)
    if result.staged:
        result.staged = f"{out_dir.rstrip('/')}/{STAGING_DIR}/{Path(result.staged).name}"
    return result


def _process_into(spec: VideoSpec, cfg: PdfgcConfig, out_dir: str) -> VideoResult:
    timer = _Timer()
    result = VideoResult(spec, False, "", "", "start", 0, 0, None)
    rows: list[dict] = []
    try:
        with _local_file(spec.source) as local_path:
            rows = _run(spec, cfg, out_dir, local_path, timer, result)
        result.ok, result.stage = True, "done"
    except MediaError as exc:
        result.reason, result.error, result.stage = exc.reason, str(exc), timer.stage
        _logger.info("%s: quarantined (%s)", spec.source, exc)
    except Exception as exc:  # noqa: BLE001 - the worker must never raise; the error is recorded
        _logger.exception("%s: internal error in stage %s", spec.source, timer.stage)
        result.reason, result.stage = "internal_error", timer.stage
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    result.timings = timer.timings
    if not result.ok:
        result.n_samples, result.staged = 0, None
    _write_marker(out_dir, result, rows if result.ok else [])
    return result


@contextmanager
def _local_file(source: str) -> Iterator[str]:
    """The source itself when local; a temporary download for fsspec URLs (best effort)."""
    if "://" not in source or source.startswith("file://"):
        yield source.removeprefix("file://")
        return
    with tempfile.TemporaryDirectory(prefix="pdfgc-src-") as folder:
        local = os.path.join(folder, Path(source).name)
        fsspec.filesystem(fsspec.core.split_protocol(source)[0]).get(source, local)
        yield local


def _run(spec: VideoSpec, cfg: PdfgcConfig, out_dir: str, path: str, timer: _Timer, result: VideoResult) -> list[dict]:
    """Stage the video's samples; return their manifest rows (raises MediaError for bad input)."""
    with timer("hash"):
        result.source_sha256 = spec.sha256 or file_sha256(path)
        result.uid = uid_from(spec.source, result.source_sha256, cfg)
    with timer("probe"):
        info = probe.probe_video(path, cfg.data.min_chunk_frames / cfg.data.fps)
    with timer("audio"):
        wave = decode.decode_audio(path, cfg.audio.sample_rate)
        _check_audio(path, wave, cfg.data.min_audio_rms)
    staged = staging_dir(out_dir) / f"{result.uid}.tar"
    with atomic_path(staged) as tmp, open(tmp, "wb") as stream, writer.TarSampleWriter(stream) as tar:
        with timer("setup"):
            builder = _SampleBuilder(spec, cfg, result, wave, tar, timer)
        builder.run(path, info)
    if result.n_samples == 0:
        staged.unlink(missing_ok=True)
        raise MediaError(path, builder.empty_reason(), builder.empty_detail())
    result.staged = str(staged)
    return builder.rows


def _check_audio(path: str, wave: np.ndarray, min_rms: float) -> None:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if rms < min_rms:
        raise MediaError(path, "silent_audio", f"RMS {rms:.2e} < {min_rms:.2e}")


def _write_marker(out_dir: str, result: VideoResult, rows: list[dict]) -> None:
    """The done marker, written after the staged tar; skipped when the file could not even be hashed."""
    if result.uid:
        atomic_write_json(staging_dir(out_dir) / f"{result.uid}.json", {"result": asdict(result), "rows": rows})


def _with_last(items: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """(item, is_last) pairs: one item of look-ahead, so the end of the clip is known in time."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for upcoming in iterator:
        yield current, False
        current = upcoming
    yield current, True


def _timed(items: Iterator[np.ndarray], timer: _Timer, stage: str) -> Iterator[np.ndarray]:
    iterator = iter(items)
    while True:
        with timer(stage):
            item = next(iterator, None)
        if item is None:
            return
        yield item


class _SampleBuilder:
    """Streams frames through the tracker, assembles chunks and writes each as a sample."""

    def __init__(self, spec: VideoSpec, cfg: PdfgcConfig, result: VideoResult, wave: np.ndarray,
                 tar: writer.TarSampleWriter, timer: _Timer) -> None:
        self.spec, self.cfg, self.result, self.tar, self.timer = spec, cfg, result, tar, timer
        self.raw_wave = wave
        self.wave = audio.rms_normalize(wave, cfg.audio.rms_target)
        landmarker, self.labelers = _backends(cfg.labels.model_dump_json())
        self.tracker = FaceTracker(_TimedLandmarker(landmarker, timer), cfg.data.detect_every, cfg.data.max_faces)
        self.versions = label_versions(cfg.labels)
        self.rows: list[dict] = []
        self.current: Chunk | None = None
        self.gap = 0
        self.face_frames = 0
        self.too_many_frames = 0

    def run(self, path: str, info: probe.ProbeInfo) -> None:
        frames = decode.iter_frames(path, info, self.cfg.data.fps, self.cfg.data.max_decode_side)
        index = -1
        for index, (frame, is_last) in enumerate(_with_last(_timed(frames, self.timer, "decode"))):
            step = self.tracker.step(frame)
            self.face_frames += step.landmarks is not None
            self.too_many_frames += step.too_many_faces
            self._push(index, frame, step, total_frames=index + 1 if is_last else None)
        self.result.n_frames = index + 1
        self._close_segment(total_frames=index + 1)
        _check_decoded(path, index + 1, info, self.cfg.data.fps)

    def _push(self, index: int, frame: np.ndarray, step: TrackStep, total_frames: int | None) -> None:
        if step.breaks_segment:
            self._close_segment(total_frames=None)
        if step.landmarks is None:
            if self.current is None:
                return
            self.gap += 1
        else:
            self.gap = 0
            self.current = self.current or Chunk(index, [], [])
        self.current.frames.append(frame)
        self.current.steps.append(step)
        if self.gap > MAX_GAP_FRAMES:
            self._close_segment(total_frames=None)
        elif len(self.current.frames) == self.cfg.data.chunk_frames:
            self._emit(self.current, total_frames)
            self.current = Chunk(index + 1, [], [])

    def _close_segment(self, total_frames: int | None) -> None:
        chunk, self.current, self.gap = self.current, None, 0
        if chunk is None:
            return
        keep = max((i + 1 for i, s in enumerate(chunk.steps) if s.landmarks is not None), default=0)
        chunk.frames, chunk.steps = chunk.frames[:keep], chunk.steps[:keep]
        ends_clip = total_frames is not None and chunk.start + keep == total_frames
        if keep >= self.cfg.data.min_chunk_frames:
            self._emit(chunk, total_frames if ends_clip else None)

    def _emit(self, chunk: Chunk, total_frames: int | None) -> None:
        members, row = _build_sample(self, chunk, total_frames)
        with self.timer("write"):
            self.tar.write_sample(row["key"], members)
        self.rows.append(row)
        self.result.n_samples += 1

    def empty_reason(self) -> str:
        if self.too_many_frames > self.face_frames:
            return "multiple_faces"
        return "no_face" if self.face_frames == 0 else "no_long_face_segment"

    def empty_detail(self) -> str:
        return f"{self.face_frames} face frames, {self.too_many_frames} frames with too many faces"


def _check_decoded(path: str, n_frames: int, info: probe.ProbeInfo, fps: int) -> None:
    expected = info.duration * fps
    if n_frames == 0:
        raise MediaError(path, "not_a_video", "no frame decoded")
    if n_frames < MIN_DECODED_FRACTION * expected - 1:
        raise MediaError(path, "truncated", f"{n_frames} frames decoded, about {expected:.0f} expected")


def _build_sample(builder: _SampleBuilder, chunk: Chunk, total_frames: int | None) -> tuple[dict[str, bytes], dict]:
    """Align, label, encode one chunk: (members, manifest row)."""
    cfg, timer = builder.cfg, builder.timer
    face_ok = np.array([s.landmarks is not None for s in chunk.steps])  # (T,)
    landmarks = np.stack([s.landmarks if s.landmarks is not None else np.full((68, 2), np.nan, np.float32)
                          for s in chunk.steps])  # (T, 68, 2)
    with timer("align"):
        matrix = align.chunk_transform(landmarks, face_ok, cfg.data.shard_crop_size, cfg.data.alignment, cfg.data.box_scale)
        crops = np.stack([align.warp_crop(f, matrix, cfg.data.shard_crop_size) for f in chunk.frames])  # (T, S, S, 3)
        crop_landmarks = align.transform_points(landmarks, matrix)  # (T, 68, 2)
    with timer("labels"):
        labels = _run_labelers(builder.labelers, crops, crop_landmarks, face_ok)
    stop = chunk.start + len(chunk.frames)
    with timer("mel"):
        mel = audio.mel_rows(builder.wave, chunk.start, stop, cfg.audio, total_frames, cfg.data.fps)
    with timer("encode"):
        blob, offsets = writer.encode_frames(crops, cfg.data.image_format, cfg.data.image_quality)
        quality = _chunk_quality(builder, chunk, crops, landmarks, face_ok, labels)
        meta = _meta(builder, chunk, stop, matrix, quality, face_ok)
        members = {
            "frames.mjpeg": blob, "frame_offsets.npy": writer.npy_bytes(offsets),
            "mel.npy": writer.npy_bytes(mel.astype(np.float16)),
            "landmarks.npy": writer.npy_bytes(crop_landmarks), "face_ok.npy": writer.npy_bytes(face_ok),
            "meta.json": writer.json_bytes(meta),
        } | {f"{name}.npy": writer.npy_bytes(array) for name, array in labels.items()}
    return members, _manifest_row(meta, sorted(labels))


def _run_labelers(labelers: list[Labeler], crops: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray) -> dict[str, np.ndarray]:
    labels: dict[str, np.ndarray] = {}
    for labeler in labelers:
        produced = labeler(crops, landmarks, face_ok)
        for spec in labeler.specs:
            array = np.asarray(produced[spec.name], dtype=spec.dtype)
            if np.issubdtype(array.dtype, np.floating):
                array[~face_ok] = np.nan
            labels[spec.name] = array
    return labels


def _chunk_quality(builder: _SampleBuilder, chunk: Chunk, crops: np.ndarray, landmarks: np.ndarray,
                  face_ok: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-chunk quality measures (``quality_*`` manifest columns)."""
    sizes = [landmark_box(points).height for points in landmarks[face_ok]]
    sharpness = [cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for crop in crops[face_ok]]
    samples_per_frame = builder.cfg.audio.sample_rate // builder.cfg.data.fps
    raw = builder.raw_wave[chunk.start * samples_per_frame:(chunk.start + len(chunk.frames)) * samples_per_frame]
    pose = labels.get("pose")
    pose_range = float(np.nanmax(np.ptp(pose[face_ok][:, :3], axis=0))) if pose is not None and face_ok.any() else float("nan")
    return {
        "face_px": float(np.mean(sizes)),
        "sharpness": float(np.mean(sharpness)),
        "landmark_confidence": float(np.mean([s.confidence for s in chunk.steps if s.landmarks is not None])),
        "pose_range_deg": pose_range,
        "audio_dbfs": audio.rms_dbfs(raw),
        "duration_s": len(chunk.frames) / builder.cfg.data.fps,
        "face_fraction": float(face_ok.mean()),
    }


def _meta(builder: _SampleBuilder, chunk: Chunk, stop: int, matrix: np.ndarray, quality: dict, face_ok: np.ndarray) -> dict:
    spec, cfg = builder.spec, builder.cfg
    chunk_index = builder.result.n_samples
    return {
        "key": sanitize_key(f"{spec.speaker}_{spec.video}_{spec.clip}_{chunk_index:03d}"),
        "uid": builder.result.uid, "speaker": spec.speaker, "video": spec.video, "clip": spec.clip,
        "source": spec.source, "source_sha256": builder.result.source_sha256, "extra": spec.extra,
        "chunk": chunk_index, "frame_start": chunk.start, "frame_end": stop, "n_frames": stop - chunk.start,
        "face_frames": int(face_ok.sum()), "fps": cfg.data.fps, "crop_size": cfg.data.shard_crop_size,
        "image_format": cfg.data.image_format, "alignment": cfg.data.alignment,
        "transform": np.round(matrix, 6).tolist(), "label_versions": builder.versions,
        "quality": quality, "config_hash": cfg.digest(*CONFIG_SECTIONS),
    }


def _manifest_row(meta: dict, label_names: list[str]) -> dict:
    row = {name: meta[name] for name in (
        "key", "uid", "speaker", "video", "clip", "source", "source_sha256", "chunk",
        "frame_start", "frame_end", "n_frames", "face_frames", "fps", "config_hash")}
    row["labels"] = ",".join(label_names)
    row["backends"] = json.dumps(meta["label_versions"], sort_keys=True)
    return row | {f"quality_{name}": value for name, value in meta["quality"].items()}
