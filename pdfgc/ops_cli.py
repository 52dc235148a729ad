"""The ML-ops commands of ``pdfgc``: ``curate``, ``retrain``, ``registry`` and ``deploy``.

``pdfgc.cli.build_parser`` adds them; each parses its arguments, loads the config and calls the
library (``pdfgc.curate``, the MLflow registry adapter) or a flow (``flows/retrain.py``,
``flows/deploy.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pdfgc.config import PRESETS, PdfgcConfig
from pdfgc.console import configure, log_file_for, quiet_engines
from pdfgc.errors import InputError
from pdfgc.train.plan import positive_int

Subparsers = argparse._SubParsersAction


def _config(args: argparse.Namespace) -> PdfgcConfig:
    from pdfgc.cli import _load

    return _load(args)


def _config_source(args: argparse.Namespace) -> str:
    return getattr(args, "preset", None) or args.config or args.default_config or "paper"


def _require(path: str) -> None:
    if "://" not in path and not Path(path).exists():
        raise InputError(f"{path}: no such file or folder")


def add_curate(sub: Subparsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("curate", parents=[parent], help="write a curated view of a shard folder (filters, near-duplicates)",
                       description="Measure every sample, apply the curate.* filters, drop near-duplicates and "
                       "cap clips per speaker; write VIEW.parquet (every sample, kept or dropped with its reason) "
                       "and VIEW.html. Shards are not rewritten.")
    p.add_argument("shards", help="shard folder (with manifest.parquet)")
    p.add_argument("--out", required=True, type=Path, help="the view's .parquet file")
    p.set_defaults(func=_run_curate, default_config="paper")


def _run_curate(args: argparse.Namespace) -> int:
    from pdfgc.curate import curate

    _require(args.shards)
    summary = curate(args.shards, args.out, _config(args))
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def add_retrain(sub: Subparsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("retrain", parents=[parent], help="preprocess new videos, fine-tune a challenger, promote it if it wins",
                       description="Incremental preprocessing; with enough new samples a challenger fine-tunes from "
                       "the registered champion, both are evaluated on the fixed test split and the champion alias "
                       "moves only when the challenger wins (retrain.* config). Prints the decision.")
    p.add_argument("--source", required=True, help="video folder, fsspec URL or list")
    p.add_argument("--shards", required=True, help="shard folder (grows incrementally)")
    p.add_argument("--runs", required=True, type=Path, help="folder of the run folders (and, by default, the MLflow store)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="shorthand for --config PRESET")
    p.add_argument("--max-steps", type=positive_int, default=None, help="train every stage to this step, in place of its configured steps")
    p.set_defaults(func=_run_retrain, default_config="paper")


def _run_retrain(args: argparse.Namespace) -> int:
    _require(args.source)
    _config(args)
    from flows.retrain import format_decision, retrain

    configure(args.verbose, log_file_for(args.runs, "retrain"))
    quiet_engines(args.verbose)
    result = retrain(args.source, args.shards, str(args.runs), config=_config_source(args),
                     overrides=args.overrides, max_steps=args.max_steps)
    print(format_decision(result))
    return 0


def add_registry(sub: Subparsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("registry", parents=[parent], help="list model versions, aliases, scores, decisions; promote one",
                       description="Without a subcommand: list. 'promote VERSION' moves the champion alias (rollback).")
    p.add_argument("--runs", type=Path, default=None, help="the runs folder of pdfgc retrain (its MLflow store) "
                   "when tracking.uri is not set")
    rsub = p.add_subparsers(dest="registry_command")
    promote = rsub.add_parser("promote", help="move the champion alias to VERSION (options go before 'promote')")
    promote.add_argument("version", help="model version number")
    p.set_defaults(func=_run_registry, default_config="paper")


def _registry(args: argparse.Namespace):
    from pdfgc.integrations.mlflow_registry import ModelRegistry

    cfg = _config(args)
    uri = cfg.tracking.uri
    if uri is None:
        if args.runs is None:
            raise InputError("no registry: set tracking.uri or give --runs (the runs folder of pdfgc retrain)")
        from pdfgc.integrations.mlflow_logger import default_tracking_uri

        _require(str(args.runs))
        uri = default_tracking_uri(args.runs)
    return ModelRegistry(uri, cfg.tracking.registered_model, cfg.retrain.alias)


def format_versions(rows: list[dict], alias: str) -> str:
    header = f"{'version':>7}  {'aliases':<12} {'decision':<14} scores (challenger | champion)  reason"
    lines = [header]
    for row in rows:
        tags = row["tags"]
        mine = {k.split(".", 2)[2]: v for k, v in tags.items() if k.startswith("score.challenger.")}
        theirs = {k.split(".", 2)[2]: v for k, v in tags.items() if k.startswith("score.champion.")}
        scores = ", ".join(f"{m}={v}" + (f"|{theirs[m]}" if m in theirs else "") for m, v in sorted(mine.items()))
        lines.append(f"{row['version']:>7}  {','.join(row['aliases']) or '-':<12} {tags.get('decision', '-'):<14} "
                     f"{scores or '-'}  {tags.get('decision.reason', '')}")
    return "\n".join(lines) if rows else f"no versions registered (alias {alias!r} unset)"


def _run_registry(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.registry_command == "promote":
        before = registry.champion()
        registry.set_champion(args.version)
        print(f"{registry.name}: {registry.alias} -> version {args.version} (was {before.version if before else 'unset'})")
        return 0
    print(format_versions(registry.versions(), registry.alias))
    return 0


def add_deploy(sub: Subparsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("deploy", parents=[parent], help="Prefect deployments: preprocessing and scheduled retraining",
                       description="Create the preprocess and scheduled-retrain deployments on the Prefect server "
                       "named by PREFECT_API_URL, in a process work pool; run them with "
                       "'prefect worker start --pool POOL' in the project folder.")
    p.add_argument("--source", required=True, help="video folder the scheduled runs read")
    p.add_argument("--shards", required=True, help="shard folder")
    p.add_argument("--runs", required=True, help="runs folder")
    p.add_argument("--cron", default="0 3 * * 1", help="retrain schedule (cron, UTC; default: Mondays 03:00)")
    p.add_argument("--pool", default="pdfgc", help="process work pool (created when missing)")
    p.add_argument("--max-steps", type=positive_int, default=None, help="train every stage to this step, in place of its configured steps")
    p.set_defaults(func=_run_deploy, default_config="paper")


def _run_deploy(args: argparse.Namespace) -> int:
    _config(args)
    from flows.deploy import DeploySpec, deploy

    spec = DeploySpec(args.source, args.shards, args.runs, _config_source(args), list(args.overrides),
                      args.cron or None, args.pool, args.max_steps)
    for name, deployment_id in deploy(spec).items():
        print(f"deployment {name}: {deployment_id}")
    return 0


OPS_COMMANDS = (add_curate, add_retrain, add_registry, add_deploy)
