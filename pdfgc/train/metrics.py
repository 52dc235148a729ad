"""Metric loggers: the loop talks to a ``MetricLogger`` and never to a tracking library.

``NullLogger`` is used on ranks other than 0 and when tracking is off; ``ConsoleLogger`` writes
through ``logging``; ``pdfgc.integrations.mlflow_logger.MLflowLogger`` sends to MLflow.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

_logger = logging.getLogger(__name__)


class MetricLogger(Protocol):
    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_image(self, image: np.ndarray, name: str, step: int) -> None:
        """``image``: (H, W, 3) uint8."""
        ...

    def log_artifact(self, path: str | Path) -> None: ...

    def close(self, status: str = "FINISHED") -> None:
        """``status``: FINISHED or FAILED (trackers record it)."""
        ...


class NullLogger:
    """Drops everything (non-zero ranks, tests)."""

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_image(self, image: np.ndarray, name: str, step: int) -> None:
        pass

    def log_artifact(self, path: str | Path) -> None:
        pass

    def close(self, status: str = "FINISHED") -> None:
        pass


class ConsoleLogger(NullLogger):
    """Metrics as one log line per step; images and artifacts are only mentioned."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        shown = " ".join(f"{name}={value:.5g}" for name, value in sorted(metrics.items()))
        _logger.info("step %d %s", step, shown)

    def log_image(self, image: np.ndarray, name: str, step: int) -> None:
        _logger.info("step %d image %s %s", step, name, tuple(image.shape))

    def log_artifact(self, path: str | Path) -> None:
        _logger.info("artifact %s", path)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch on CUDA, peak resident set size of the process on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class JsonlLogger(NullLogger):
    """Appends ``{"step": N, **metrics}`` lines to a file: a plain record that survives restarts
    (a resumed run appends, so the last line of a step wins)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **metrics}, sort_keys=True) + "\n")


class LoggerGroup:
    """Fans every call out to several loggers (torchtitan's LoggerContainer)."""

    def __init__(self, loggers: list[MetricLogger]) -> None:
        self.loggers = loggers

    def log_params(self, params: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_params(params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.log_metrics(metrics, step)

    def log_image(self, image: np.ndarray, name: str, step: int) -> None:
        for logger in self.loggers:
            logger.log_image(image, name, step)

    def log_artifact(self, path: str | Path) -> None:
        for logger in self.loggers:
            logger.log_artifact(path)

    def close(self, status: str = "FINISHED") -> None:
        for logger in self.loggers:
            logger.close(status)


def read_metrics_jsonl(path: str | Path) -> dict[int, dict[str, float]]:
    """``{step: metrics}`` from a JsonlLogger file, the last record of each step winning."""
    records: dict[int, dict[str, float]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        records[int(record.pop("step"))] = record
    return records
