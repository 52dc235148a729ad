"""Sample planning: which frames of a shard sample a stage uses, chosen from its arrays alone.

A sample's ``.npy`` members are parsed once (``sample_array``) without unpickling. A
``StagePlanner`` picks, from the usable-frame mask (``usable_frames``: a face and every label
finite), the driver frame and the stage's other frames, so that no image is decoded before a
sample is known to be usable.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdfgc.config import TrainConfig
from pdfgc.errors import InputError

LABEL_NAMES = ("pose", "expression", "gaze", "blink", "landmarks")
NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER = re.compile(rb"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (False|True), 'shape': \(([\d, ]*)\), *\}")
NPY_CACHE = "__npy__"
"""Sample-dict key holding the arrays already parsed from the sample's .npy members."""


def sample_array(sample: dict[str, Any], name: str) -> np.ndarray:
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

    def __init__(self, stage: str, cfg: TrainConfig) -> None:
        self.stage = stage
        self.k_app = cfg.stage1.k_frames
        self.k_window = cfg.stage3.k_frames

    def __call__(self, face_ok: np.ndarray, rng: np.random.Generator) -> FramePlan | None:
        ok = np.flatnonzero(face_ok)
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
    usable = sample_array(sample, "face_ok").astype(bool)
    for name in LABEL_NAMES:
        values = sample_array(sample, name)
        usable &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return usable

