"""The Dask half of ``pdfgc infra render``: dask-jobqueue's own job script for the configured
cluster class, rendered without a batch system and without starting a scheduler.

Steps: pick the job class of ``compute.cluster_class`` (an allow-list: a config names no
arbitrary callable), build one job with ``compute.cluster_kwargs`` against a placeholder
scheduler address, and return ``job_script()``, the sbatch/qsub file each worker job runs.
"""

from __future__ import annotations

import importlib

from pdfgc.config import PdfgcConfig
from pdfgc.errors import ConfigError
from pdfgc.infra.render import SLURM_DASK, header, render_files

JOB_CLASSES = {
    "dask_jobqueue.SLURMCluster": ("dask_jobqueue.slurm", "SLURMJob"),
    "dask_jobqueue.PBSCluster": ("dask_jobqueue.pbs", "PBSJob"),
    "dask_jobqueue.SGECluster": ("dask_jobqueue.sge", "SGEJob"),
    "dask_jobqueue.LSFCluster": ("dask_jobqueue.lsf", "LSFJob"),
}
SCHEDULER_PLACEHOLDER = "tcp://SCHEDULER:8786"
"""The flow's scheduler address is known only when it runs; a rendered script shows the shape."""
WORKER_NAME = "pdfgc-worker"


def dask_job_script(cfg: PdfgcConfig, source: str) -> str:
    """The job script dask-jobqueue submits for one worker job of ``compute.cluster_class``."""
    cluster_class = cfg.compute.cluster_class
    if cluster_class not in JOB_CLASSES:
        raise ConfigError(f"compute.cluster_class {cluster_class!r} has no batch job script "
                          f"(allowed: {', '.join(JOB_CLASSES)})")
    module, name = JOB_CLASSES[cluster_class]
    job_class = getattr(importlib.import_module(module), name)
    job = job_class(scheduler=SCHEDULER_PLACEHOLDER, name=WORKER_NAME, **cfg.compute.cluster_kwargs)
    script = job.job_script()
    shebang, _, rest = script.partition("\n")
    return f"{shebang}\n# {header(source)}\n# The flow submits it with its own scheduler address.\n{rest}"


def render_all(cfg: PdfgcConfig, source: str) -> dict[str, str]:
    """Every rendered file under infra/: training (SLURM, Kubernetes), the Dask cluster manifest
    and, when the config names a batch-system cluster class, its worker job script."""
    files = render_files(cfg, source)
    if cfg.compute.cluster_class in JOB_CLASSES:
        files[SLURM_DASK] = dask_job_script(cfg, source)
    return files
