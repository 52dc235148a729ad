"""Training-side throughput on this machine, in one run.

1. Loader: samples/s of ``build_loader`` (stage 1: K app frames + 1 driver decoded per sample;
   in the main process, and with 2 DataLoader workers) against a single-process raw baseline
   that reads the same tars with ``tarfile`` and JPEG-decodes the same number of frames per
   sample at full size with cv2 (no labels, no resize, no collation). The loader decodes at the
   largest DCT reduction that still covers the model size and then resizes. Goal: >= 0.8.
   Measured twice: with the tiny preset (64 px model: decode at 112 px, then resize; K = 2)
   and with the paper preset (224 px model = the crop size, so no resize; K = 8, batch 32).
   The loader yields uint8 images; their scaling to [-1, 1] happens after the copy to the
   device (``batch_to_device``, part of the training step), as in the training loop.
   Loader and raw read run side by side in a spawned process, twice: with ``train.env`` (the
   environment torchrun's ranks get: malloc on huge pages) and with a plain environment.
2. DDP: median step time of stage 2 (real task, tiny preset) under torchrun with 2 processes
   against 1 process (gloo, CPU, OMP_NUM_THREADS=1 per rank). The step time is rank 0's
   ``step_time_s``: forward, backward with DDP's gradient allreduce, the feature all_gather and
   the optimiser step, without loading the batch or logging. A rank's batch has the stage's
   batch size in both runs, so each rank of the 2-process run does the work of the 1-process
   run plus the communication (and a contrastive loss over both ranks' features). Goal: <= 1.25.
3. GPU, when one is present: per stage (1, 2, 3) at the paper preset in bf16 autocast, step
   time, samples/s, TFLOP per step, MFU against the GPU's dense bf16 peak, and peak memory
   (``pdfgc.train.throughput.measure_stage``: the real task repeating its step on one real
   batch, so loading is left out). Goal: MFU >= 35 %. ``--gpu-only`` skips parts 1 and 2;
   ``--set model.vgg19_weights=PATH`` names the VGG19 weights of the perceptual loss; without
   it a random-weight VGG19 (same convolutions, same time) stands in.

Loader and raw runs alternate 3 times and the best of each counts; the DDP runs alternate
twice (min of the per-run medians), since the machine may be shared.

Usage: ``python bench/train.py [--clips 24] [--frames 25] [--steps 20] [--stage 2] [--gpu-only]
[--gpu-steps 20] [--peak-tflops T] [--set KEY=VALUE ...] [--shards DIR]``

``--shards DIR`` reads shards written earlier (for example by ``--write-shards DIR`` on another
machine, such as a GPU host without dlib) instead of writing the synthetic ones.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from preprocess import in_spawned_process  # noqa: E402

from pdfgc.config import PdfgcConfig, load_config, save_config  # noqa: E402
from pdfgc.train.reader.loader import build_loader, expand_shards  # noqa: E402
from pdfgc.losses.perceptual import VGG19_CONV_WIDTHS  # noqa: E402
from pdfgc.train.launch import launch_stage  # noqa: E402
from pdfgc.train.metrics import read_metrics_jsonl  # noqa: E402
from pdfgc.train.plan import StageLaunch, StageRequest, Topology  # noqa: E402
from pdfgc.train.throughput import measure_stage  # noqa: E402
from tests.helpers.shards import write_test_shards  # noqa: E402

_logger = logging.getLogger("bench.train")

CROP = 224
WARMUP_STEPS = 3
REPEATS = 3
DDP_REPEATS = 2


def raw_samples_per_s(shards: str, frames_per_sample: int, n_samples: int) -> float:
    """tarfile + cv2.imdecode of ``frames_per_sample`` frames per sample, nothing else."""
    start, done = time.perf_counter(), 0
    while done < n_samples:
        for url in expand_shards(shards):
            with tarfile.open(url) as tar:
                members = {m.name: m for m in tar.getmembers()}
                for name in (n for n in members if n.endswith(".frames.mjpeg")):
                    offsets = np.load(io.BytesIO(tar.extractfile(members[name.replace("frames.mjpeg", "frame_offsets.npy")]).read()), allow_pickle=False)
                    blob = tar.extractfile(members[name]).read()
                    for t in range(frames_per_sample):
                        cv2.imdecode(np.frombuffer(blob[offsets[t] : offsets[t + 1]], np.uint8), cv2.IMREAD_COLOR)
                    done += 1
                    if done >= n_samples:
                        return done / (time.perf_counter() - start)
    return done / (time.perf_counter() - start)


def loader_samples_per_s(shards: str, n_samples: int, workers: int, preset: str = "tiny") -> float:
    cfg = load_config(preset, [f"train.num_workers={workers}", "train.shuffle_buffer=16"])
    n_batches = -(-n_samples // cfg.train.stage1.batch_size)
    loader = build_loader(shards, "1", cfg, rank=0, world_size=1, seed=0, num_batches=n_batches)
    start, samples = time.perf_counter(), 0
    for batch in loader:
        samples += len(batch["key"])
    return samples / (time.perf_counter() - start)


def median_step_time(config: Path, stage: str, shards: str, out: Path, nproc: int, steps: int) -> float:
    request = StageRequest(stage, shards, out, max_steps=steps)
    launch_stage(StageLaunch(load_config(config), config, request, Topology(nproc=nproc),
                             tracking_uri=f"sqlite:///{out.parent / 'mlflow.db'}"))
    metrics = read_metrics_jsonl(out / "metrics.jsonl")
    return statistics.median(m["step_time_s"] for step, m in metrics.items() if step > WARMUP_STEPS)


def loader_figures(shards: str, n_samples: int) -> dict[str, float]:
    """Loader and raw read, tiny and paper presets, interleaved; best of each (the machine may
    be shared)."""
    multiprocessing.set_start_method("fork", force=True)  # as in a torchrun rank; a spawned process defaults to spawn
    frames = {preset: load_config(preset).train.stage1.k_frames + 1 for preset in ("tiny", "paper")}
    best: dict[str, float] = {}
    for _ in range(REPEATS):
        for preset in ("tiny", "paper"):
            rates = {f"{preset}_loader": loader_samples_per_s(shards, n_samples, workers=0, preset=preset),
                     f"{preset}_raw": raw_samples_per_s(shards, frames[preset], n_samples)}
            best.update({k: max(v, best.get(k, 0.0)) for k, v in rates.items()})
    best["tiny_loader_2_workers"] = loader_samples_per_s(shards, 4 * n_samples, workers=2)
    best["paper_loader_2_workers"] = loader_samples_per_s(shards, n_samples, workers=2, preset="paper")
    return best


def loader_report(rates: dict[str, float]) -> dict[str, float]:
    report: dict[str, float] = {}
    for preset in ("tiny", "paper"):
        raw = rates[f"{preset}_raw"]
        report.update({
            f"{preset}_loader_samples_per_s": round(rates[f"{preset}_loader"], 1), f"{preset}_raw_samples_per_s": round(raw, 1),
            f"{preset}_loader_vs_raw": round(rates[f"{preset}_loader"] / raw, 3),
            f"{preset}_loader_2_workers_vs_raw": round(rates[f"{preset}_loader_2_workers"] / raw, 3),
        })
    return report


def random_vgg19_weights(path: Path) -> Path:
    """A VGG19 ``features`` state dict in torchvision's layout with random weights: the same
    convolutions as ImageNet's, so the same step time, for timing only."""
    state, index, channels = {}, 0, 3
    for width in VGG19_CONV_WIDTHS:
        if width != "M":
            state[f"features.{index}.weight"] = torch.randn(width, channels, 3, 3) * (2 / (9 * channels)) ** 0.5
            state[f"features.{index}.bias"] = torch.zeros(width)
            channels, index = width, index + 1  # the ReLU after each convolution
        index += 1
    torch.save(state, path)
    return path


