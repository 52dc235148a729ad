"""The LocalCluster's worker processes start with the configured environment (huge pages), and
the flow's own process gets its environment back when the cluster closes."""

from __future__ import annotations

import os
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster

from flows.runners import build_task_runner, worker_environment
from pdfgc.config import ComputeConfig

THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _anon_huge_kib_after_loading_predictor() -> int:
    from pdfgc.labels.landmarks import _shape_predictor

    _shape_predictor()
    rollup = Path(f"/proc/{os.getpid()}/smaps_rollup").read_text()
    return next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("AnonHugePages:"))


def test_worker_environment_keeps_dask_defaults_and_adds_ours() -> None:
    env = worker_environment(ComputeConfig(worker_env={"EXTRA": "1"}))
    assert env["EXTRA"] == "1"
    assert env["MALLOC_TRIM_THRESHOLD_"] == dask.config.get("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_")
    assert "GLIBC_TUNABLES" not in env


@pytest.mark.skipif(not THP_SETTING.exists() or "[never]" in THP_SETTING.read_text(), reason="no transparent huge pages")
def test_process_workers_start_with_malloc_on_huge_pages() -> None:
    env = worker_environment(ComputeConfig())
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        seen = client.run(lambda: os.environ.get("GLIBC_TUNABLES"))
        huge_kib = client.run(_anon_huge_kib_after_loading_predictor)
    assert list(seen.values()) == ["glibc.malloc.hugetlb=1"]
    assert min(huge_kib.values()) >= 50 * 1024, "the 100 MB landmark model should sit on huge pages"


def test_local_runner_gives_the_flows_process_its_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # no temporary API server
    for key in ("MALLOC_TRIM_THRESHOLD_", "MKL_NUM_THREADS", "PYTHONHASHSEED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with build_task_runner(ComputeConfig(n_workers=1, processes=True)) as runner:
        assert runner.client.run(os.getpid)  # the cluster starts with its first client
        during = {key: os.environ.get(key) for key in ("MALLOC_TRIM_THRESHOLD_", "MKL_NUM_THREADS")}
    assert during == {"MALLOC_TRIM_THRESHOLD_": "65536", "MKL_NUM_THREADS": "1"}, "Dask's nanny writes its workers' env here"
    assert not {"MALLOC_TRIM_THRESHOLD_", "MKL_NUM_THREADS", "PYTHONHASHSEED"} & set(os.environ)
    assert os.environ["OMP_NUM_THREADS"] == "2"
