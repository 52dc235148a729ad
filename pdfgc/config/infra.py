"""The cluster launch files that ``pdfgc infra render`` writes into ``infra/``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pdfgc.config.base import Section


class InfraConfig(Section):
    """Cluster launch files rendered from the config (never edited by hand)."""

    image: str = "pdfgc:latest"
    """Container image of Kubernetes pods (built from ``infra/docker/Dockerfile``)."""
    run_url: str = "s3://bucket/pdfgc-runs/exp1"
    """Run folder of the rendered training job: an fsspec URL, so that nodes share no disk."""
    shards_url: str = "s3://bucket/pdfgc-shards"
    """Shards the rendered training job reads."""
    slurm_partition: str = "gpu"
    """SLURM partition of the training job."""
    slurm_time: str = "72:00:00"
    """Wall-clock limit of the training job (``--time``)."""
    gpus_per_node: int = Field(8, ge=0)
    """GPUs per training node (SLURM ``--gpus-per-node``, Kubernetes ``nvidia.com/gpu``)."""
    cpus_per_node: int = Field(64, ge=1)
    """CPU cores per training node (data loading needs about 6 per 8 GPUs at the paper preset)."""
    memory_gb: int = Field(512, ge=1)
    """Memory per training node (GB)."""
    rdzv_port: int = Field(29500, ge=1024, le=65535)
    """Port of the c10d rendezvous on the first node."""
    k8s_kind: Literal["PyTorchJob", "Job"] = "PyTorchJob"
    """'PyTorchJob': the Kubeflow training operator; 'Job': an Indexed Job plus a headless Service."""
    k8s_namespace: str = "default"
    """Kubernetes namespace of the training job and the Dask cluster."""
    dask_workers: int = Field(16, ge=1)
    """Worker pods of the Kubernetes Dask cluster."""
    dask_worker_processes: int = Field(8, ge=1)
    """Single-threaded Dask worker processes per pod (one per core)."""
    dask_worker_memory_gb: int = Field(26, ge=1)
    """Memory limit of a Dask worker pod (GB)."""
