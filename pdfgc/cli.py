"""The ``pdfgc`` command: parse arguments, load one config, call the library or a flow.

Errors a user can cause (a bad config key, a missing input) print one line and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pdfgc.config import PRESETS, PdfgcConfig, explain_config, load_config
from pdfgc.console import configure as configure_console
from pdfgc.console import log_file_for, quiet_engines
from pdfgc.errors import InputError, PdfgcError
from pdfgc.stages import ALL, KNOWN_STAGES, STAGES
from pdfgc.train.plan import positive_int

_logger = logging.getLogger("pdfgc")
STAGE_CHOICES = (*KNOWN_STAGES, ALL)


def _config_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", default=None,
        help=f"a preset ({', '.join(PRESETS)}) or a YAML file; default depends on the command",
    )
    parent.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config key, e.g. --set data.fps=25 (repeatable)",
    )
    parent.add_argument("-v", "--verbose", action="store_true",
                        help="show every log line (Prefect, Dask, ranks) on the terminal, at debug level")
    return parent


def _add_demo(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[parent], help="run the whole pipeline on the bundled sample set",
                       description="Sample set -> shards -> critic and stages 1-3 (torchrun) -> "
                       "MLflow -> a synthesized mp4 and an HTML report, in one Prefect flow.")
    p.add_argument("--workdir", type=Path, default=Path("demo-work"), help="output folder (default: demo-work)")
    p.add_argument("--speakers", type=positive_int, default=6, help="speakers in the generated sample set (default 6: "
                   "the train split gets 4 of them, val and test 1 each)")
    p.add_argument("--clips", type=positive_int, default=2, help="clips per speaker")
    p.add_argument("--seconds", type=float, default=6.0, help="seconds per clip")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps of every stage (default: the preset's)")
    p.set_defaults(func=_run_demo, default_config="demo")


def _add_preprocess(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("preprocess", parents=[parent], help="videos -> WebDataset shards (Prefect + Dask)",
                       description="Decode, track and align faces, compute audio features and labels, "
                       "write shards, manifest.parquet and quarantine.parquet. Resumable and incremental.")
    p.add_argument("input", help="folder, fsspec URL, or a .csv/.parquet list of videos")
    p.add_argument("--out", required=True, help="output folder or fsspec URL for the shards")
    p.add_argument("--dask-address", default=None, help="attach to this Dask scheduler instead of a LocalCluster")
    p.set_defaults(func=_run_preprocess, default_config="paper")


def _add_label(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("label", parents=[parent], help="print every label of an image or video as JSON lines")
    p.add_argument("file", type=Path, help="an image or a video")
    p.add_argument("--backend", default=None, help="select a backend: dlib or fan (landmarks), pnp or deep3d (pose), emoca (expression), learned (gaze)")
    p.add_argument("--out", type=Path, default=None, help="write JSON lines here instead of stdout")
    p.set_defaults(func=_run_label, default_config="paper")


def _add_train(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[parent], help="run training stages with torchrun, tracked in MLflow")
    p.add_argument("--shards", required=True, help="shard folder, brace pattern or fsspec URL")
    p.add_argument("--stage", choices=STAGE_CHOICES, default="all", help=f"stage to run ({ALL} = {','.join(STAGES)}, plus sync when sync.in_all)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="shorthand for --config PRESET")
    p.add_argument("--max-steps", type=positive_int, default=None, help="train every stage to this step, in place of its configured steps")
    p.add_argument("--nproc", type=positive_int, default=None, help="processes per node (default: config)")
    p.add_argument("--nnodes", type=positive_int, default=None, help="nodes (default: config)")
    p.add_argument("--node-rank", type=int, default=0,
                   help="this node's rank (0 hosts the rendezvous and owns the MLflow run; default 0)")
    p.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                   help="c10d rendezvous of a multi-node run (default: train.rdzv_endpoint, on 127.0.0.1)")
    p.add_argument("--out", default="runs/train", help="run folder or fsspec URL (s3://...)")
    p.add_argument("--view", default=None, help="a curated view (pdfgc curate): train on its kept samples")
    p.set_defaults(func=_run_train, default_config="paper")


def _add_synthesize(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("synthesize", parents=[parent], help="portrait + audio (+ driver videos) -> mp4")
    p.add_argument("--model", required=True, help="export.pt path or URL (s3://...), or models:/NAME/VERSION")
    p.add_argument("--portrait", type=Path, required=True, help="source portrait image")
    p.add_argument("--audio", type=Path, required=True, help="audio or video file whose sound drives the lips")
    p.add_argument("--pose", type=Path, default=None, help="video driving head pose (default: portrait, still)")
    p.add_argument("--eyes", type=Path, default=None, help="video driving gaze and blinks")
    p.add_argument("--expression", type=Path, default=None, help="video driving the expression")
    p.add_argument("--out", type=Path, default=Path("synth.mp4"), help="output mp4")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for models:/ URIs (default: $MLFLOW_TRACKING_URI)")
    p.set_defaults(func=_run_synthesize, default_config=None)


def _add_evaluate(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("evaluate", parents=[parent], help="measure a trained model against real frames",
                       description="Self-driven and cross-driven synthesis on a split's clips, measured beside "
                       "the real frames (ceiling) and the source held still (floor): DIR/metrics.json, DIR/report.html.")
    p.add_argument("--model", required=True, help="export.pt path, runs:/ID/PATH, models:/NAME/VERSION or models:/NAME@ALIAS")
    p.add_argument("--shards", required=True, help="shard folder (with manifest.parquet) or fsspec URL")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test", help="clips to evaluate (default: test)")
    p.add_argument("--max-clips", type=positive_int, default=None, help="evaluate at most N clips")
    p.add_argument("--sync-model", default=None, help="a trained sync expert (path or MLflow URI) for LSE-D/LSE-C rows")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    p.set_defaults(func=_run_evaluate, default_config=None)


def _add_model(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("model", help="inspect the networks")
    msub = p.add_subparsers(dest="model_command", required=True)
    s = msub.add_parser("summary", parents=[parent], help="parameters and FLOPs per network")
    s.add_argument("--preset", choices=PRESETS, default=None, help="shorthand for --config PRESET")
    s.set_defaults(func=_run_model_summary, default_config="paper")


def _add_config(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", help="inspect the configuration")
    csub = p.add_subparsers(dest="config_command", required=True)
    s = csub.add_parser("show", parents=[parent], help="print the effective config as YAML")
    s.add_argument("--explain", action="store_true", help="precede every key by its description")
    s.set_defaults(func=_run_config_show, default_config="paper")


def _add_infra(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("infra", help="cluster launch files")
    isub = p.add_subparsers(dest="infra_command", required=True)
    r = isub.add_parser("render", parents=[parent], help="render infra/ (SLURM, Kubernetes, Dask) from the config")
    r.add_argument("--out", type=Path, default=Path("infra"), help="folder to write into (default: infra)")
    r.set_defaults(func=_run_infra_render, default_config="infra/cluster.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdfgc",
        description="Prepare talking-head data and train PD-FGC: preprocess -> train (3 stages) -> synthesize.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = _config_parent()
    from pdfgc.ops_cli import OPS_COMMANDS

    for add in (_add_demo, _add_preprocess, _add_label, _add_train, _add_synthesize, _add_evaluate, _add_model,
                _add_config, _add_infra, *OPS_COMMANDS):
        add(sub, parent)
    return parser


def _load(args: argparse.Namespace) -> PdfgcConfig:
    source = getattr(args, "preset", None) or args.config or args.default_config or "paper"
    return load_config(source, args.overrides)


def _run_config_show(args: argparse.Namespace) -> int:
    cfg = _load(args)
    print(explain_config(cfg) if args.explain else cfg.to_yaml(), end="")
    return 0


def _run_model_summary(args: argparse.Namespace) -> int:
    from pdfgc.models.summary import summarize

    print(summarize(_load(args).model))
    return 0


def _run_infra_render(args: argparse.Namespace) -> int:
    from flows.infra import render_all
    from pdfgc.infra.render import write_files

    source = args.config or args.default_config
    for path in write_files(render_all(_load(args), source), args.out):
        print(path)
    return 0


def _run_label(args: argparse.Namespace) -> int:
    _require_path(args.file)
    from pdfgc.labels.cli import label_file, with_backend

    return label_file(args.file, with_backend(_load(args).labels, args.backend), args.out)


def _run_preprocess(args: argparse.Namespace) -> int:
    if "://" not in args.input:
        _require_path(Path(args.input))
    from pdfgc.preprocess.plan import format_summary, no_op_summary, plan_run

    cfg = _load(args)
    if args.dask_address:
        cfg.compute.dask_address = args.dask_address
    plan = plan_run(args.input, args.out, cfg)
    if plan is not None and plan.nothing_to_do:
        print(f"nothing to do: all {plan.n_total} videos of {args.input} are already in {args.out}")
        print("preprocess summary\n" + format_summary(no_op_summary(plan, args.out)))
        return 0
    from flows.preprocess import preprocess

    quiet_engines(args.verbose)
    summary = preprocess(args.input, args.out, cfg)
    print("preprocess summary\n" + format_summary(summary))
    all_new_failed = summary["videos_new"] > 0 and summary["videos_ok"] == 0
    return 1 if all_new_failed else 0


def _run_train(args: argparse.Namespace) -> int:
    if "://" not in args.shards and "{" not in args.shards:
        _require_path(Path(args.shards))
    from flows.runners import share_ephemeral_api
    from flows.train import train

    quiet_engines(args.verbose)
    share_ephemeral_api()
    cfg = _load(args)
    if args.nproc:
        cfg.train.nproc_per_node = args.nproc
    if args.nnodes:
        cfg.train.nnodes = args.nnodes
    if args.rdzv_endpoint:
        cfg.train.rdzv_endpoint = args.rdzv_endpoint
    if not 0 <= args.node_rank < cfg.train.nnodes:
        raise InputError(f"--node-rank {args.node_rank} is not in 0..{cfg.train.nnodes - 1} (--nnodes {cfg.train.nnodes})")
    if args.view:
        from pdfgc.curate.view import check_view

        cfg.train.view = check_view(args.view, args.shards)
    train(args.shards, args.out, cfg, stage=args.stage, max_steps=args.max_steps, node_rank=args.node_rank)
    return 0


def _run_synthesize(args: argparse.Namespace) -> int:
    from pdfgc.synth.synthesize import SynthesisInputs, synthesize

    for path in (args.portrait, args.audio, args.pose, args.eyes, args.expression):
        if path is not None:
            _require_path(path)
    inputs = SynthesisInputs(args.portrait, args.audio, args.pose, args.eyes, args.expression)
    out = synthesize(args.model, inputs, args.out, config_source=args.config, overrides=args.overrides,
                     tracking_uri=args.tracking_uri)
    print(out)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from pdfgc.eval.evaluate import EvalRequest, evaluate

    if "://" not in args.shards:
        _require_path(Path(args.shards))
    if args.max_clips is not None and args.max_clips < 1:
        raise InputError(f"--max-clips {args.max_clips}: must be at least 1")
    request = EvalRequest(args.model, args.shards, args.out, args.split, args.max_clips, args.tracking_uri, args.sync_model)
    document = evaluate(request)
    print(f"evaluated {document['clips']} clip(s), skipped {len(document['skipped'])}: {document['paths']['metrics']}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from flows.demo import demo, print_summary

    quiet_engines(args.verbose)
    summary = demo(args.workdir, _load(args), speakers=args.speakers, clips=args.clips, seconds=args.seconds,
                   steps=args.steps)
    print_summary(summary)
    return 0


def _require_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")


def _log_file(args: argparse.Namespace) -> Path | None:
    """The log file of the long commands (preprocess, train, demo), in their output folder
    (``pdfgc retrain`` names its own once its inputs are checked)."""
    folder = {"preprocess": "out", "train": "out", "demo": "workdir"}.get(args.command)
    return log_file_for(getattr(args, folder), args.command) if folder else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_console(getattr(args, "verbose", False), _log_file(args))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except PdfgcError as exc:
        print(f"pdfgc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pdfgc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
