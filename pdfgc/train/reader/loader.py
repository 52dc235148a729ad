"""Training batches from WebDataset shards: safe decoding, deterministic order, exact resume.

The pipeline per rank (and per DataLoader worker) is a ``wds.DataPipeline``:

1. ``_EpochShardSource``: an endless stream of shard URLs. Epoch ``e`` shuffles the shard list
   with ``seed + e`` (the same on every rank), then gives each reader slot (rank x worker) its
   share: whole shards when there are at least as many shards as slots, otherwise every slot
   reads every shard and keeps every ``n_slots``-th sample (the sample-level split that small
   data sets need).
2. fsspec opening, tar member expansion (``tarfile`` "r:" for seekable files, webdataset's
   ``tar_file_expander`` otherwise) and webdataset's ``group_by_keys``, with a rate-limited
   log-and-continue handler for unreadable tars.
3. ``_refuse_unsafe``: raises UnsafeShardError for pickle-like members or unsafe names. Nothing
   is decoded by webdataset: members stay bytes until this module decodes them itself.
4. the split: only the keys ``manifest.parquet`` puts in this split (``pdfgc.train.reader.splits``).
5. ``_plan_samples``: picks the frames each sample contributes from ``face_ok.npy`` only,
   with an RNG seeded by (seed, slot, sample index), so a pick never depends on where a run
   started; then a shuffle buffer seeded by (seed, slot). Epoch markers from the reader let
   ``_require_samples`` stop a stream that has no usable sample instead of spinning forever.
6. fast-forward: a resumed run drops the first ``start_step`` batches' worth of plans without
   decoding a single image.
7. ``wds.batched`` of the plans, collated by ``BatchDecoder``, which decodes just the picked
   JPEG frames straight into the batch, and ``with_epoch`` so that every rank yields exactly
   the same number of batches.

Images travel as uint8 (3, S, S) tensors, 4 times lighter than float32 through the batch and
the copy to the device; ``batch_to_device`` moves a batch and turns every uint8 tensor (an
image, by this module's contract) into float in [-1, 1] there. At the paper preset (nine 224 px
frames per stage-1 sample) float32 frames made the loader 2.4 times slower than the tar read.
"""

from __future__ import annotations

import glob
import io
import logging
import math
import os
import random
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import braceexpand
import cv2
import fsspec
import numpy as np
import torch
import torch.nn.functional as F
import webdataset as wds
from webdataset.tariterators import group_by_keys, tar_file_expander

from pdfgc.config import PdfgcConfig
from pdfgc.curate.view import training_keys
from pdfgc.train.reader.splits import SplitSelection, require_samples, select_split
from pdfgc.train.reader.sync_plan import plan_sync_window, sync_mel_windows
from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.preprocess.writer import check_member_name
from pdfgc.stages import stage_config
from pdfgc.train.reader.tarstream import iter_regular_members

_logger = logging.getLogger(__name__)

