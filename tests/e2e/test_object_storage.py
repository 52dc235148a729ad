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
SHARED = Path(os.environ.get("PDFGC_SHARED_SAMPLES", Path(__file__).resolve().parents[3] / "shared" / "samples"))
TEXT_SUFFIXES = {".json", ".jsonl", ".yaml", ".log", ".txt", ""}


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
def mlflow_s3(tmp_path_factory: pytest.TempPathFactory, s3_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """``mlflow server`` on 127.0.0.1: SQLite backend, artifacts proxied to s3://BUCKET/mlartifacts."""
    home = tmp_path_factory.mktemp("mlflow-s3")
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
               "--artifacts-destination", f"s3://{BUCKET}/mlartifacts"]
    uri = f"http://127.0.0.1:{port}"
    with serving(command, s3_env, home, f"{uri}/health", "mlflow server"):
        yield uri, home


def _pdfgc(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> str:
    """Run the ``pdfgc`` command as a user would; its whole output is kept in ``log``."""
    result = subprocess.run([str(BIN / "pdfgc"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"pdfgc {args[0]} failed:\n{(result.stdout + result.stderr)[-4000:]}"
    return result.stdout


def _secret_leaks(folders: list[Path]) -> list[str]:
    """Files under ``folders`` whose text holds the secret key or the access key id."""
    leaks = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 50_000_000:
                text = path.read_bytes()
                if SECRET_KEY.encode() in text or ACCESS_KEY.encode() in text:
                    leaks.append(str(path))
    return leaks


def test_preprocess_train_resume_and_synthesize_on_object_storage(
    s3_env: dict[str, str], mlflow_s3: tuple[str, Path], sample_set: Path, prefect_server: str, tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    tracking_uri, mlflow_home = mlflow_s3
    s3 = _s3(s3_env)
    s3.put(str(sample_set), f"{BUCKET}/raw", recursive=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**s3_env, "PDFGC_MIRROR_ROOT": str(tmp_path / "machine-a"), "PREFECT_API_URL": prefect_server}
    shards, run = f"s3://{BUCKET}/shards", f"s3://{BUCKET}/runs/r1"
    tiny = ["--config", "tiny", "--set", "compute.processes=false", "--set", "compute.n_workers=2"]

    _pdfgc(["preprocess", f"s3://{BUCKET}/raw", "--out", shards, *tiny], env, tmp_path, logs / "preprocess.log")
    names = [Path(p).name for p in s3.ls(f"{BUCKET}/shards")]
    assert "manifest.parquet" in names and any(n.endswith(".tar") for n in names)

    train = ["train", "--shards", shards, "--out", run, "--stage", "2", "--nproc", "2", "--config", "tiny",
             "--set", f"tracking.uri={tracking_uri}", "--set", "train.checkpoint_every=1", "--set", "train.image_every=2"]
    _pdfgc([*train, "--max-steps", "2"], env, tmp_path, logs / "train.log")
    stage = f"{BUCKET}/runs/r1/stage_2"
    assert s3.cat(f"{stage}/checkpoints/latest.pt") == s3.cat(f"{stage}/checkpoints/step_00000002.pt")
    assert {"export.pt", "stage_result.json", "mlflow_run.json", "metrics.jsonl"} <= {Path(p).name for p in s3.ls(stage)}
    assert s3.exists(f"{BUCKET}/runs/r1/summary.json") and s3.exists(f"{BUCKET}/runs/r1/config.yaml")
    assert not list((tmp_path / "machine-a").rglob("*.tar")), "shards are streamed, never copied to the machine"

    fresh = {**env, "PDFGC_MIRROR_ROOT": str(tmp_path / "machine-b")}
    _pdfgc([*train, "--max-steps", "4"], fresh, tmp_path, logs / "resume.log")
    assert "resumed from" in (logs / "resume.log").read_text()
    assert json.loads(s3.cat(f"{stage}/stage_result.json"))["steps"] == 4

    client = MlflowClient(tracking_uri)
    run_id = json.loads(s3.cat(f"{stage}/mlflow_run.json"))["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [1, 2, 3, 4]
    stored = s3.find(f"{BUCKET}/mlartifacts")
    assert any(p.endswith("/model/export.pt") for p in stored), "registered model's files on s3://"
    assert any(p.endswith(".png") for p in stored) and any(p.endswith("/checkpoints/latest.pt") for p in stored)
    assert client.get_model_version("pdfgc-generator", "2").tags["stage"] == "2"

    portrait, audio = SHARED / "images" / "PD-FGC-inference__anne.png", SHARED / "videos" / "video-retalking__2.mp4"
    video = tmp_path / "from-s3.mp4"
    _pdfgc(["synthesize", "--model", f"{run}/stage_2/export.pt", "--portrait", str(portrait), "--audio", str(audio),
            "--out", str(video)], fresh, tmp_path, logs / "synthesize.log")
    assert video.stat().st_size > 0

    for run_info in client.search_runs([client.get_experiment_by_name("pdfgc").experiment_id]):
        values = " ".join(str(v) for v in run_info.data.params.values())
        assert SECRET_KEY not in values and ACCESS_KEY not in values
    assert not _secret_leaks([tmp_path, mlflow_home]), "a credential reached a log or a stored file"
