"""Defects 6, 7 and 9 (``base: tiny``) of the reliability issue: values validation must refuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pdfgc.config import load_config
from pdfgc.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("override, key", [
    ("train.stage1.batch_size=1000000000000", "train.stage1.batch_size"),
    ("train.critic.batch_size=-4", "train.critic.batch_size"),
    ("train.nproc_per_node=0", "train.nproc_per_node"),
    ("train.nnodes=-1", "train.nnodes"),
    ("data.fps=0", "data.fps"),
    ("data.shard_prefix=../escape", "data.shard_prefix"),
    ("data.shard_prefix=/tmp/abs", "data.shard_prefix"),
    ("data.shard_prefix=", "data.shard_prefix"),
    ("compute.cluster_class=os.system", "compute.cluster_class"),
    ("compute.cluster_class=subprocess.Popen", "compute.cluster_class"),
])
def test_out_of_bounds_values_are_one_line_config_errors(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"config key '{key}'") as err:
        load_config("tiny", [override])
    assert "\n" not in str(err.value)


def test_dask_cluster_modules_are_accepted() -> None:
    cfg = load_config("tiny", ["compute.cluster_class=dask_jobqueue.SLURMCluster"])
    assert cfg.compute.cluster_class == "dask_jobqueue.SLURMCluster"


def test_runner_refuses_an_allowed_module_name_that_is_not_a_cluster() -> None:
    from flows.runners import dask_cluster_class
    from distributed import LocalCluster

    assert dask_cluster_class("distributed.LocalCluster") is LocalCluster
    with pytest.raises(ConfigError, match="not a Dask Cluster class"):
        dask_cluster_class("distributed.Client")
    with pytest.raises(ConfigError, match="not in a Dask cluster module"):
        dask_cluster_class("os.system")


def test_invalid_yaml_in_set_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"override 'data.fps=\[1': value is not valid YAML"):
        load_config("tiny", ["data.fps=[1"])


def test_cli_prints_invalid_override_in_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "pdfgc.cli", "config", "show", "--set", "data.fps={a: [1"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "not valid YAML" in proc.stderr


def test_a_user_file_can_base_on_tiny(tmp_path: Path) -> None:
    user = tmp_path / "mine.yaml"
    user.write_text("base: tiny\ndata: {fps: 30}\n")
    cfg = load_config(user)
    assert cfg.model.preset == "tiny" and cfg.data.fps == 30 and cfg.model.net_image_size == 64
    assert cfg.data.shard_crop_size == load_config("paper").data.shard_crop_size  # tiny's own base (paper) applies too
    child = tmp_path / "child.yaml"
    child.write_text("base: mine.yaml\ntrain: {seed: 7}\n")
    assert load_config(child).data.fps == 30


def test_a_base_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(f"base: {tmp_path / 'b.yaml'}\n")
    (tmp_path / "b.yaml").write_text(f"base: {tmp_path / 'a.yaml'}\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")