MEL_ROWS_PER_FRAME = 4
LABEL_NAMES = ("pose", "expression", "gaze", "blink", "landmarks")
ERROR_LOG_INTERVAL_S = 30.0
REDUCED_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                        8: cv2.IMREAD_REDUCED_COLOR_8}
"""libjpeg scales in the DCT domain: decoding a 224 crop for a 64 model reads it at 112 (2x less work)."""
NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER = re.compile(rb"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (False|True), 'shape': \(([\d, ]*)\), *\}")
NPY_CACHE = "__npy__"
"""Sample-dict key holding the arrays already parsed from the sample's .npy members."""
WDS_META_MEMBER = re.compile(r"__[^/]*__($|/)")
"""Members webdataset's own tar reader skips (``__meta__`` style names)."""
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class RateLimitedLogAndContinue:
    """A webdataset handler: log a bad tar/sample at most once per interval, then go on."""

    def __init__(self, interval_s: float = ERROR_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.suppressed = 0
        self._last = -float("inf")

    def __call__(self, exn: Exception) -> bool:
        if isinstance(exn, UnsafeShardError):
            raise exn
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            _logger.warning("skipping unreadable shard data (%d similar suppressed): %r", self.suppressed, exn)
            self._last, self.suppressed = now, 0
        else:
            self.suppressed += 1
        return True


def expand_shards(shards: str | list[str]) -> list[str]:
    """Brace patterns, folders (their ``*.tar`` sorted) and lists, in order, as URLs."""
    items = [shards] if isinstance(shards, str) else list(shards)
    urls: list[str] = []
    for item in items:
        if "://" not in item and os.path.isdir(item):
            urls.extend(sorted(glob.glob(os.path.join(item, "*.tar"))))
        else:
            urls.extend(braceexpand.braceexpand(item))
    missing = [u for u in urls if "://" not in u and not os.path.isfile(u)]
    if missing:
        raise InputError(f"shard file(s) not found: {', '.join(missing[:3])}")
    if not urls:
        raise InputError(f"no shards found in {shards!r}")
    return urls


@dataclass(frozen=True)
class ReaderSlot:
    """Which share of the data one reader (rank x DataLoader worker) reads."""

    index: int
    count: int


def _logical_worker(start_step: int) -> tuple[int, int]:
    """(role, workers) of this DataLoader worker. A DataLoader always asks worker 0 first, so a
    run resumed after ``start_step`` batches rotates the roles: worker w plays the part of the
    worker that would have produced batch ``start_step + w`` in an uninterrupted run."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return 0, 1
    return (info.id + start_step) % info.num_workers, info.num_workers


def _current_slot(rank: int, world_size: int, start_step: int) -> ReaderSlot:
    worker, workers = _logical_worker(start_step)
    return ReaderSlot(index=rank * workers + worker, count=world_size * workers)


class _EpochShardSource(torch.utils.data.IterableDataset):
    """Endless shard URLs: reshuffled each epoch with ``seed + epoch``, split over reader slots."""

    def __init__(self, urls: list[str], seed: int, slot: ReaderSlot) -> None:
        super().__init__()
        self.urls, self.seed, self.slot = urls, seed, slot
        self.split_samples = len(urls) < slot.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        epoch = 0
        while True:
            order = list(self.urls)
            random.Random(self.seed + epoch).shuffle(order)
            mine = order if self.split_samples else order[self.slot.index :: self.slot.count]
            for url in mine:
                yield {"url": url, "epoch": epoch}
            epoch += 1


def _open_urls(source: Iterable[dict[str, Any]], handler: Callable[[Exception], bool]) -> Iterator[dict[str, Any]]:
    for item in source:
        try:
            with fsspec.open(item["url"], "rb") as stream:
                yield {**item, "stream": stream}
        except Exception as exn:  # noqa: BLE001 - the handler decides (log and continue)
            if not handler(exn):
                break


EPOCH_END = "__epoch_end__"
"""Marker item that ``_read_tars`` puts after each epoch's shards; filters pass it through."""


def _keep_slot_samples(samples: Iterable[dict[str, Any]], slot: ReaderSlot, active: bool) -> Iterator[dict[str, Any]]:
    """When shards are fewer than slots, keep every ``slot.count``-th sample of each epoch."""
    counter = 0
    for sample in samples:
        if EPOCH_END in sample:
            counter = 0
        elif active and counter % slot.count != slot.index:
            counter += 1
            continue
        else:
            counter += 1
        yield sample


def _refuse_unsafe(samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for sample in samples:
        if EPOCH_END not in sample:
            _check_member_names(sample)
        yield sample


def _check_member_names(sample: dict[str, Any]) -> None:
    """The writer's member-name rule, applied to every member of a read sample."""
    key = str(sample.get("__key__"))
    for ext in sample:
        if not ext.startswith("__"):
            try:
                check_member_name(f"{key}.{ext}")
            except UnsafeShardError as exc:
                raise UnsafeShardError(f"{sample.get('__url__')}: {exc}; refusing the shard") from None


def _select_split(samples: Iterable[dict[str, Any]], selection: SplitSelection) -> Iterator[dict[str, Any]]:
    for sample in samples:
        if EPOCH_END in sample or selection.contains(sample["__key__"]):
            yield sample


def _keep_view_keys(samples: Iterable[dict[str, Any]], keys: frozenset[str] | None) -> Iterator[dict[str, Any]]:
    """Only the samples a curated view keeps (``train.view``); all when no view is set."""
    for sample in samples:
        if keys is None or EPOCH_END in sample or sample["__key__"] in keys:
            yield sample


def _load_npy(sample: dict[str, Any], name: str) -> np.ndarray:
    """The sample's ``name.npy`` as an array, parsed once per sample (kept in the sample dict)."""
    cache = sample.setdefault(NPY_CACHE, {})
    if name in cache:
        return cache[name]
    payload = sample.get(f"{name}.npy")
    if payload is None:
        raise InputError(f"{sample.get('__url__')}: sample {sample.get('__key__')} has no {name}.npy")
    try:
        cache[name] = read_npy(payload)
    except ValueError as exc:
        raise InputError(f"{sample.get('__url__')}: {sample.get('__key__')}.{name}.npy: {exc}") from None
    return cache[name]


def read_npy(payload: bytes) -> np.ndarray:
    """A read-only array from .npy bytes, never unpickling.

    ``np.save``'s usual header is matched by a regex (``np.load`` parses it with
    ``ast.literal_eval``, a fifth of the loader's time); any other header goes to
    ``np.load(allow_pickle=False)``. Object dtypes are refused either way."""
    match = None
    if payload[:6] == NPY_MAGIC and payload[6] in (1, 2, 3):
        length_bytes = 2 if payload[6] == 1 else 4
        start = 8 + length_bytes
        header_end = start + int.from_bytes(payload[8:start], "little")
        match = NPY_HEADER.match(payload[start:header_end])
    if match is None:
        return np.load(io.BytesIO(payload), allow_pickle=False)
    dtype = np.dtype(match.group(1).decode())
    if dtype.hasobject:
        raise ValueError("object arrays are refused")
    shape = tuple(int(n) for n in match.group(3).split(b",") if n.strip())
    flat = np.frombuffer(payload, dtype=dtype, count=math.prod(shape), offset=header_end)
    return flat.reshape(shape, order="F" if match.group(2) == b"True" else "C")


@dataclass(frozen=True)
class FramePlan:
    """Frames one sample contributes: ``driver`` is frame t; the lists depend on the stage."""

    driver: int
    others: tuple[int, ...] = ()
    window: tuple[int, ...] = ()


class StagePlanner:
    """Chooses frames per stage from the usable-frame mask (no image decoding)."""

    def __init__(self, stage: str, cfg: PdfgcConfig) -> None:
        self.stage = stage
        self.k_app = cfg.train.stage1.k_frames
        self.k_window = cfg.train.stage3.k_frames
        self.sync_cfg = cfg.sync

    def __call__(self, face_ok: np.ndarray, rng: np.random.Generator) -> FramePlan | None:
        ok = np.flatnonzero(face_ok)
        if self.stage == "sync":
            planned = plan_sync_window(face_ok, rng, self.sync_cfg)
            return FramePlan(*planned) if planned else None
        if self.stage == "critic":
            return FramePlan(int(rng.choice(ok))) if ok.size else None
        if ok.size < 2:
            return None
        if self.stage == "3":
            return self._plan_window(face_ok, ok, rng)
        driver = int(rng.choice(ok))
        rest = ok[ok != driver]
        if self.stage == "2":
            return FramePlan(driver, (int(rng.choice(rest)),))
        return FramePlan(driver, self._pick(rest, self.k_app, rng))

    def _plan_window(self, face_ok: np.ndarray, ok: np.ndarray, rng: np.random.Generator) -> FramePlan | None:
        half = self.k_window // 2
        centres = [t for t in ok if t - half >= 0 and t - half + self.k_window <= face_ok.size
                   and face_ok[t - half : t - half + self.k_window].all()]
        if not centres:
            return None
        driver = int(rng.choice(centres))
        window = tuple(range(driver - half, driver - half + self.k_window))
        return FramePlan(driver, self._pick(ok[ok != driver], self.k_app, rng), window)

    @staticmethod
    def _pick(candidates: np.ndarray, count: int, rng: np.random.Generator) -> tuple[int, ...]:
        replace = candidates.size < count
        return tuple(int(i) for i in rng.choice(candidates, size=count, replace=replace))


def usable_frames(sample: dict[str, Any]) -> np.ndarray:
    """Frames with a face and every label finite (T,) bool: a face can still lack a label,
    e.g. gaze is NaN while both eyes are closed."""
    usable = _load_npy(sample, "face_ok").astype(bool)
    for name in LABEL_NAMES:
        values = _load_npy(sample, name)
        usable &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return usable


def _plan_samples(
    samples: Iterable[dict[str, Any]], planner: StagePlanner, seed: int, slot: ReaderSlot
) -> Iterator[dict[str, Any]]:
    """Attach a FramePlan; the RNG is seeded by the sample's position in this reader's stream."""
    index = 0
    for sample in samples:
        if EPOCH_END in sample:
            yield sample
            continue
        rng = np.random.default_rng([seed, slot.index, slot.count, index])
        index += 1
        plan = planner(usable_frames(sample), rng)
        if plan is None:
            _logger.debug("sample %s has too few face frames for stage %s", sample["__key__"], planner.stage)
            continue
        yield {**sample, "__plan__": plan}


def _require_samples(samples: Iterable[dict[str, Any]], stage: str, split: str) -> Iterator[dict[str, Any]]:
    """The source is endless: an epoch with no usable sample would spin forever, so stop it.
    Consumes the epoch markers."""
    kept = 0
    for sample in samples:
        if EPOCH_END not in sample:
            kept += 1
            yield sample
        elif kept == 0:
            raise InputError(f"no sample in these shards is usable for stage {stage} in split {split!r}")
        else:
            kept = 0


def _skip(samples: Iterable[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    iterator = iter(samples)
    for _ in range(count):
        next(iterator, None)
    yield from iterator


ImageSource = Callable[[FramePlan], "int | tuple[int, ...]"]
STAGE_IMAGES: dict[str, dict[str, ImageSource]] = {
    "critic": {"image": attrgetter("driver")},
    "1": {"driver": attrgetter("driver"), "app_frames": attrgetter("others")},
    "2": {"frames": attrgetter("driver"), "frames2": lambda plan: plan.others[0]},
    "3": {"driver": attrgetter("driver"), "app_frames": attrgetter("others"), "window": attrgetter("window")},
    "sync": {"window": attrgetter("window")},
}
"""Each stage's image keys and the plan's frame (3, S, S) or frames (K, 3, S, S) behind them."""


class BatchDecoder:
    """Collation of planned samples: decodes only their planned frames and labels into the
    stage's batch tensors.

    Frames are written straight into their place in the batch: one write per frame, where
    decoding per sample and then stacking wrote every 224 px frame twice. In a DataLoader worker
    the batch is allocated in shared memory (as torch's ``default_collate`` does), so it reaches
    the main process without another copy."""

    def __init__(self, stage: str, cfg: PdfgcConfig) -> None:
        self.stage = stage
        self.size = cfg.model.image_size
        self.window_frames = cfg.audio.window_frames
        self.sync_frames = cfg.sync.frames

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        plans: list[FramePlan] = [s["__plan__"] for s in samples]
        readers = [_FrameReader(s, _load_npy(s, "frame_offsets"), self.size) for s in samples]
        batch: dict[str, Any] = {"key": [s["__key__"] for s in samples]}
        for name, source in STAGE_IMAGES[self.stage].items():
            batch[name] = self._images([source(plan) for plan in plans], readers)
        extras = [self._sample_tensors(s, plan, reader.scale)  # known once a frame is decoded
                  for s, plan, reader in zip(samples, plans, readers, strict=True)]
        for name in extras[0]:
            values = [e[name] for e in extras]
            batch[name] = torch.stack(values, out=batch_buffer((len(values), *values[0].shape), values[0].dtype))
        return batch

    def _images(self, frames: list[int | tuple[int, ...]], readers: list[_FrameReader]) -> torch.Tensor:
        per_sample = () if isinstance(frames[0], int) else (len(frames[0]),)
        out = batch_buffer((len(frames), *per_sample, 3, self.size, self.size), torch.uint8)
        for b, (indices, reader) in enumerate(zip(frames, readers, strict=True)):
            single = isinstance(indices, int)
            write_model_images(reader.decode((indices,) if single else indices), out[b : b + 1] if single else out[b])
        return out

    def _sample_tensors(self, sample: dict[str, Any], plan: FramePlan, scale: float) -> dict[str, torch.Tensor]:
        labels = {name: _load_npy(sample, name) for name in LABEL_NAMES}
        out = {name: torch.from_numpy(labels[name][plan.driver].astype(np.float32)) for name in LABEL_NAMES}
        out["landmarks"] = out["landmarks"] * scale  # (68, 2) in S pixels
        if self.stage == "2":
            out["landmarks2"] = torch.from_numpy(labels["landmarks"][plan.others[0]].astype(np.float32)) * scale
        if self.stage in ("2", "3"):
            mel = _load_npy(sample, "mel")
            out["mel"] = self._mel_window(mel, plan.driver)
        if self.stage == "sync":
            out.update(sync_mel_windows(_load_npy(sample, "mel"), plan.driver, plan.others, self.sync_frames, audio_window))
        if self.stage == "3":
            out["mel_window"] = torch.stack([self._mel_window(mel, t) for t in plan.window])
        return out

    def _mel_window(self, mel: np.ndarray, t: int) -> torch.Tensor:
        return torch.from_numpy(audio_window(mel, t, self.window_frames))


def batch_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised batch tensor; in shared memory inside a DataLoader worker."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


def audio_window(mel: np.ndarray, t: int, window_frames: int) -> np.ndarray:
    """Rows ``[4 (t - w//2), 4 (t - w//2 + w))`` of a (4T, 80) log-mel, zero-padded beyond the
    chunk (DATA_FORMAT.md alignment rule), as float32 (1, 80, 4w)."""
    first = MEL_ROWS_PER_FRAME * (t - window_frames // 2)
    rows = MEL_ROWS_PER_FRAME * window_frames
    out = np.zeros((rows, mel.shape[1]), dtype=np.float32)
    lo, hi = max(first, 0), min(first + rows, mel.shape[0])
    if hi > lo:
        out[lo - first : hi - first] = mel[lo:hi]
    return out.T[None]  # (1, 80, 20)


class _FrameReader:
    """Decodes single JPEG/WebP frames out of ``frames.mjpeg`` on demand, each once per sample."""

    def __init__(self, sample: dict[str, Any], offsets: np.ndarray, size: int) -> None:
        self.blob, self.offsets, self.size = sample["frames.mjpeg"], offsets, size
        self.where = f"{sample.get('__url__')}: {sample.get('__key__')}.frames.mjpeg"
        self.cache: dict[int, np.ndarray] = {}
        self.width = 0

    def decode(self, indices: tuple[int, ...]) -> list[np.ndarray]:
        """Frames as BGR uint8 (H, W, 3), as cv2 decodes them."""
        for t in indices:
            if t not in self.cache:
                self.cache[t] = self._decode(t)
        return [self.cache[t] for t in indices]

    @property
    def scale(self) -> float:
        """Model pixels per crop pixel (the frames' stored width, not their decoded one)."""
        return self.size / self.width

    def _decode(self, t: int) -> np.ndarray:
        """Frame ``t``, JPEG scaled down in the DCT domain where that still leaves at least the
        model size."""
        encoded = np.frombuffer(self.blob[self.offsets[t] : self.offsets[t + 1]], dtype=np.uint8)
        side = jpeg_width(encoded)
        factor = reduction_factor(side, self.size) if side is not None else 1
        bgr = cv2.imdecode(encoded, REDUCED_DECODE_FLAGS[factor])
        if bgr is None:
            raise InputError(f"{self.where}: frame {t} is not a decodable image")
        self.width = side if side is not None else bgr.shape[1]
        return bgr


def batch_to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to ``device``; uint8 ones (images in [0, 255]) become float in [-1, 1] there."""
    return {k: _value_to_device(v, device) for k, v in batch.items()}


def _value_to_device(value: Any, device: torch.device) -> Any:
    if not torch.is_tensor(value):
        return value
    value = value.to(device, non_blocking=True)
    return value.float().div_(127.5).sub_(1.0) if value.dtype == torch.uint8 else value


def write_model_images(frames: list[np.ndarray], out: torch.Tensor) -> None:
    """BGR uint8 (H, W, 3) frames, as cv2 decodes them -> ``out[i]``, RGB uint8 (3, S, S)
    (``batch_to_device`` scales them).

    A frame at the model size is split into its planes in reverse order, straight into ``out``
    (BGR -> RGB and channels-first in one pass, 4 times cheaper than converting and
    transposing). Other frames get the antialiased bilinear resize that synthesis applies to its
    crops (``pdfgc.synth.synthesize.to_tensor``), once per frame shape on channels-last data."""
    size = out.shape[-1]
    planes = out.numpy()
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        if frame.shape[:2] == (size, size):
            cv2.split(frame, [planes[i, 2], planes[i, 1], planes[i, 0]])
        else:
            by_shape.setdefault(frame.shape, []).append(i)
    for where in by_shape.values():
        rgb = np.stack([cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in where])
        images = torch.from_numpy(rgb).permute(0, 3, 1, 2)  # (N, 3, H, W)
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        for i, image in zip(where, images, strict=True):
            out[i].copy_(image)


def reduction_factor(side: int, size: int) -> int:
    """The largest JPEG decode reduction (1, 2, 4, 8) that still leaves at least ``size`` pixels."""
    return max(f for f in REDUCED_DECODE_FLAGS if side // f >= size or f == 1)


def jpeg_width(encoded: np.ndarray) -> int | None:
    """Width from a baseline/progressive JPEG's SOF header without decoding; None for other
    formats (WebP) or an unreadable header, which are then decoded at full size."""
    data = encoded.tobytes()
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in SOF_MARKERS:
            return int.from_bytes(data[pos + 7 : pos + 9], "big")
        pos += 2 + length
    return None


def _batches_for_worker(total: int, worker: int, workers: int) -> int:
    """How many of batches ``0 .. total-1`` a DataLoader worker yields (round-robin order)."""
    return max(0, (total - worker + workers - 1) // workers)


class StageBatchStream(torch.utils.data.IterableDataset):
    """The per-reader pipeline; wrap in a DataLoader(batch_size=None) for worker processes."""

    def __init__(self, urls: list[str], stage: str, cfg: PdfgcConfig, rank: int, world_size: int,
                 seed: int, start_step: int, num_batches: int, split: str) -> None:
        super().__init__()
        self.urls, self.stage, self.cfg = urls, stage, cfg
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.start_step, self.num_batches, self.split = start_step, num_batches, split
        self.batch_size = stage_config(cfg, stage).batch_size
        self.selection = select_split(urls, split, cfg.split)
        require_samples(self.selection, urls[0])
        self.view_keys = training_keys(cfg.train.view, urls) if cfg.train.view else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.pipeline())

    def pipeline(self) -> wds.DataPipeline:
        slot = _current_slot(self.rank, self.world_size, self.start_step)
        worker, workers = _logical_worker(self.start_step)
        source = _EpochShardSource(self.urls, self.seed, slot)
        handler = RateLimitedLogAndContinue()
        skip_batches = _batches_for_worker(self.start_step, worker, workers)
        mine = _batches_for_worker(self.start_step + self.num_batches, worker, workers) - skip_batches
        return wds.DataPipeline(
            source,
            lambda src: _read_tars(src, handler),
            lambda s: _keep_slot_samples(s, slot, source.split_samples),
            _refuse_unsafe,
            lambda s: _select_split(s, self.selection),
            lambda s: _keep_view_keys(s, self.view_keys),
            lambda s: _plan_samples(s, StagePlanner(self.stage, self.cfg), self.seed, slot),
            lambda s: _require_samples(s, self.stage, self.split),
            wds.shuffle(self.cfg.train.shuffle_buffer, initial=self.cfg.train.shuffle_buffer,
                        rng=random.Random(self.seed * 7919 + slot.index)),
            lambda s: _skip(s, skip_batches * self.batch_size),
            wds.batched(self.batch_size, collation_fn=BatchDecoder(self.stage, self.cfg), partial=False),
        ).with_epoch(mine)


def _seekable_tar_members(opened: dict[str, Any], handler: Callable[[Exception], bool]) -> Iterator[dict[str, Any]]:
    """Members of a seekable tar as webdataset's ``{"fname", "data", "__url__"}`` items.

    ``pdfgc.train.reader.tarstream`` parses ustar/PAX headers directly (several times faster than the
    stream mode "r|*" of webdataset's own iterator); non-seekable streams still go through
    webdataset's ``tar_file_expander``."""
    try:
        for name, data in iter_regular_members(opened["stream"]):
            if not WDS_META_MEMBER.match(name):
                yield {"fname": name, "data": data, "__url__": opened["url"]}
    except (tarfile.TarError, OSError, ValueError) as exn:
        exn.args = (*exn.args, opened["url"])
        if not handler(exn):
            raise
    yield {}  # end-of-shard marker, as webdataset's expander emits, so shards never mix in a group


def _read_tars(source: Iterable[dict[str, Any]], handler: Callable[[Exception], bool]) -> Iterator[dict[str, Any]]:
    """Tar expansion and webdataset's ``group_by_keys`` over fsspec-opened streams, with epoch markers."""
    epoch = 0
    for opened in _open_urls(source, handler):
        if opened["epoch"] != epoch:
            yield {EPOCH_END: epoch}
            epoch = opened["epoch"]
        seekable = getattr(opened["stream"], "seekable", lambda: False)()
        members = _seekable_tar_members(opened, handler) if seekable else tar_file_expander([opened], handler=handler)
        yield from group_by_keys(members, handler=handler)


def build_loader(
    shards: str | list[str], stage: str, cfg: PdfgcConfig, rank: int, world_size: int, seed: int,
    start_step: int = 0, num_batches: int | None = None, split: str = "train",
) -> Iterable[dict[str, Any]]:
    """Batches for ``stage`` on this rank: exactly ``num_batches`` of them (default: the stage's
    remaining steps), the same stream for the same (shards, seed, rank, world_size), resumed
    after ``start_step`` consumed batches. Only samples of ``split`` (train, val, test or all;
    ``pdfgc.train.reader.splits``) are read.

    Examples
    --------
    >>> loader = build_loader("data/pdfgc-{000000..000003}.tar", "1", cfg, rank=0, world_size=1, seed=0)
    >>> batch = next(iter(loader))  # batch["app_frames"]: (B, K, 3, S, S)
    """
    total = stage_config(cfg, stage).steps if num_batches is None else start_step + num_batches
    if total - start_step < 1:  # WebDataset's with_epoch reads 0 batches as "no limit"
        raise InputError(f"stage {stage}: no batch left to read (step {start_step} of {total})")
    stream = StageBatchStream(expand_shards(shards), stage, cfg, rank, world_size, seed,
                              start_step, total - start_step, split)
    if cfg.train.num_workers == 0:
        return stream
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.train.num_workers,
                                       persistent_workers=False)
