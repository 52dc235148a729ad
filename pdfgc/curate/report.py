"""The HTML report of a curated view: counts per reason, each measure's distribution before
and after curation, and frames of every dropped sample with its reason. One self-contained
file (images embedded as base64)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from pdfgc.curate.view import MANIFEST_MEASURES, MEMBER_MEASURES, CuratedView
from pdfgc.io import atomic_write_text
from pdfgc.report import _figure_to_img

MAX_DROPPED_SHOWN = 200
STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
         "padding:3px 8px}img.t{width:96px;margin:1px}.drop{margin:6px 0}")


def _histograms(table: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in (*MANIFEST_MEASURES, *MEMBER_MEASURES) if np.isfinite(table[name]).any()]
    if not names:
        return "<p>no measures</p>"
    columns = 4
    rows = (len(names) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for axis, name in zip(axes.ravel(), names):
        before = table[name][np.isfinite(table[name])]
        after = table.loc[table["kept"], name]
        after = after[np.isfinite(after)]
        bins = np.histogram_bin_edges(before, bins=20)
        axis.hist(before, bins=bins, color="#bbbbbb", label=f"before ({len(before)})")
        axis.hist(after, bins=bins, color="#4472c4", alpha=0.8, label=f"after ({len(after)})")
        axis.set_title(name, fontsize=9)
        axis.legend(fontsize=7)
    for axis in axes.ravel()[len(names):]:
        axis.axis("off")
    fig.tight_layout()
    return _figure_to_img(fig)


def _reason_table(table: pd.DataFrame) -> str:
    counts = table.loc[~table["kept"], "reason"].value_counts().sort_index()
    rows = "".join(f"<tr><td>{html.escape(reason)}</td><td>{count}</td></tr>" for reason, count in counts.items())
    return (f"<p>{int(table['kept'].sum())} of {len(table)} samples kept, {int((~table['kept']).sum())} dropped.</p>"
            f"<table><tr><th>reason</th><th>samples</th></tr>{rows}</table>")


def _dropped(view: CuratedView) -> str:
    dropped = view.table[~view.table["kept"]].head(MAX_DROPPED_SHOWN)
    parts = []
    for row in dropped.itertuples():
        thumbs = "".join(f'<img class="t" src="data:image/jpeg;base64,{base64.b64encode(t).decode()}">'
                         for t in view.facts[row.key].thumbs if t)
        parts.append(f'<div class="drop"><b>{html.escape(row.key)}</b>: {html.escape(row.reason)} '
                     f"({html.escape(row.detail)})<br>{thumbs}</div>")
    return "".join(parts) or "<p>nothing dropped</p>"


def write_view_report(view: CuratedView, path: str | Path, title: str) -> Path:
    body = (f"<h1>{html.escape(title)}</h1><h2>Counts per reason</h2>{_reason_table(view.table)}"
            f"<h2>Distributions before and after</h2>{_histograms(view.table)}"
            f"<h2>Dropped samples</h2>{_dropped(view)}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    return atomic_write_text(path, page)
