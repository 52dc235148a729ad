"""The label-backend interface: frames (and landmarks) in, named per-frame arrays out.

Two kinds of backend:
- a ``FaceLandmarker`` finds faces and 68 landmarks (iBUG 300-W / FAN scheme) in a frame; the
  preprocessing tracker calls it on decoded frames.
- a ``Labeler`` turns a batch of aligned crops plus their landmarks into label arrays
  (``pose``, ``blink``, ``gaze``, ``expression``), each described by a ``LabelSpec``.

Frames where ``face_ok`` is False get NaN in every float label: "no face" is never encoded as
zeros that look like a frontal face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class LabelSpec:
    """What one label array holds, per frame."""

    name: str
    """Shard member name without extension (``pose`` -> ``pose.npy``)."""
    dtype: str
    shape: tuple[int, ...]
    """Per-frame shape; the stored array is ``(T, *shape)``."""
    unit: str
    convention: str


@dataclass(frozen=True)
class FaceBox:
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@runtime_checkable
class FaceLandmarker(Protocol):
    name: str
    version: str

    def detect(self, frame: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB uint8 frame (H, W, 3), best first."""
        ...

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> tuple[np.ndarray, float]:
        """68 (x, y) points in frame pixels, float32 (68, 2), and a confidence in [0, 1]."""
        ...


@runtime_checkable
class Labeler(Protocol):
    name: str
    version: str
    specs: tuple[LabelSpec, ...]

    def __call__(
        self, frames: np.ndarray, landmarks: np.ndarray, face_ok: np.ndarray
    ) -> dict[str, np.ndarray]:
        """frames (T, H, W, 3) uint8 RGB; landmarks (T, 68, 2) float32 in the same pixels;
        face_ok (T,) bool. Returns ``{spec.name: array (T, *spec.shape)}`` for every spec."""
        ...
