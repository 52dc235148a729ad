"""Evaluation cost per generated frame beside synthesis cost per frame.

    .venv/bin/python bench/evaluate.py --shards DIR [--model EXPORT_OR_URI | --preset tiny|paper]
        [--clips N] [--device cpu|cuda]

Runs the ``pdfgc evaluate`` runner (``run_evaluation``: self-driven, cross-driven and the four
driver swaps of the cross-talk matrix) on N clips of the shards with the real measuring code,
and splits its wall time into synthesis (``render_clip``: audio encoder, motion encoder and
heads, generator) and everything else (measuring the model's frames, the real frames and the
held source, and scoring). Without ``--model`` the model is the preset's network with random
weights: synthesis costs the same as a trained one, but its frames hold no face, so measuring
them stops after face detection. The last columns measure that effect: the measuring code's
cost per real frame (a face in every frame) gives the cost for a model whose every frame has a
face. Times are CPU seconds of the process (one thread), so a busy machine does not skew the
ratio. Prints a Markdown table. Goal: evaluation at most 2x synthesis.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from pdfgc.config import load_config
from pdfgc.eval.clips import load_clips, read_manifest, select_clips
from pdfgc.eval.evaluate import ClipEvaluator, run_evaluation
from pdfgc.eval.generate import load_eval_model
from pdfgc.eval.scoring import build_scorer
from pdfgc.models import build_model
from pdfgc.train.checkpoint import save_export


def random_export(preset: str, crop_size: int, folder: Path) -> Path:
    cfg = load_config(preset, [f"data.crop_size={crop_size}"])
    torch.manual_seed(0)
    return save_export(folder / "export.pt", "3", cfg.model_dump(mode="json"), {"model": build_model(cfg.model)}, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", required=True)
    parser.add_argument("--model", default=None, help="export path or MLflow URI (default: random weights of --preset)")
    parser.add_argument("--preset", default="tiny", choices=("tiny", "paper"))
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--split", default="all")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ClipEvaluator.clock = staticmethod(time.process_time)  # CPU seconds: the figures survive a busy machine
    refs = select_clips(read_manifest(args.shards), args.split, args.clips)
    clips = load_clips(args.shards, refs)
    crop = next(iter(clips.values())).frames.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        model = load_eval_model(args.model or str(random_export(args.preset, crop, Path(tmp))))
    model.net.to(args.device)
    scorer = build_scorer(model.cfg)
    real_frames = sum(c.n_frames for c in clips.values())
    start = time.process_time()
    for clip in clips.values():
        scorer.measure(clip.frames)
    measure_real_ms = (time.process_time() - start) * 1000 / real_frames
    start = time.process_time()
    document, state = run_evaluation(model, scorer, clips, args.split)
    total = time.process_time() - start
    synthesis = state.seconds["synthesis"]
    frames = state.generated_frames
    synth_ms, eval_ms = synthesis * 1000 / frames, (total - synthesis) * 1000 / frames
    measured_per_generated = (total - synthesis) / max(state.seconds["measuring"], 1e-9)
    print("| model | image px | clips | generated frames | synthesis ms/frame | evaluation ms/generated frame | "
          "evaluation / synthesis | measuring ms/real frame |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.model or args.preset + ' (random weights)'} | {model.image_size} | {document['clips']} | {frames} | "
          f"{synth_ms:.1f} | {eval_ms:.1f} | {eval_ms / synth_ms:.1f}x | {measure_real_ms:.1f} |")
    print(f"(measuring is {100 / measured_per_generated:.0f} % of the evaluation time beside synthesis; "
          f"{len(document['skipped'])} clip(s) skipped)")


if __name__ == "__main__":
    main()
