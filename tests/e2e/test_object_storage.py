"""The cluster path on loopback, end to end on a real S3-compatible server (moto in server mode):
videos read from s3://, shards and manifest written there, two torchrun ranks streaming the
shards from s3:// with checkpoints and exports on s3://, an MLflow server whose artifact store
is s3://, a resume on a fresh working folder, and synthesis from the stored model. Credentials
and the endpoint reach every process through the standard AWS variables only."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pdfgc.train.launch import free_port
from tests.e2e.conftest import BIN, serving

pytestmark = pytest.mark.e2e

BUCKET = "pdfgc-e2e"
ACCESS_KEY = "AKIAPDFGCE2E" + uuid.uuid4().hex[:8].upper()
SECRET_KEY = "pdfgc-e2e-secret-" + uuid.uuid4().hex
"""Distinctive values, so that a leak into params, logs or stored files is found by search."""
COMMAND_TIMEOUT = 300


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`moto_server` on 127.0.0.1 with one bucket; yields the environment every process gets
    (AWS_ENDPOINT_URL selects the server; no config file or parameter names it)."""
    home = tmp_path_factory.mktemp("s3-server")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
        "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "WDS_SECURE": "1", "PREFECT_HOME": str(home / "prefect"),
    }
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with serving(command, env, home, f"{endpoint}/moto-api/", "moto s3 server"):
        _s3(env).mkdir(BUCKET)
        yield env


def _s3(env: dict[str, str]):
    """An s3fs filesystem for the test's own checks, configured like the processes (from env)."""
    import s3fs

    return s3fs.S3FileSystem(key=env["AWS_ACCESS_KEY_ID"], secret=env["AWS_SECRET_ACCESS_KEY"],
                             endpoint_url=env["AWS_ENDPOINT_URL"], skip_instance_cache=True)


@pytest.fixture(scope="module")
def mlflow_s3(tmp_path_factory: pytest.TempPathFactory, s3_env: dict[str, str]) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1: SQLite backend, artifacts proxied to s3://BUCKET/mlartifacts."""
    home = tmp_path_factory.mktemp("mlflow-s3")
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
               "--artifacts-destination", f"s3://{BUCKET}/mlartifacts"]
    uri = f"http://127.0.0.1:{port}"
    with serving(command, s3_env, home, f"{uri}/health", "mlflow server"):
        yield uri


def _pdfgc(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> str:
    """Run the ``pdfgc`` command as a user would; its whole output is kept in ``log``."""
    result = subprocess.run([str(BIN / "pdfgc"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"pdfgc {args[0]} failed:\n{(result.stdout + result.stderr)[-4000:]}"
    return result.stdout


def test_preprocess_train_resume_and_synthesize_on_object_storage(
    s3_env: dict[str, str], mlflow_s3: str, sample_set: Path, tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    s3 = _s3(s3_env)
    s3.put(str(sample_set), f"{BUCKET}/raw", recursive=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**s3_env, "PDFGC_MIRROR_ROOT": str(tmp_path / "machine-a")}
    shards, run = f"s3://{BUCKET}/shards", f"s3://{BUCKET}/runs/r1"
    tiny = ["--config", "tiny", "--set", "compute.processes=false", "--set", "compute.n_workers=2"]

    _pdfgc(["preprocess", f"s3://{BUCKET}/raw", "--out", shards, *tiny], env, tmp_path, logs / "preprocess.log")
    names = [Path(p).name for p in s3.ls(f"{BUCKET}/shards")]
    assert "manifest.parquet" in names and any(n.endswith(".tar") for n in names)
    assert not list((tmp_path / "machine-a").rglob("*.tar")), "the working folder keeps no shard"
