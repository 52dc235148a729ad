"""``report.html`` of an evaluation: one self-contained page (images embedded as PNG).

Sections: what was evaluated, one table per setting (a metric per line; model, ground truth
and repeated source side by side), the cross-talk matrix as a heat map, skipped clips, and
frame grids (source | drivers | output) of some clips.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pdfgc.eval.results import METHODS, SETTINGS
from pdfgc.io import atomic_write_text

GRID_SIDE = 96
"""Side of each frame in the grids, in pixels."""
MAX_GRIDS = 6
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:80em} table{border-collapse:collapse;margin:0.5em 0}"
    " td,th{padding:3px 9px;border-bottom:1px solid #ddd;text-align:right} th:first-child,td:first-child{text-align:left}"
    " .why{color:#a33;font-size:85%} .heat td{width:6em;height:2.4em;text-align:center;border:1px solid #fff}"
    " figure{margin:1em 0} figcaption{font-size:90%;color:#444} img{image-rendering:pixelated}"
)


def _png(image: np.ndarray) -> str:
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return f'<img alt="frames" src="data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}">' if ok else ""


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "<td>-</td>"
    if row["value"] is None:
        return f'<td class="why" title="{html.escape(row["reason"])}">n/a: {html.escape(row["reason"][:60])}</td>'
    return f"<td>{row['value']:.4g}</td>"


def metric_tables(rows: list[dict[str, Any]]) -> str:
    """One table per setting: metric x method."""
    by_setting: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for row in rows:
        setting, _, metric = row["metric"].partition("/")
        by_setting.setdefault(setting, {}).setdefault(metric, {})[row["method"]] = row
    titles = {"self": "Self-driven reconstruction", "cross": "Cross-driven"}
    parts = []
    for setting, metrics in sorted(by_setting.items(), key=lambda item: SETTINGS.index(item[0]) if item[0] in SETTINGS else 99):
        head = "".join(f"<th>{m}</th>" for m in METHODS)
        body = "".join(f"<tr><td>{html.escape(metric)}</td>{''.join(_cell(cells.get(m)) for m in METHODS)}</tr>"
                       for metric, cells in sorted(metrics.items()))
        parts.append(f"<h2>{titles.get(setting, setting)}</h2><table><tr><th>metric</th>{head}</tr>{body}</table>")
    return "".join(parts)


def _heat_colour(value: float | None, top: float) -> str:
    if value is None:
        return "#eee"
    share = min(1.0, max(0.0, value / top)) if top > 0 else 0.0
    red, green, blue = 255, int(255 - 180 * share), int(255 - 200 * share)
    return f"rgb({red},{green},{blue})"


def heat_map(crosstalk: dict[str, Any]) -> str:
    """The cross-talk matrix as a coloured table (rows: swapped driver; columns: factor that moved)."""
    factors, matrix = crosstalk["factors"], crosstalk["matrix"]
    if matrix is None:
        return f"<p class='why'>not computed: {html.escape(crosstalk.get('reason', ''))}</p>"
    finite = [v for row in matrix for v in row if v is not None]
    top = max(finite) if finite else 1.0
    head = "".join(f"<th>{html.escape(f)} moved</th>" for f in factors)
    body = ""
    for factor, row in zip(factors, matrix):
        cells = "".join(f'<td style="background:{_heat_colour(v, top)}">{"-" if v is None else f"{v:.2f}"}</td>' for v in row)
        body += f"<tr><th>{html.escape(factor)} swapped</th>{cells}</tr>"
    note = f"<p class='why'>{html.escape(crosstalk['reason'])}</p>" if crosstalk.get("reason") else ""
    return (f"<table class='heat'><tr><th></th>{head}</tr>{body}</table>{note}<p>Each row: one factor's driver swapped; "
            "each column: how far that factor's measured labels moved in the output, relative to the swapped "
            "factor's own move (the diagonal). PD-FGC claims a near-diagonal matrix.</p>")


def _strip(frames: np.ndarray) -> np.ndarray:
    tiles = [cv2.resize(frame, (GRID_SIDE, GRID_SIDE), interpolation=cv2.INTER_AREA) for frame in frames]
    return np.concatenate(tiles, axis=1)


def frame_grid(grid: dict[str, Any]) -> str:
    """Source, then each driver's frames, then the output's frames, one strip per line."""
    lines = [f"<div>source<br>{_png(_strip(grid['source'][None]))}</div>"]
    for label, frames in grid["drivers"].items():
        lines.append(f"<div>driver ({html.escape(label)})<br>{_png(_strip(frames))}</div>")
    lines.append(f"<div>output<br>{_png(_strip(grid['output']))}</div>")
    caption = f"{grid['setting']}-driven: {html.escape(grid['name'])}"
    return f"<figure><figcaption>{caption}</figcaption>{''.join(lines)}</figure>"


def render_report(document: dict[str, Any], grids: list[dict[str, Any]]) -> str:
    skipped = "".join(f"<tr><td>{html.escape(s['clip'])}</td><td>{html.escape(s['reason'])}</td></tr>"
                      for s in document["skipped"])
    picked = [g for g in grids if g["setting"] == "self"][: MAX_GRIDS // 2] + [g for g in grids if g["setting"] == "cross"][: MAX_GRIDS // 2]
    parts = [
        "<h1>pdfgc evaluation</h1>",
        f"<p>model <code>{html.escape(document['model'])}</code>, split <b>{html.escape(document['split'])}</b>, "
        f"{document['clips']} clip(s) evaluated, {len(document['skipped'])} skipped, "
        f"{document.get('generated_frames', 0)} frames generated at {document.get('image_size', '?')} px.</p>",
        "<p><b>model</b>: the generated frames; <b>ground_truth</b>: the real frames at the model's resolution "
        "(the ceiling); <b>source_repeated</b>: the source frame held still (the floor). Identity similarity "
        "uses dlib's face-recognition ResNet embedding: it is not ArcFace CSIM.</p>",
        metric_tables(document["rows"]),
        "<h2>Cross-talk matrix</h2>", heat_map(document["crosstalk"]),
    ]
    if skipped:
        parts.append(f"<h2>Skipped clips</h2><table><tr><th>clip</th><th>reason</th></tr>{skipped}</table>")
    if picked:
        parts.append("<h2>Frames</h2>" + "".join(frame_grid(g) for g in picked))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>pdfgc evaluation</title><style>{STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")


def write_report(document: dict[str, Any], grids: list[dict[str, Any]], path: Path) -> Path:
    atomic_write_text(path, render_report(document, grids))
    return path
