"""Metric loggers: the JSONL record, fan-out and peak memory."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import torch

from pdfgc.train.metrics import JsonlLogger, LoggerGroup, NullLogger, peak_memory_mb, read_metrics_jsonl


class Counting(NullLogger):
    def __init__(self) -> None:
        self.calls = collections.Counter()

    def log_metrics(self, metrics, step) -> None:
        self.calls["metrics"] += 1

    def log_image(self, image, name, step) -> None:
        self.calls["image"] += 1

    def close(self, status="FINISHED") -> None:
        self.calls[status] += 1


def test_jsonl_keeps_the_last_record_of_a_step(tmp_path: Path) -> None:
    logger = JsonlLogger(tmp_path / "m.jsonl")
    logger.log_metrics({"loss": 2.0}, step=1)
    logger.log_metrics({"loss": 1.5}, step=2)
    logger.log_metrics({"loss": 1.25}, step=2)  # a resumed run logs step 2 again
    assert read_metrics_jsonl(tmp_path / "m.jsonl") == {1: {"loss": 2.0}, 2: {"loss": 1.25}}


def test_group_fans_out_to_every_logger() -> None:
    members = [Counting(), Counting()]
    group = LoggerGroup(members)
    group.log_metrics({"loss": 1.0}, 1)
    group.log_image(np.zeros((2, 2, 3), np.uint8), "grid", 1)
    group.close("FAILED")
    assert all(m.calls == {"metrics": 1, "image": 1, "FAILED": 1} for m in members)


def test_peak_memory_on_cpu_is_the_process_rss() -> None:
    before = peak_memory_mb(torch.device("cpu"))
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    assert peak_memory_mb(torch.device("cpu")) >= before
    assert peak_memory_mb(torch.device("cpu")) > 64
    del block
