"""A quiet console: progress bars, warnings and summaries on the terminal; every INFO line of
pdfgc, Prefect and Dask in a log file named when the command starts; ``-v`` brings them back.

Prefect configures its own console handlers when it is imported and Dask workers log from their
own processes, so ``quiet_engines`` runs after the flows are imported: it removes the engines'
console handlers in this process (their records then reach the log file through the root
logger) and sets the log levels that worker processes, started later, inherit.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY_LOGGERS = ("httpx", "httpcore", "distributed", "asyncio", "urllib3", "alembic")
ENGINE_PREFIXES = ("prefect", "distributed", "uvicorn", "fastapi", "httpx", "httpcore")
QUIET_CHILD_ENV = {"PREFECT_LOGGING_LEVEL": "WARNING", "DASK_LOGGING__DISTRIBUTED": "warning"}
"""Levels for processes started later (Dask workers and their Prefect task-run loggers)."""


def log_file_for(folder: str | Path, command: str) -> Path | None:
    """``<folder>/logs/<command>-<UTC time>.log`` for a local folder; None for a URL."""
    if "://" in str(folder):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(folder) / "logs" / f"{command}-{stamp}.log"


def configure(verbose: bool, log_file: Path | None = None) -> None:
    """Root logging: the console shows WARNING and above (everything with ``verbose``); the log
    file, when given, gets INFO and above (DEBUG with ``verbose``)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose or log_file is None else logging.WARNING)
    console.setFormatter(formatter)
    if not verbose and log_file is not None:
        console.addFilter(_not_an_engine_error)
    root.handlers = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
        handler.setFormatter(formatter)
        root.addHandler(handler)
        print(f"pdfgc: log file {log_file}" + ("" if verbose else " (-v shows it here)"), file=sys.stderr)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)


def _not_an_engine_error(record: logging.LogRecord) -> bool:
    """Console filter: an engine's ERROR record (Prefect's "Finished in state Failed" with its
    traceback) stays in the log file; the exception itself reaches the CLI, which prints it in
    one line."""
    return not (record.levelno >= logging.ERROR and record.name.startswith(ENGINE_PREFIXES))


def quiet_engines(verbose: bool) -> None:
    """After Prefect is imported: its console handlers go, its records propagate to the root
    logger's handlers (console at WARNING, the log file at INFO)."""
    if verbose:
        return
    for key, value in QUIET_CHILD_ENV.items():
        os.environ.setdefault(key, value)
    root = logging.getLogger()
    ours = [h for h in root.handlers if type(h) in (logging.StreamHandler, logging.FileHandler)]
    root.handlers = ours
    for name in list(logging.root.manager.loggerDict):
        if not name.startswith(ENGINE_PREFIXES):
            continue
        logger = logging.getLogger(name)
        kept = [h for h in logger.handlers if not isinstance(h, logging.StreamHandler)]
        if len(kept) != len(logger.handlers):
            logger.handlers = kept
        if name.startswith("prefect") and not name.startswith("prefect._internal"):
            logger.propagate = True
