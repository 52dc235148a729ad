"""Fixtures shared by the task tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pdfgc.config import load_config
from pdfgc.train.checkpoint import save_export
from pdfgc.train.tasks import CriticTask


@pytest.fixture(scope="module")
def critic_export(tmp_path_factory) -> Path:
    """The tiny preset's critic-stage export after one step: stages 1-3 load phi, psi and Gaze from it."""
    from tests.unit.train.test_tasks import EXP_DIM, make_batch

    cfg = load_config("tiny")
    torch.manual_seed(0)
    task = CriticTask(cfg, torch.device("cpu"), lambda module: module, expression_dim=EXP_DIM)
    task.training_step(make_batch("critic", cfg), 0)
    path = tmp_path_factory.mktemp("critic") / "export.pt"
    save_export(path, task.stage, cfg.model_dump(mode="json"), task.export(), 1)
    return path
