"""``pdfgc infra render``: the files in infra/ are the rendering of infra/cluster.yaml, the sbatch
scripts parse, and every Kubernetes document has its kind's required fields and the config's
image and resources."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.infra import dask_job_script, render_all
from pdfgc.cli import main
from pdfgc.config import load_config
from pdfgc.errors import ConfigError
from pdfgc.infra.render import K8S_DASK, K8S_TRAIN, SLURM_DASK, SLURM_TRAIN

REPO = Path(__file__).resolve().parents[3]
SOURCE = "infra/cluster.yaml"
REQUIRED = {
    "PyTorchJob": ["apiVersion", "kind", "metadata.name", "spec.pytorchReplicaSpecs.Master.replicas",
                   "spec.pytorchReplicaSpecs.Master.template.spec.containers"],
    "Job": ["apiVersion", "kind", "metadata.name", "spec.template.spec.containers", "spec.template.spec.restartPolicy"],
    "Service": ["apiVersion", "kind", "metadata.name", "spec.selector"],
    "DaskCluster": ["apiVersion", "kind", "metadata.name", "spec.worker.spec.containers",
                    "spec.scheduler.spec.containers", "spec.scheduler.service"],
}
API_VERSIONS = {"PyTorchJob": "kubeflow.org/v1", "Job": "batch/v1", "Service": "v1", "DaskCluster": "kubernetes.dask.org/v1"}
SBATCH = re.compile(r"^#SBATCH\s+(\S+?)(?:[=\s]+(\S+))?\s*$")


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / SOURCE)


def _field(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{doc['kind']}: missing {dotted}"
        node = node[part]
    return node


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    if isinstance(doc, dict):
        found += doc.get("containers", []) if isinstance(doc.get("containers"), list) else []
        for value in doc.values():
            found += _containers(value)
    return found


def _validate(doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    assert doc["apiVersion"] == API_VERSIONS[kind]
    for dotted in REQUIRED[kind]:
        assert _field(doc, dotted) not in (None, "", []), f"{kind}: empty {dotted}"
    for container in _containers(doc):
        assert container["name"] and container["image"], kind
    if kind == "Job":
        assert doc["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


def _sbatch_options(script: str) -> dict[str, str]:
    """The #SBATCH options sbatch reads: those before the first command line."""
    options = {}
    for line in script.splitlines()[1:]:
        if line.strip() and not line.startswith("#"):
            break
        if match := SBATCH.match(line):
            options[match.group(1)] = match.group(2) or ""
    return options


def test_the_committed_files_are_the_rendering_of_the_config(cfg) -> None:
    rendered = render_all(cfg, SOURCE)
    assert set(rendered) == {SLURM_TRAIN, SLURM_DASK, K8S_TRAIN, K8S_DASK}
    for relative, text in rendered.items():
        committed = (REPO / "infra" / relative).read_text()
        assert committed == text, f"infra/{relative} is stale or hand-edited: run `pdfgc infra render`"


def test_the_training_sbatch_script_parses_and_asks_for_the_configured_nodes(cfg, tmp_path: Path) -> None:
    script = render_all(cfg, SOURCE)[SLURM_TRAIN]
    (tmp_path / "train.slurm").write_text(script)
    subprocess.run(["bash", "-n", str(tmp_path / "train.slurm")], check=True)
    options = _sbatch_options(script)
    assert options["--nodes"] == str(cfg.train.nnodes) and options["--gpus-per-node"] == str(cfg.infra.gpus_per_node)
    assert options["--partition"] == cfg.infra.slurm_partition and options["--mem"] == f"{cfg.infra.memory_gb}G"
    assert "--requeue" in options
    assert f"--node-rank \"$SLURM_NODEID\" --rdzv-endpoint \"$HEAD:{cfg.infra.rdzv_port}\"" in script
    assert f"--out {cfg.infra.run_url}" in script and "--nnodes 2 --nproc 8" in script


def test_the_dask_jobqueue_script_renders_without_slurm(cfg, tmp_path: Path) -> None:
    script = dask_job_script(cfg, SOURCE)
    (tmp_path / "job.sh").write_text(script)
    subprocess.run(["bash", "-n", str(tmp_path / "job.sh")], check=True)
    options = _sbatch_options(script)
    kwargs = cfg.compute.cluster_kwargs
    assert options["-p"] == kwargs["queue"] and options["--cpus-per-task"] == str(kwargs["cores"])
    assert options["-t"] == kwargs["walltime"] and "--exclusive" in options
    assert "--nthreads 1" in script and f"--nworkers {kwargs['processes']}" in script
    assert "export GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in script


@pytest.mark.parametrize("kind", ["PyTorchJob", "Job"])
def test_kubernetes_training_documents_validate_and_carry_image_and_resources(cfg, kind: str) -> None:
    variant = cfg.model_copy(deep=True)
    variant.infra.k8s_kind = kind
    docs = list(yaml.safe_load_all(render_all(variant, SOURCE)[K8S_TRAIN]))
    assert kind in {doc["kind"] for doc in docs}
    for doc in docs:
        _validate(doc)
    containers = [c for doc in docs for c in _containers(doc)]
    assert len(containers) == (2 if kind == "PyTorchJob" else 1)
    for container in containers:
        assert container["image"] == cfg.infra.image
        assert container["resources"]["limits"]["nvidia.com/gpu"] == cfg.infra.gpus_per_node
        assert container["args"][container["args"].index("--nnodes") + 1] == str(cfg.train.nnodes)
    if kind == "PyTorchJob":
        assert docs[0]["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == cfg.train.nnodes - 1


def test_the_dask_cluster_manifest_matches_the_config(cfg) -> None:
    (doc,) = yaml.safe_load_all(render_all(cfg, SOURCE)[K8S_DASK])
    _validate(doc)
    assert doc["spec"]["worker"]["replicas"] == cfg.infra.dask_workers
    worker = doc["spec"]["worker"]["spec"]["containers"][0]
    assert worker["image"] == cfg.infra.image == doc["spec"]["scheduler"]["spec"]["containers"][0]["image"]
    assert worker["resources"]["limits"] == {"cpu": str(cfg.infra.dask_worker_processes),
                                             "memory": f"{cfg.infra.dask_worker_memory_gb}Gi"}
    assert worker["args"][worker["args"].index("--nworkers") + 1] == str(cfg.infra.dask_worker_processes)


def test_a_cluster_class_outside_the_allow_list_is_refused(cfg) -> None:
    variant = cfg.model_copy(deep=True)
    variant.compute.cluster_class = "distributed.LocalCluster"  # Dask, but no job script
    with pytest.raises(ConfigError, match="allowed"):
        dask_job_script(variant, SOURCE)


def test_the_command_writes_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    assert main(["infra", "render", "--out", str(tmp_path), "--set", "infra.image=example/pdfgc:1"]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([K8S_DASK, K8S_TRAIN, SLURM_DASK, SLURM_TRAIN])
    assert "example/pdfgc:1" in (tmp_path / K8S_TRAIN).read_text()
