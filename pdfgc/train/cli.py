"""``pdfgc train``: the library call behind the command line (the lead wires argparse to it)."""

from __future__ import annotations

import logging
from pathlib import Path

from pdfgc.config import PdfgcConfig
from pdfgc.errors import PdfgcError
from pdfgc.train.launch import TrainSummary, train_all
from pdfgc.train.task_base import STAGES

_logger = logging.getLogger(__name__)

ALL_STAGES = "all"


def stages_for(stage: str) -> list[str]:
    """``all`` -> critic, 1, 2, 3; a single stage name -> just that stage."""
    if stage == ALL_STAGES:
        return list(STAGES)
    if stage not in STAGES:
        raise PdfgcError(f"--stage {stage!r} is not one of {', '.join((*STAGES, ALL_STAGES))}")
    return [stage]


def train_command(
    shards: str, stage: str, cfg: PdfgcConfig, out: str | Path, nproc: int | None = None,
    nnodes: int | None = None, max_steps: int | None = None,
) -> TrainSummary:
    """Train ``stage`` (or ``all``) on ``shards`` into ``out``; ``nproc``/``nnodes`` default to
    ``train.nproc_per_node``/``train.nnodes`` of the config.

    Examples
    --------
    >>> summary = train_command("data/shards", "all", load_config("tiny"), "runs/demo", max_steps=3)
    >>> summary.registered_model_uri
    'models:/pdfgc-generator/1'
    """
    nproc = nproc or cfg.train.nproc_per_node
    nnodes = nnodes or cfg.train.nnodes
    _logger.info("training stage(s) %s on %s with %d x %d processes into %s", stage, shards, nnodes, nproc, out)
    return train_all(cfg, stages_for(stage), shards, out, nproc=nproc, nnodes=nnodes, max_steps=max_steps)
