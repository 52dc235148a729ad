"""The Dask task runner, chosen by config alone: a scheduler address, a cluster class
(dask-jobqueue, Kubernetes) or, by default, a LocalCluster on this machine."""

from __future__ import annotations

import os

from prefect_dask import DaskTaskRunner

from pdfgc.config import ComputeConfig


def build_task_runner(compute: ComputeConfig) -> DaskTaskRunner:
    if compute.dask_address:
        return DaskTaskRunner(address=compute.dask_address)
    if compute.cluster_class:
        adapt = {"minimum": 1, "maximum": compute.adapt_max} if compute.adapt_max else None
        return DaskTaskRunner(
            cluster_class=compute.cluster_class, cluster_kwargs=dict(compute.cluster_kwargs), adapt_kwargs=adapt
        )
    kwargs = {
        "n_workers": compute.n_workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": compute.processes,
        "dashboard_address": None,
    }
    if compute.processes:
        kwargs["host"] = "127.0.0.1"
    return DaskTaskRunner(cluster_kwargs=kwargs)
