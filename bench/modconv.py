"""The style-modulated convolution: batched (scale the input, one ordinary conv, scale the
output; what ``ModulatedConv2d`` does) against the per-sample weights of a conv grouped by
sample (StyleGAN2's fused form, kept here as the baseline). Forward and backward of G's whole
``StyledDecoder`` at each preset's size and stage-3 batch, both forms alternating in one run.

    python bench/modconv.py [--presets demo,paper] [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pdfgc.config import load_config  # noqa: E402
from pdfgc.models.generator import DEMOD_EPS, ModulatedConv2d, StyledDecoder  # noqa: E402

BATCHED_FORWARD = ModulatedConv2d.forward
STYLE_DIM = 64


def grouped_forward(self: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    batch, in_channels, height, width = x.shape
    modulation = self.affine(style).view(batch, 1, in_channels, 1, 1)
    weight = self.scale * self.weight.unsqueeze(0) * modulation  # (B, O, I, k, k)
    if self.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + DEMOD_EPS)
    out = F.conv2d(x.reshape(1, batch * in_channels, height, width), weight.flatten(0, 1).to(x.dtype),
                   padding=self.padding, groups=batch)
    return out.view(batch, -1, height, width)


def seconds_per_step(decoder: StyledDecoder, inputs: tuple[torch.Tensor, torch.Tensor], steps: int) -> float:
    def step() -> None:
        decoder(*inputs).square().mean().backward()

    step()
    if inputs[0].is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if inputs[0].is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def compare(preset: str, args: argparse.Namespace) -> dict[str, float]:
    cfg = load_config(preset)
    device = torch.device(args.device)
    decoder = StyledDecoder(cfg.model, STYLE_DIM).to(device)
    side = cfg.model.net_image_size // 32
    batch = cfg.train.stage3.batch_size
    inputs = (torch.randn(batch, cfg.model.app_map_channels, side, side, device=device),
              torch.randn(batch, STYLE_DIM, device=device))
    best = {"grouped": float("inf"), "batched": float("inf")}
    for _ in range(args.repeats):
        for name, forward in (("grouped", grouped_forward), ("batched", BATCHED_FORWARD)):
            ModulatedConv2d.forward = forward
            best[name] = min(best[name], seconds_per_step(decoder, inputs, args.steps))
    ModulatedConv2d.forward = BATCHED_FORWARD
    return {"batch": batch, "side": cfg.model.net_image_size, **best, "grouped_vs_batched": best["grouped"] / best["batched"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="demo,paper")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'preset':8} {'batch':>5} {'side':>5} {'grouped s':>10} {'batched s':>10} {'ratio':>6}")
    for preset in args.presets.split(","):
        row = compare(preset, args)
        print(f"{preset:8} {row['batch']:5d} {row['side']:5d} {row['grouped']:10.4f} {row['batched']:10.4f} "
              f"{row['grouped_vs_batched']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
