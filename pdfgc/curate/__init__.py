"""Curated views of a shard folder: filters, near-duplicate removal and a per-speaker cap,
written as a Parquet view (shards are never rewritten) with an HTML report."""

from __future__ import annotations

from pathlib import Path

from pdfgc.config import PdfgcConfig

REPORT_SUFFIX = ".html"


def curate(shards: str | Path, out: str | Path, cfg: PdfgcConfig) -> dict[str, object]:
    """Build the view of ``shards``, write ``out`` and ``out`` with an ``.html`` suffix; returns a summary."""
    from pdfgc.curate.report import write_view_report
    from pdfgc.curate.view import build_view, write_view

    view = build_view(shards, cfg.curate, cfg.split)
    out = Path(out)
    digest = write_view(view.table, out)
    report = write_view_report(view, out.with_suffix(REPORT_SUFFIX), f"Curated view {out.name} of {shards}")
    dropped = view.table[~view.table["kept"]]
    return {"view": str(out), "sha256": digest, "report": str(report), "samples": len(view.table),
            "kept": int(view.table["kept"].sum()), "dropped": dropped["reason"].value_counts().to_dict()}
