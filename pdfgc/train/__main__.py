"""Entry point of one training process: ``torchrun ... -m pdfgc.train --config RUN/config.yaml ...``.

Every rank reads the same resolved config file. Rank 0 attaches to MLflow (a child run under
``--parent-run-id``), appends metrics to ``OUT/metrics.jsonl`` and writes
``OUT/stage_result.json`` at the end. A failing rank logs its rank and error and exits non-zero
(``@record`` leaves the traceback for torchrun), so torchrun stops the whole job.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from pdfgc.config import load_config
from pdfgc.io import atomic_write_json
from pdfgc.stages import KNOWN_STAGES
from pdfgc.train.distributed import cleanup
from pdfgc.train.layout import StageLayout
from pdfgc.train.loop import train_stage
from pdfgc.train.metrics import (
    ConsoleLogger,
    JsonlLogger,
    LoggerGroup,
    MetricLogger,
    NullLogger,
)
from pdfgc.train.plan import DEFAULT_TASK_FACTORY, StageRequest, positive_int

_logger = logging.getLogger("pdfgc.train")

LOG_FORMAT = "[rank{rank}] %(asctime)s %(levelname)s %(name)s: %(message)s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pdfgc.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="resolved config YAML (same file on every rank)")
    parser.add_argument("--stage", required=True, choices=KNOWN_STAGES)
    parser.add_argument("--shards", required=True, help="shard folder, brace pattern or fsspec URL")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--init-from", type=Path, default=None, help="previous stage's export.pt")
    parser.add_argument("--critic-from", type=Path, default=None, help="the critic stage's export.pt")
    parser.add_argument("--max-steps", type=positive_int, default=None)
    parser.add_argument("--parent-run-id", default=None, help="MLflow parent run; the stage logs a child run")
    parser.add_argument("--tracking-uri", default=None, help="overrides tracking.uri of the config")
    parser.add_argument("--task-factory", default=DEFAULT_TASK_FACTORY, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def request_from(args: argparse.Namespace) -> StageRequest:
    return StageRequest(args.stage, args.shards, args.out, args.init_from, args.critic_from, args.max_steps,
                        args.task_factory)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _make_logger(args: argparse.Namespace, tracking_uri: str | None, experiment: str) -> MetricLogger:
    """Rank 0: console + metrics.jsonl + MLflow (``tracking.uri``; None -> sqlite in OUT)."""
    if _rank() != 0:
        return NullLogger()
    from pdfgc.integrations.mlflow_logger import MLflowLogger, default_tracking_uri

    tracking_uri = tracking_uri or default_tracking_uri(args.out)
    layout = StageLayout(args.out)
    run_file = layout.mlflow_run
    previous = json.loads(run_file.read_text()) if run_file.exists() else {}
    resumed_run = previous.get("run_id") if previous.get("tracking_uri") == tracking_uri else None
    tracker = MLflowLogger(tracking_uri, experiment, run_name=f"stage-{args.stage}", run_id=resumed_run,
                           parent_run_id=args.parent_run_id, tags={"pdfgc.stage": args.stage})
    atomic_write_json(run_file, {"run_id": tracker.run_id, "tracking_uri": tracking_uri})
    return LoggerGroup([ConsoleLogger(), JsonlLogger(layout.metrics), tracker])


@record
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT.format(rank=_rank()), stream=sys.stdout, force=True)
    cfg = load_config(args.config)
    logger = _make_logger(args, args.tracking_uri or cfg.tracking.uri, cfg.tracking.experiment)
    try:
        result = train_stage(cfg, request_from(args), logger)
    except BaseException as exc:
        _logger.error("rank %d failed in stage %s: %s: %s", _rank(), args.stage, type(exc).__name__, exc)
        logger.close(status="FAILED")
        raise
    if _rank() == 0:
        atomic_write_json(StageLayout(args.out).result, result.to_json())
    logger.close()
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
