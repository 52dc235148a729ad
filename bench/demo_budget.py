"""The demo preset's training budget: CPU seconds per step of each stage, times its steps.

    python bench/demo_budget.py [--config demo] [--steps 4]

Each stage's real task runs ``--steps`` training steps on one hand-made batch of its preset's
batch size, in this process with one thread, and its CPU time per step (``time.process_time``)
is printed beside the wall time: CPU time hardly changes with the machine's load, wall time does.
Under torchrun the two ranks of a stage run in parallel on the 2 cores, each with its own batch,
so the unloaded wall time of a stage is about its steps x CPU seconds per step (plus DDP's
gradient all-reduce, about a tenth on this model). Ratio shown: stage 3 with the paper's GAN
and L_con terms on against the demo preset's reconstruction-only stage 3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pdfgc.config import PdfgcConfig, load_config  # noqa: E402
from pdfgc.train.checkpoint import save_export  # noqa: E402
from pdfgc.stages import stage_config  # noqa: E402
from pdfgc.train.tasks import CriticTask, build_task  # noqa: E402
from tests.unit.train import test_tasks as batches  # noqa: E402

CPU = torch.device("cpu")


def _identity(module: torch.nn.Module) -> torch.nn.Module:
    return module


def seconds_per_step(cfg: PdfgcConfig, stage: str, critic_export: Path, steps: int) -> tuple[float, float]:
    """(CPU s, wall s) per training step of ``stage`` at its configured batch size."""
    batches.BATCH = stage_config(cfg, stage).batch_size
    batch = batches.make_batch(stage, cfg)
    if stage == "critic":
        task = CriticTask(cfg, CPU, _identity, expression_dim=batches.EXP_DIM)
    else:
        task = build_task(stage, cfg, CPU, _identity, init_from=None, critic_from=critic_export)
    task.training_step(batch, 0)  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    for step in range(1, steps + 1):
        task.training_step(batch, step)
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def make_critic_export(cfg: PdfgcConfig, folder: Path) -> Path:
    batches.BATCH = 2
    task = CriticTask(cfg, CPU, _identity, expression_dim=batches.EXP_DIM)
    task.training_step(batches.make_batch("critic", cfg), 0)
    return save_export(folder / "critic.pt", "critic", cfg.model_dump(mode="json"), task.export(), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        critic = make_critic_export(cfg, Path(tmp))
        print(f"{'stage':8s} {'batch':>5s} {'steps':>6s} {'cpu s/step':>10s} {'wall s/step':>11s} {'cpu s':>7s}")
        for stage in ("critic", "1", "2", "3"):
            section = stage_config(cfg, stage)
            cpu, wall = seconds_per_step(cfg, stage, critic, args.steps)
            total += cpu * section.steps
            print(f"{stage:8s} {section.batch_size:5d} {section.steps:6d} {cpu:10.3f} {wall:11.3f} {cpu * section.steps:7.0f}")
        print(f"training: {total:.0f} CPU s per rank = about {total / 60:.1f} min on 2 idle cores (2 ranks in parallel), "
              "plus about 10 s of start-up per stage")
        paper_terms = load_config(args.config, ["train.stage3.weights.adversarial=1", "train.stage3.weights.feature_matching=10",
                                                "train.stage3.weights.con=1"])
        with_gan, _ = seconds_per_step(paper_terms, "3", critic, args.steps)
        without, _ = seconds_per_step(cfg, "3", critic, args.steps)
        print(f"stage 3 with GAN + L_con / reconstruction only: {with_gan / without:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