def gpu_config(overrides: list[str], folder: Path) -> tuple[PdfgcConfig, str]:
    """The paper preset in bf16, and where its VGG19 weights came from: ``--set
    model.vgg19_weights=PATH``, or random ones (timing only) when none are given."""
    base = ["train.num_workers=0", "train.precision=bf16"]
    cfg = load_config("paper", [*base, *overrides])
    if cfg.model.perceptual != "vgg19" or cfg.model.vgg19_weights is not None:
        return cfg, str(cfg.model.vgg19_weights)
    weights = random_vgg19_weights(folder / "vgg19-random.pth")
    return load_config("paper", [*base, f"model.vgg19_weights={weights}", *overrides]), "random (timing only)"


def gpu_figures(shards: str, steps: int, peak_tflops: float | None, overrides: list[str], folder: Path) -> dict[str, object]:
    cfg, vgg19 = gpu_config(overrides, folder)
    device = torch.device("cuda")
    figures: dict[str, object] = {"perceptual": cfg.model.perceptual, "vgg19_weights": vgg19}
    for stage in ("1", "2", "3"):
        figures[f"stage_{stage}"] = measure_stage(cfg, stage, shards, device, steps=steps, peak_tflops=peak_tflops).to_json()
    return figures


def cpu_figures(shards: str, root: Path, args: argparse.Namespace) -> dict[str, object]:
    figures: dict[str, object] = {"crop": CROP, "stage": args.stage}
    for name, env in (("train_env", load_config("paper").train.env), ("plain_env", {})):
        rates = in_spawned_process(env, loader_figures, shards, 8 * args.clips)
        figures[name] = {"env": env, **loader_report(rates)}
    config = save_config(load_config("tiny", ["train.image_every=0", "train.checkpoint_every=0"]), root / "config.yaml")
    single = double = float("inf")
    for repeat in range(DDP_REPEATS):
        single = min(single, median_step_time(config, args.stage, shards, root / f"p1_{repeat}", 1, args.steps))
        double = min(double, median_step_time(config, args.stage, shards, root / f"p2_{repeat}", 2, args.steps))
    figures.update({"step_time_1proc_s": round(single, 4), "step_time_2proc_s": round(double, 4),
                    "ddp_2proc_vs_1proc": round(double / single, 3)})
    return figures


def write_bench_shards(folder: Path, args: argparse.Namespace) -> Path:
    write_test_shards(folder, n_clips=args.clips, frames=args.frames, crop_size=CROP, clips_per_shard=4)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--stage", default="2")
    parser.add_argument("--gpu-only", action="store_true")
    parser.add_argument("--gpu-steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, when the GPU is not in the table")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override of the GPU part's paper config")
    parser.add_argument("--shards", type=Path, help="existing shards to read instead of writing synthetic ones")
    parser.add_argument("--write-shards", type=Path, metavar="DIR", help="only write the synthetic shards to DIR, then stop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures: dict[str, object] = {}
    if args.write_shards:
        write_bench_shards(args.write_shards, args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shards = str(args.shards or write_bench_shards(root / "shards", args))
        if not args.gpu_only:
            figures["cpu"] = cpu_figures(shards, root, args)
        if torch.cuda.is_available():
            figures["gpu_paper_bf16"] = gpu_figures(shards, args.gpu_steps, args.peak_tflops, args.set, root)
        elif args.gpu_only:
            parser.error("--gpu-only: no CUDA device here")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
