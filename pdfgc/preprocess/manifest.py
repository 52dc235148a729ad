"""The Parquet tables beside the shards: ``manifest.parquet`` (one row per sample) and
``quarantine.parquet`` (one row per rejected video). Both are rewritten atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pdfgc.config import SplitConfig
from pdfgc.io import atomic_path
from pdfgc.preprocess.splits import with_splits

_logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.parquet"
QUARANTINE_FILE = "quarantine.parquet"


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path``, or an empty frame when it does not exist yet."""
    return pd.read_parquet(path) if Path(path).is_file() else pd.DataFrame()


def append_rows(path: str | Path, rows: list[dict], unique_by: str) -> pd.DataFrame:
    """Add rows whose ``unique_by`` value is not in the table yet; atomic rewrite. Returns the table."""
    table = read_table(path)
    known = set(table[unique_by]) if unique_by in table.columns else set()
    fresh = [row for row in rows if row[unique_by] not in known]
    if not fresh:
        return table
    table = pd.concat([table, pd.DataFrame(fresh)], ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    _logger.info("%s: %d new rows, %d in all", path, len(fresh), len(table))
    return table


def drop_rows(path: str | Path, column: str, values: set) -> None:
    """Remove the rows whose ``column`` is in ``values`` (atomic rewrite; no-op when none match)."""
    table = read_table(path)
    if column not in table.columns or not table[column].isin(values).any():
        return
    with atomic_path(path) as tmp:
        table[~table[column].isin(values)].to_parquet(tmp, index=False)


def update_splits(path: str | Path, cfg: SplitConfig) -> pd.DataFrame:
    """Give every manifest row its ``split`` and ``split_mode`` (``pdfgc.preprocess.splits``);
    atomic rewrite, skipped when nothing changed. Returns the table."""
    table = read_table(path)
    if table.empty:
        return table
    updated, _ = with_splits(table, cfg)
    unchanged = all(c in table.columns for c in ("split", "split_mode")) and updated[["split", "split_mode"]].equals(
        table[["split", "split_mode"]])
    if not unchanged:
        with atomic_path(path) as tmp:
            updated.to_parquet(tmp, index=False)
    return updated
