"""Render the SLURM and Kubernetes launch files of ``infra/`` from one config.

Every node of a multi-node run executes the same ``pdfgc train ... --nnodes N --node-rank R
--rdzv-endpoint HEAD:PORT``; the files differ only in how a scheduler hands out R and HEAD:
SLURM's ``$SLURM_NODEID`` and first host name, the Kubeflow training operator's ``RANK`` and
``MASTER_ADDR``, or an Indexed Job's ``JOB_COMPLETION_INDEX`` and the DNS name of pod 0 behind
a headless Service. The Dask cluster manifest takes the image and worker resources from the
same ``infra`` section. YAML is built from dicts and dumped (always valid YAML); the sbatch
script is a template shipped in ``pdfgc/infra/templates``.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from pdfgc.config import PdfgcConfig
from pdfgc.io import atomic_write_text

SLURM_TRAIN = "slurm/train.slurm"
K8S_TRAIN = "k8s/train.yaml"
K8S_DASK = "k8s/dask-cluster.yaml"
SLURM_DASK = "slurm/preprocess_dask_job.sh"
TRAIN_NAME = "pdfgc-train"
DASK_NAME = "pdfgc-dask"
IMAGE_WORKDIR = "/opt/pdfgc"
"""Where the Docker image keeps the repository (configs under ``infra/`` resolve from there)."""
DASK_SCHEDULER_PORT = 8786
DASK_DASHBOARD_PORT = 8787


def header(source: str) -> str:
    return f"Rendered by `pdfgc infra render --config {source}`: edit the config and render again, never this file."


def train_command(cfg: PdfgcConfig, source: str, node_rank: str, head: str) -> list[str]:
    """The ``pdfgc train`` command line every node runs (``node_rank``/``head`` as the scheduler names them)."""
    return [
        "pdfgc", "train", "--config", source, "--shards", cfg.infra.shards_url, "--out", cfg.infra.run_url,
        "--stage", "all", "--nnodes", str(cfg.train.nnodes), "--nproc", str(cfg.train.nproc_per_node),
        "--node-rank", node_rank, "--rdzv-endpoint", f"{head}:{cfg.infra.rdzv_port}",
    ]


def render_slurm_train(cfg: PdfgcConfig, source: str) -> str:
    template = resources.files("pdfgc.infra").joinpath("templates/train.slurm").read_text()
    infra = cfg.infra
    return Template(template).substitute(
        header=header(source), nnodes=cfg.train.nnodes, nproc=cfg.train.nproc_per_node,
        partition=infra.slurm_partition, gpus=infra.gpus_per_node, cpus=infra.cpus_per_node,
        memory_gb=infra.memory_gb, time=infra.slurm_time, port=infra.rdzv_port, config=shlex.quote(source),
        shards_url=shlex.quote(infra.shards_url), run_url=shlex.quote(infra.run_url),
    )


def _train_container(cfg: PdfgcConfig, source: str, node_rank: str, head: str) -> dict[str, Any]:
    infra = cfg.infra
    limits: dict[str, Any] = {"cpu": str(infra.cpus_per_node), "memory": f"{infra.memory_gb}Gi"}
    if infra.gpus_per_node:
        limits["nvidia.com/gpu"] = infra.gpus_per_node
    command = train_command(cfg, source, node_rank, head)
    return {
        "name": "pytorch", "image": infra.image, "workingDir": IMAGE_WORKDIR,
        "command": command[:1], "args": command[1:],
        "env": [{"name": "MLFLOW_TRACKING_URI", "value": cfg.tracking.uri or ""}],
        "envFrom": [{"secretRef": {"name": "pdfgc-object-store", "optional": True}}],
        "resources": {"limits": limits},
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
    }


def _pod_template(container: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = {**(extra or {}), "containers": [container], "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]}
    return {"spec": spec}


def _metadata(cfg: PdfgcConfig, name: str) -> dict[str, str]:
    return {"name": name, "namespace": cfg.infra.k8s_namespace}


def k8s_pytorchjob(cfg: PdfgcConfig, source: str) -> list[dict[str, Any]]:
    """A Kubeflow PyTorchJob: the operator sets ``RANK`` (the node rank) and ``MASTER_ADDR``."""
    container = _train_container(cfg, source, "$(RANK)", "$(MASTER_ADDR)")
    replica = {"restartPolicy": "OnFailure", "template": _pod_template(container)}
    specs = {"Master": {"replicas": 1, **replica}}
    if cfg.train.nnodes > 1:
        specs["Worker"] = {"replicas": cfg.train.nnodes - 1, **replica}
    return [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": _metadata(cfg, TRAIN_NAME),
             "spec": {"runPolicy": {"backoffLimit": 3}, "pytorchReplicaSpecs": specs}}]


def k8s_indexed_job(cfg: PdfgcConfig, source: str) -> list[dict[str, Any]]:
    """A plain Indexed Job: pod ``i`` is node rank ``i``; pod 0 hosts the rendezvous behind a headless Service."""
    head = f"{TRAIN_NAME}-0.{TRAIN_NAME}"
    container = _train_container(cfg, source, "$(JOB_COMPLETION_INDEX)", head)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(cfg, TRAIN_NAME),
               "spec": {"clusterIP": "None", "selector": {"job-name": TRAIN_NAME},
                        "ports": [{"name": "rdzv", "port": cfg.infra.rdzv_port}]}}
    pod = _pod_template(container, {"subdomain": TRAIN_NAME, "restartPolicy": "OnFailure"})
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": _metadata(cfg, TRAIN_NAME),
           "spec": {"completionMode": "Indexed", "completions": cfg.train.nnodes, "parallelism": cfg.train.nnodes,
                    "backoffLimit": 3, "template": pod}}
    return [service, job]


def k8s_dask_cluster(cfg: PdfgcConfig) -> list[dict[str, Any]]:
    """A DaskCluster (dask-kubernetes operator) with the config's image and worker resources."""
    infra = cfg.infra
    env = [{"name": k, "value": v} for k, v in sorted(cfg.compute.worker_env.items())]
    worker = {"name": "worker", "image": infra.image, "env": env,
              "args": ["dask", "worker", "--nthreads", "1", "--nworkers", str(infra.dask_worker_processes),
                       "--name", "$(DASK_WORKER_NAME)", "--dashboard-address", "8788"],
              "resources": {"limits": {"cpu": str(infra.dask_worker_processes), "memory": f"{infra.dask_worker_memory_gb}Gi"}}}
    scheduler = {"name": "scheduler", "image": infra.image, "args": ["dask", "scheduler"],
                 "ports": [{"name": "tcp-comm", "containerPort": DASK_SCHEDULER_PORT},
                           {"name": "http-dashboard", "containerPort": DASK_DASHBOARD_PORT}]}
    selector = {"dask.org/cluster-name": DASK_NAME, "dask.org/component": "scheduler"}
    ports = [{"name": "tcp-comm", "protocol": "TCP", "port": DASK_SCHEDULER_PORT, "targetPort": "tcp-comm"},
             {"name": "http-dashboard", "protocol": "TCP", "port": DASK_DASHBOARD_PORT, "targetPort": "http-dashboard"}]
    return [{"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": _metadata(cfg, DASK_NAME),
             "spec": {"worker": {"replicas": infra.dask_workers, "spec": {"containers": [worker]}},
                      "scheduler": {"spec": {"containers": [scheduler]},
                                    "service": {"type": "ClusterIP", "selector": selector, "ports": ports}}}}]


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated sub-trees out in full (no ``&id001`` anchors): a reader sees every field."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(documents: list[dict[str, Any]], source: str) -> str:
    body = yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)
    return f"# {header(source)}\n{body}"


def render_files(cfg: PdfgcConfig, source: str) -> dict[str, str]:
    """``{path under infra/: text}`` of every file rendered without Dask (see flows/infra.py)."""
    train = k8s_pytorchjob if cfg.infra.k8s_kind == "PyTorchJob" else k8s_indexed_job
    return {
        SLURM_TRAIN: render_slurm_train(cfg, source),
        K8S_TRAIN: dump_yaml(train(cfg, source), source),
        K8S_DASK: dump_yaml(k8s_dask_cluster(cfg), source),
    }


def write_files(files: dict[str, str], out_dir: str | Path) -> list[Path]:
    written = []
    for relative, text in sorted(files.items()):
        written.append(atomic_write_text(Path(out_dir) / relative, text))
    return written
