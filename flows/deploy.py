"""``pdfgc deploy``: Prefect deployments of incremental preprocessing and scheduled retraining.

Steps:
1. make sure the process work pool exists on the server that ``PREFECT_API_URL`` names;
2. create (or update) two deployments from this checkout (``flow.from_source`` on the project
   folder): ``preprocess-deployment/preprocess`` (on demand) and ``retrain/scheduled-retrain``
   (on the cron schedule); their parameters are plain values (paths, a config, overrides).
A ``prefect worker start --pool POOL`` started in the project folder runs them.
``infra/prefect/prefect.yaml`` declares the same two deployments for ``prefect deploy``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pdfgc.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POOL = "pdfgc"
DEFAULT_CRON = "0 3 * * 1"
RETRAIN_DEPLOYMENT = "scheduled-retrain"
PREPROCESS_DEPLOYMENT = "preprocess"
QUIET_ENV = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@dataclass
class DeploySpec:
    """What to deploy: the data paths, the config, the schedule and the work pool."""

    source: str
    shards: str
    runs: str
    config: str = "paper"
    overrides: list[str] = field(default_factory=list)
    cron: str | None = DEFAULT_CRON
    pool: str = DEFAULT_POOL
    max_steps: int | None = None


def ensure_process_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return
    if pool.type != "process":
        raise InputError(f"work pool {name!r} exists with type {pool.type!r}, not 'process'")


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _config_source(config: str) -> str:
    from pdfgc.config import PRESETS

    return config if config in PRESETS else _absolute(config)


def deploy(spec: DeploySpec) -> dict[str, str]:
    """Create both deployments; returns ``{deployment name: id}``."""
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("PREFECT_API_URL is not set: deployments need a Prefect server (prefect server start)")
    from prefect import flow

    ensure_process_pool(spec.pool)
    common = {"config": _config_source(spec.config), "overrides": list(spec.overrides)}
    retrain_flow = flow.from_source(source=str(REPO_ROOT), entrypoint="flows/retrain.py:retrain")
    preprocess_flow = flow.from_source(source=str(REPO_ROOT), entrypoint="flows/retrain.py:preprocess_deployment")
    ids = {
        RETRAIN_DEPLOYMENT: retrain_flow.deploy(
            name=RETRAIN_DEPLOYMENT, work_pool_name=spec.pool, cron=spec.cron, print_next_steps=False,
            concurrency_limit=1, job_variables={"env": QUIET_ENV},
            parameters={"source": _absolute(spec.source), "shards": _absolute(spec.shards),
                        "runs": _absolute(spec.runs), "max_steps": spec.max_steps, **common}),
        PREPROCESS_DEPLOYMENT: preprocess_flow.deploy(
            name=PREPROCESS_DEPLOYMENT, work_pool_name=spec.pool, print_next_steps=False,
            job_variables={"env": QUIET_ENV},
            parameters={"source": _absolute(spec.source), "out": _absolute(spec.shards), **common}),
    }
    return {name: str(deployment_id) for name, deployment_id in ids.items()}
