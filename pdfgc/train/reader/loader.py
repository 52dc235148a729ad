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

Frame choice lives in ``pdfgc.train.reader.plan``, batch decoding in ``pdfgc.train.reader.batch``.
"""

from __future__ import annotations

import glob
import logging
import os
import random
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import braceexpand
import fsspec
import numpy as np
import torch
import webdataset as wds
from webdataset.tariterators import group_by_keys, tar_file_expander

from pdfgc.config import LimitsConfig, PdfgcConfig
from pdfgc.curate.view import training_keys
from pdfgc.errors import InputError, UnsafeShardError
from pdfgc.shardformat import check_member_name
from pdfgc.stages import stage_config
from pdfgc.storage import is_remote, list_urls
from pdfgc.train.reader.batch import BatchDecoder
from pdfgc.train.reader.plan import StagePlanner, usable_frames
from pdfgc.train.reader.splits import SplitSelection, require_samples, select_split
from pdfgc.train.reader.tarstream import iter_regular_members

_logger = logging.getLogger(__name__)

ERROR_LOG_INTERVAL_S = 30.0
WDS_META_MEMBER = re.compile(r"__[^/]*__($|/)")
"""Members webdataset's own tar reader skips (``__meta__`` style names)."""


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
    """Brace patterns, folders (their ``*.tar`` sorted; local or fsspec URLs) and lists, in order, as URLs."""
    items = [shards] if isinstance(shards, str) else list(shards)
    urls: list[str] = []
    for item in items:
        if "://" not in item and os.path.isdir(item):
            urls.extend(sorted(glob.glob(os.path.join(item, "*.tar"))))
        elif is_remote(item) and not item.endswith(".tar") and "{" not in item:  # a remote folder
            urls.extend(list_urls(item, "*.tar"))
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


def _batches_for_worker(total: int, worker: int, workers: int) -> int:
    """How many of batches ``0 .. total-1`` a DataLoader worker yields (round-robin order)."""
    return max(0, (total - worker + workers - 1) // workers)


@dataclass(frozen=True)
class StreamRequest:
    """Which batches one rank reads: its place in the job, the data order's seed, where a
    resumed run starts, how many batches, and the split (train, val, test or all)."""

    rank: int
    world_size: int
    seed: int
    start_step: int
    num_batches: int
    split: str


class StageBatchStream(torch.utils.data.IterableDataset):
    """The per-reader pipeline; wrap in a DataLoader(batch_size=None) for worker processes."""

    def __init__(self, urls: list[str], stage: str, cfg: PdfgcConfig, request: StreamRequest) -> None:
        super().__init__()
        self.urls, self.stage, self.cfg = urls, stage, cfg
        self.rank, self.world_size, self.seed = request.rank, request.world_size, request.seed
        self.start_step, self.num_batches, self.split = request.start_step, request.num_batches, request.split
        self.batch_size = stage_config(cfg, stage).batch_size
        self.selection = select_split(urls, self.split, cfg.split)
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
            lambda src: _read_tars(src, handler, self.cfg.limits),
            lambda s: _keep_slot_samples(s, slot, source.split_samples),
            _refuse_unsafe,
            lambda s: _select_split(s, self.selection),
            lambda s: _keep_view_keys(s, self.view_keys),
            lambda s: _plan_samples(s, StagePlanner(self.stage, self.cfg.train, self.cfg.sync), self.seed, slot),
            lambda s: _require_samples(s, self.stage, self.split),
            wds.shuffle(self.cfg.train.shuffle_buffer, initial=self.cfg.train.shuffle_buffer,
                        rng=random.Random(self.seed * 7919 + slot.index)),
            lambda s: _skip(s, skip_batches * self.batch_size),
            wds.batched(self.batch_size, collation_fn=BatchDecoder(self.stage, self.cfg), partial=False),
        ).with_epoch(mine)


