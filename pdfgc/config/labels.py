"""The labels section: which backend computes each per-frame label."""

from __future__ import annotations

from typing import Literal

from pdfgc.config.base import Section


class LabelsConfig(Section):
    """Which backend computes each label; licensed backends read weights from ``weights_dir``."""

    landmarks: Literal["dlib", "dlib-subpixel", "fan"] = "dlib"
    """68 face landmarks. 'dlib-subpixel': the same predictor located to 1/3 pixel instead of
    whole pixels (about 40 % less landmark jitter on 224 px faces, about 0.7 ms more per frame;
    docs/LABELS.md); 'fan': the licensed FAN network."""
    pose: Literal["pnp", "deep3d"] = "pnp"
    """Head pose: 'pnp' solves a 3D face template against the landmarks; 'deep3d' runs the
    licensed Deep3DFaceRecon."""
    eyes: Literal["landmarks", "learned"] = "landmarks"
    """Gaze. 'learned': gaze from a learned estimator (``gaze_resnet50.pth`` in ``weights_dir``);
    blink always comes from the landmarks."""
    expression: Literal["landmarks", "emoca"] = "landmarks"
    """Expression code: from landmark geometry, or the licensed EMOCA network."""
    weights_dir: str | None = None
    """Folder with licensed model files (FAN, Deep3DFaceRecon + BFM, EMOCA + FLAME)."""
