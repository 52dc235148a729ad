"""Step figures for the GPU benchmark: FLOP counting, MFU arithmetic, device peaks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pdfgc.config import load_config
from pdfgc.train.throughput import count_step_flops, measure_stage, peak_bf16_tflops
from tests.helpers.shards import write_test_shards


@pytest.mark.parametrize(("name", "peak"), [
    ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0), ("Tesla T4", None),
])
def test_peak_is_looked_up_by_device_name(name: str, peak: float | None) -> None:
    assert peak_bf16_tflops(name) == peak


def test_a_step_counts_forward_and_backward_matmuls() -> None:
    layer = nn.Linear(8, 4)
    inputs = torch.randn(3, 8, requires_grad=True)

    def step() -> None:
        layer(inputs).sum().backward()

    # forward 2*3*8*4; backward: the input's gradient and the weight's, as many again each
    assert count_step_flops(step) == 3 * (2 * 3 * 8 * 4)


@pytest.mark.parametrize("groups", [1, 4])
def test_a_grouped_convolution_counts_each_group_once(groups: int) -> None:
    """A conv of 2 samples x 4 groups (8 -> 6 channels per group, 3x3, 5x5 output): forward
    2*N*C_out*(C_in/groups)*9*25, and the input's and the weight's gradient as much again."""
    inputs = torch.randn(2, 8 * groups, 5, 5, requires_grad=True)
    weight = torch.randn(6 * groups, 8, 3, 3, requires_grad=True)

    def step() -> None:
        nn.functional.conv2d(inputs, weight, padding=1, groups=groups).sum().backward()

    assert count_step_flops(step) == 3 * (2 * 2 * (6 * groups) * 8 * 9 * 25)


def test_stage_figures_are_consistent(tmp_path: Path) -> None:
    write_test_shards(tmp_path, n_clips=4, frames=10, crop_size=96, clips_per_shard=2)
    cfg = load_config("tiny", ["train.num_workers=0"])
    figures = measure_stage(cfg, "1", str(tmp_path), torch.device("cpu"), steps=2, warmup=1, peak_tflops=0.5)
    assert figures.batch_size == cfg.train.stage1.batch_size and figures.precision == "fp32"
    assert figures.samples_per_s * figures.step_time_s == pytest.approx(figures.batch_size)
    assert figures.tflop_per_step > 0 and figures.peak_memory_mb > 0
    assert figures.achieved_tflops == pytest.approx(figures.tflop_per_step / figures.step_time_s)
    assert figures.mfu == pytest.approx(figures.achieved_tflops / 0.5)