def _seekable_tar_members(opened: dict[str, Any], handler: Callable[[Exception], bool],
                          limits: LimitsConfig) -> Iterator[dict[str, Any]]:
    """Members of a seekable tar as webdataset's ``{"fname", "data", "__url__"}`` items.

    ``pdfgc.train.reader.tarstream`` parses ustar/PAX headers directly (several times faster than the
    stream mode "r|*" of webdataset's own iterator); non-seekable streams still go through
    webdataset's ``tar_file_expander``."""
    try:
        for name, data in iter_regular_members(opened["stream"], int(limits.max_member_mb * (1 << 20)), opened["url"]):
            if not WDS_META_MEMBER.match(name):
                _check_tar_member_name(name, opened["url"])
                yield {"fname": name, "data": data, "__url__": opened["url"]}
    except (tarfile.TarError, OSError, ValueError) as exn:
        exn.args = (*exn.args, opened["url"])
        if not handler(exn):
            raise
    yield {}  # end-of-shard marker, as webdataset's expander emits, so shards never mix in a group


def _check_tar_member_name(name: str, url: str) -> None:
    """Every member, with or without an extension (webdataset would skip an extensionless one
    silently), must pass the writer's name rule."""
    try:
        check_member_name(name)
    except UnsafeShardError as exc:
        raise UnsafeShardError(f"{url}: {exc}; refusing the shard") from None


def _read_tars(source: Iterable[dict[str, Any]], handler: Callable[[Exception], bool],
               limits: LimitsConfig) -> Iterator[dict[str, Any]]:
    """Tar expansion and webdataset's ``group_by_keys`` over fsspec-opened streams, with epoch markers."""
    epoch = 0
    for opened in _open_urls(source, handler):
        if opened["epoch"] != epoch:
            yield {EPOCH_END: epoch}
            epoch = opened["epoch"]
        seekable = getattr(opened["stream"], "seekable", lambda: False)()
        members = _seekable_tar_members(opened, handler, limits) if seekable else tar_file_expander([opened], handler=handler)
        yield from group_by_keys(members, handler=handler)


def build_loader(
    shards: str | list[str], stage: str, cfg: PdfgcConfig, rank: int, world_size: int, seed: int,
    start_step: int = 0, num_batches: int | None = None,
) -> Iterable[dict[str, Any]]:
    """Batches for ``stage`` on this rank: exactly ``num_batches`` of them (default: the stage's
    remaining steps), the same stream for the same (shards, seed, rank, world_size), resumed
    after ``start_step`` consumed batches.

    Examples
    --------
    >>> loader = build_loader("data/pdfgc-{000000..000003}.tar", "1", cfg, rank=0, world_size=1, seed=0)
    >>> batch = next(iter(loader))  # batch["app_frames"]: (B, K, 3, S, S)
    """
    total = stage_config(cfg, stage).steps if num_batches is None else start_step + num_batches
    if total - start_step < 1:  # WebDataset's with_epoch reads 0 batches as "no limit"
        raise InputError(f"stage {stage}: no batch left to read (step {start_step} of {total})")
    request = StreamRequest(rank, world_size, seed, start_step, total - start_step, "train")
    return _stream_loader(expand_shards(shards), stage, cfg, request)


def build_val_loader(
    shards: str | list[str], stage: str, cfg: PdfgcConfig, num_batches: int, split: str = "val",
) -> Iterable[dict[str, Any]]:
    """``num_batches`` batches of a held-out ``split`` (val, test or all: speakers that
    ``manifest.parquet`` keeps out of training), read as one process with the config's seed."""
    request = StreamRequest(0, 1, cfg.train.seed, 0, num_batches, split)
    return _stream_loader(expand_shards(shards), stage, cfg, request)


def _stream_loader(urls: list[str], stage: str, cfg: PdfgcConfig, request: StreamRequest) -> Iterable[dict[str, Any]]:
    stream = StageBatchStream(urls, stage, cfg, request)
    if cfg.train.num_workers == 0:
        return stream
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.train.num_workers,
                                       persistent_workers=False)
