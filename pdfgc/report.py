"""An HTML data set (and training) report with plots, for people who would rather look.

Reads only what preprocessing wrote (manifest.parquet, quarantine.parquet and the label
members of the shards) and, optionally, metric histories that the caller fetched from the
tracker. Plots are PNG files embedded as base64, so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pdfgc.io import atomic_write_text
from pdfgc.preprocess.splits import SPEAKER_MODE, split_mode, split_summary

_logger = logging.getLogger(__name__)
POSE_NAMES = ("pitch", "yaw", "roll", "tx", "ty", "tz")
THUMBS = 24


def _figure_to_img(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img src="data:image/png;base64,{data}">'


def _array_to_img(image: np.ndarray) -> str:
    import cv2

    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return f'<img src="data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}">' if ok else ""


def _plot_pose(pose: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
    for axis, column, name in zip(axes, range(3), POSE_NAMES):
        values = pose[:, column]
        axis.hist(values[np.isfinite(values)], bins=40, color="#4472c4")
        axis.set_title(f"{name} (deg)")
    return _figure_to_img(fig)


def _plot_blink(blink: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5, 2.8))
    for column, name in enumerate(("left eye", "right eye")):
        values = blink[:, column]
        axis.hist(values[np.isfinite(values)], bins=40, alpha=0.6, label=name)
    axis.set_title("eye aspect ratio")
    axis.legend()
    return _figure_to_img(fig)


def _plot_quality(manifest: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    columns = [c for c in manifest.columns if c.startswith("quality_") and pd.api.types.is_numeric_dtype(manifest[c])]
    if not columns:
        return "<p>no quality columns</p>"
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.6), squeeze=False)
    for axis, column in zip(axes[0], columns):
        axis.hist(manifest[column].dropna(), bins=20, color="#70ad47")
        axis.set_title(column.removeprefix("quality_"), fontsize=9)
    return _figure_to_img(fig)


def _plot_curves(curves: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 2.8), squeeze=False)
    for axis, (stage, metrics) in zip(axes[0], curves.items()):
        for name, values in metrics.items():
            axis.plot(values, label=name)
        axis.set_title(f"stage {stage}")
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
    return _figure_to_img(fig)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="t", float_format=lambda v: f"{v:.3g}")


def _splits_section(manifest: pd.DataFrame) -> str:
    """Speakers and samples per split, the rule that made them, and the fallback warning."""
    counts = pd.DataFrame([{"split": name, **values} for name, values in split_summary(manifest).items()])
    mode = split_mode(manifest)
    note = f"<p>rule: <b>{html.escape(str(mode))}</b></p>"
    if mode not in (None, SPEAKER_MODE):
        note += ("<p><b>Warning:</b> too few speakers for speaker-disjoint splits; samples are split "
                 "by clip, so a speaker can be on both sides (see split.min_speakers).</p>")
    return note + _table(counts)


def build_report(
    out_path: Path,
    manifest: pd.DataFrame,
    quarantine: pd.DataFrame,
    labels: Mapping[str, np.ndarray],
    thumbnails: Sequence[np.ndarray] = (),
    curves: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Path:
    """Write the report.

    Args:
        manifest: rows of manifest.parquet.
        quarantine: rows of quarantine.parquet.
        labels: concatenated per-frame label arrays (``pose`` (N, 6), ``blink`` (N, 2), ...).
        thumbnails: RGB uint8 face crops to show (first frame of some samples).
        curves: ``{stage: {metric: values per step}}`` from the tracker.
        extra: ``{title: already-escaped HTML}`` sections appended at the end.
    """
    parts = [f"<h1>pdfgc data set report</h1><p>{len(manifest)} samples, "
             f"{int(manifest['n_frames'].sum()) if 'n_frames' in manifest else 0} frames, "
             f"{manifest['speaker'].nunique() if 'speaker' in manifest else 0} speakers, "
             f"{len(quarantine)} quarantined videos.</p>"]
    if "speaker" in manifest:
        per_speaker = manifest.groupby("speaker").agg(samples=("key", "count"), frames=("n_frames", "sum")).reset_index()
        parts.append("<h2>Speakers</h2>" + _table(per_speaker))
    if "split" in manifest:
        parts.append("<h2>Splits</h2>" + _splits_section(manifest))
    if len(quarantine):
        parts.append("<h2>Quarantine</h2>" + _table(quarantine[[c for c in ("source", "stage", "reason") if c in quarantine]]))
    if "pose" in labels and len(labels["pose"]):
        parts.append("<h2>Head pose</h2>" + _plot_pose(labels["pose"]))
    if "blink" in labels and len(labels["blink"]):
        parts.append("<h2>Blink</h2>" + _plot_blink(labels["blink"]))
    parts.append("<h2>Quality</h2>" + _plot_quality(manifest))
    if thumbnails:
        parts.append("<h2>Faces</h2><div>" + "".join(_array_to_img(t) for t in thumbnails[:THUMBS]) + "</div>")
    if curves:
        parts.append("<h2>Training losses</h2>" + _plot_curves(curves))
    for title, body in (extra or {}).items():
        parts.append(f"<h2>{html.escape(title)}</h2>{body}")
    style = "body{font-family:sans-serif;margin:2em} img{margin:2px} table.t td,table.t th{padding:2px 8px}"
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>pdfgc report</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    atomic_write_text(out_path, page)
    _logger.info("report written to %s", out_path)
    return out_path
