"""What to train, as plain objects handed from the command line to the launcher to each rank.

``TrainPlan`` is one ``pdfgc train`` call (stages in order); the launcher turns each stage into a
``StageLaunch`` (one torchrun job); each rank rebuilds the job's ``StageRequest`` from its
command line and hands it to the loop.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from pdfgc.config import PdfgcConfig

DEFAULT_TASK_FACTORY = "pdfgc.train.tasks:build_task"
"""Builds a stage's task object; tests plug in a small task through ``--task-factory``."""


@dataclass(frozen=True)
class StageRequest:
    """One stage's work as every rank sees it."""

    stage: str
    shards: str
    out: Path
    init_from: Path | None = None
    """The previous numbered stage's export (None for the critic and a fresh stage 1)."""
    critic_from: Path | None = None
    """The critic stage's export, for L_mot and L_con."""
    max_steps: int | None = None
    """Stop at this step instead of the stage's configured ``steps``."""
    task_factory: str = DEFAULT_TASK_FACTORY


@dataclass(frozen=True)
class Topology:
    """Where the ranks of a torchrun job run."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    """``HOST:PORT`` of the rendezvous; None -> a free port on 127.0.0.1 (one node only)."""


@dataclass(frozen=True)
class StageLaunch:
    """Everything one torchrun job of one stage needs; the launcher reads nothing back from disk."""

    cfg: PdfgcConfig
    config_path: Path
    """The resolved config file every rank reads (``cfg`` saved)."""
    request: StageRequest
    topology: Topology = field(default_factory=Topology)
    parent_run_id: str | None = None
    tracking_uri: str | None = None


@dataclass(frozen=True)
class TrainPlan:
    """One ``pdfgc train`` call: the stages to run in order, on which data, into which folder."""

    stages: list[str]
    shards: str
    out: Path
    topology: Topology = field(default_factory=Topology)
    max_steps: int | None = None
    init_from: Path | None = None
    critic_from: Path | None = None
    task_factory: str = DEFAULT_TASK_FACTORY


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value
