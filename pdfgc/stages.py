"""The training stages: their names, their order, and which earlier export each one starts from.

The one registry of stage names; every command, config check, loader and launcher asks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdfgc.errors import ConfigError

if TYPE_CHECKING:
    from pdfgc.config import PdfgcConfig, StageConfig

STAGES = ("critic", "1", "2", "3")
"""Stages in the order they chain: the critic's export feeds L_mot/L_con of stages 1 and 3, and
each numbered stage starts from the previous numbered stage's export."""
ALL = "all"
"""The selection that runs every stage of ``STAGES`` in order."""
SYNC = "sync"
"""The audio-visual sync expert (``pdfgc.models.sync``): a measuring instrument for evaluation,
trained from the shards alone (no earlier export), registered under its own name. Part of
``all`` (after stage 3) only when ``sync.in_all`` is set."""
KNOWN_STAGES = (*STAGES, SYNC)
"""Every stage name a command accepts, in the order a plan runs them."""
PROGRESSIVE = tuple(stage for stage in STAGES if stage != "critic")
"""The paper's three progressive stages: each starts from the one before it."""


def check_stage(stage: str) -> str:
    """``stage`` unchanged when it names a stage, else a one-line ConfigError."""
    if stage not in KNOWN_STAGES:
        raise ConfigError(f"unknown stage {stage!r} (allowed: {', '.join(KNOWN_STAGES)})")
    return stage


def select_stages(selection: str, with_sync: bool = False) -> list[str]:
    """``all`` -> every stage of ``STAGES`` in order, then ``sync`` when ``with_sync``
    (``sync.in_all``); a single stage name -> just that stage."""
    if selection == ALL:
        return [*STAGES, SYNC] if with_sync else list(STAGES)
    if selection not in KNOWN_STAGES:
        raise ConfigError(f"--stage {selection!r} is not one of {', '.join((*KNOWN_STAGES, ALL))}")
    return [selection]


def in_order(stages: list[str]) -> list[str]:
    """``stages`` sorted into chaining order; a one-line error for an unknown name."""
    unknown = [stage for stage in stages if stage not in KNOWN_STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} (allowed: {', '.join(KNOWN_STAGES)})")
    return [stage for stage in KNOWN_STAGES if stage in stages]


def previous_progressive(stage: str) -> str | None:
    """The numbered stage ``stage`` starts from, None for the critic and stage 1."""
    if stage not in PROGRESSIVE or stage == PROGRESSIVE[0]:
        return None
    return PROGRESSIVE[PROGRESSIVE.index(stage) - 1]


def stage_config(cfg: PdfgcConfig, stage: str) -> StageConfig:
    """The ``train`` section of a stage: ``train.critic``, ``train.sync`` or ``train.stage<N>``."""
    check_stage(stage)
    return getattr(cfg.train, stage if stage in ("critic", SYNC) else f"stage{stage}")
