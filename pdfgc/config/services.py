"""Sections for the services around the library: experiment tracking and Dask compute."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pdfgc.config.base import HUGE_PAGE_MALLOC_ENV, Section


class TrackingConfig(Section):
    """Where training runs and the trained model are recorded (MLflow)."""

    uri: str | None = None
    """MLflow tracking URI; None -> ``sqlite:///<workdir>/mlflow.db`` (embedded)."""
    experiment: str = "pdfgc"
    """MLflow experiment of the runs."""
    registered_model: str = "pdfgc-generator"
    """Model Registry name the stage-3 export is registered under."""


class ComputeConfig(Section):
    """The Dask cluster that preprocessing runs on."""

    dask_address: str | None = None
    """Address of an existing Dask scheduler; None starts a LocalCluster."""
    n_workers: int | None = None
    """LocalCluster workers; None = one per core."""
    processes: bool = True
    """LocalCluster workers as processes (default: dlib's face detector does not run in
    parallel across threads) or threads (lighter to start, for tiny inputs)."""
    cluster_class: str | None = None
    """Dotted path of a Dask cluster class (e.g. ``dask_jobqueue.SLURMCluster``,
    ``dask_kubernetes.operator.KubeCluster``); used when ``dask_address`` is None."""
    cluster_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``cluster_class`` (queue, cores, memory, image, ...)."""
    adapt_max: int | None = None
    """With ``cluster_class``: scale adaptively between 1 and this many workers."""
    worker_env: dict[str, str] = Field(default_factory=lambda: dict(HUGE_PAGE_MALLOC_ENV))
    """Environment of LocalCluster worker processes, set before they start (Dask's
    ``distributed.nanny.pre-spawn-environ``). The default backs malloc with transparent huge
    pages: dlib's 100 MB landmark model is read at random, and huge pages (fewer TLB misses)
    make its predictor about 20 % faster. Workers you start yourself take the same variables
    (docs/OPERATIONS.md)."""
