"""Preprocessing through real engines: a `prefect server` and a Dask scheduler with worker
processes on loopback, and the embedded default (ephemeral API, threaded LocalCluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from pdfgc.preprocess.writer import load_npy, read_sample_members

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def run_preprocess(sample: Path, out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "pdfgc"), "preprocess", str(sample), "--out", str(out), "--config", "tiny", *extra],
                          capture_output=True, text=True, env=env, timeout=900)


def flow_runs(api: str) -> list[dict]:
    request = urllib.request.Request(f"{api}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_distributed_workers_and_prefect_server(sample_set, dask_cluster, prefect_server, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    out = tmp_path / "shards"
    first = run_preprocess(sample_set, out, env, "--dask-address", dask_cluster["address"])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert set(manifest["speaker"]) == {"id00001", "id00002", "id00003"}
    for shard in sorted(out.glob("*.tar")):
        for sample in read_sample_members(shard).values():
            n_frames = len(load_npy(sample["frame_offsets.npy"])) - 1
            assert load_npy(sample["mel.npy"]).shape == (4 * n_frames, 80)
    states = {run["state_type"] for run in flow_runs(prefect_server) if run["name"]}
    assert "COMPLETED" in states

    second = run_preprocess(sample_set, out, env, "--dask-address", dask_cluster["address"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "nothing to do" in second.stdout + second.stderr
    assert len(pd.read_parquet(out / "manifest.parquet")) == len(manifest)


def test_embedded_default_matches_distributed_keys(sample_set, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / ".prefect")
    out = tmp_path / "shards"
    result = run_preprocess(sample_set, out, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    keys = set(pd.read_parquet(out / "manifest.parquet")["key"])
    assert len(keys) >= 3 and all(k.startswith("id0000") for k in keys)


def test_a_killed_dask_worker_loses_no_video(sample_set, prefect_server, tmp_path_factory, tmp_path):
    """kill -9 one of two workers once the first video is staged: Dask reruns its task on the
    other worker and the key set equals an uninterrupted run's."""
    from tests.e2e.conftest import start_dask_cluster, stop

    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    reference = tmp_path / "reference"
    assert run_preprocess(sample_set, reference, env).returncode == 0
    cluster = start_dask_cluster(tmp_path_factory.mktemp("dask-kill"), prefect_server)
    out = tmp_path / "shards"
    try:
        command = [str(BIN / "pdfgc"), "preprocess", str(sample_set), "--out", str(out), "--config", "tiny",
                   "--dask-address", cluster["address"]]
        flow = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 300
        while not list((out / "_staging").glob("*.json")) and time.monotonic() < deadline and flow.poll() is None:
            time.sleep(0.2)
        killed_mid_run = flow.poll() is None and len(list((out / "_staging").glob("*.json"))) < 3
        cluster["workers"][0].kill()
        output, _ = flow.communicate(timeout=600)
    finally:
        for process in [*cluster["workers"], cluster["scheduler"]]:
            stop(process)
    assert killed_mid_run and flow.returncode == 0, output[-3000:]
    keys = set(pd.read_parquet(out / "manifest.parquet")["key"])
    assert keys == set(pd.read_parquet(reference / "manifest.parquet")["key"])


def test_fsspec_output_root_with_worker_processes(sample_set, dask_cluster, prefect_server, tmp_path):
    """Workers upload their staging to the URL (no shared folder needed); the flow packs in a mirror."""
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PDFGC_MIRROR_ROOT": str(tmp_path / "mirrors")}
    bucket = tmp_path / "bucket" / "shards"
    result = run_preprocess(sample_set, f"file://{bucket}", env, "--dask-address", dask_cluster["address"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = pd.read_parquet(bucket / "manifest.parquet")
    shard_keys = {key for shard in sorted(bucket.glob("*.tar")) for key in read_sample_members(shard)}
    assert shard_keys == set(manifest["key"]) and len(shard_keys) >= 3
    assert not list((bucket / "_staging").iterdir())
    assert not list((tmp_path / "mirrors").rglob("*.tar"))
    again = run_preprocess(sample_set, f"file://{bucket}", env, "--dask-address", dask_cluster["address"])
    assert "nothing to do" in again.stdout + again.stderr
