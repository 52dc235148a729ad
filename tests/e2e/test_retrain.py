"""Scheduled retraining end to end: `pdfgc deploy` on a real `prefect server`, a real
`prefect worker` in a process pool, flow runs created through the REST API.

Run 1 (no champion) trains every stage and its model becomes champion. Run 2 sees a new video
and fine-tunes stage 3 from the champion with a learning rate made absurd on purpose: the
challenger loses and the champion stays. Run 3 sees another video and fine-tunes properly from
the champion: it wins and takes the alias. Run 4 has nothing new and trains nothing. Every
version carries both scores and the decision.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BIN, stop
from tests.helpers.media import cut_clip

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
POOL = "pdfgc-e2e"
RUN_TIMEOUT_S = 1800
TINY = ["train.critic.steps=2", "train.stage1.steps=2", "train.stage2.steps=2", "train.stage3.steps=2",
        "train.checkpoint_every=2", "train.image_every=0", "train.num_workers=0",
        "compute.processes=false", "compute.n_workers=1", "evaluation.split=all", "evaluation.max_clips=1",
        "retrain.steps=6", "retrain.primary.metric=self/psnr"]
SABOTAGE = ["train.stage3.lr=5.0", "train.stage3.betas=[0.0,0.0]"]
"""Adam steps of 5 per weight: the fine-tuned generator's output is wrecked on purpose."""
BETTER = ["retrain.steps=40", "train.stage3.lr=2.0e-3", "train.stage3.betas=[0.9,0.99]",
          "train.stage3.weights.adversarial=0", "train.stage3.weights.feature_matching=0", "train.stage3.weights.con=0"]
"""The demo preset's stage-3 recipe (reconstruction only, Adam 2e-3) for 40 steps: it beat the
2-step champion's flat grey by about 1.6 dB of PSNR after 30 steps on these clips."""


def api_run(api: str, deployment: str, parameters: dict) -> dict:
    """Create a flow run of a deployment through the REST API and wait for its final state."""
    with httpx.Client(base_url=api, timeout=30) as client:
        found = client.get(f"/deployments/name/{deployment}").raise_for_status().json()
        run = client.post(f"/deployments/{found['id']}/create_flow_run", json={"parameters": parameters}).raise_for_status().json()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            state = client.get(f"/flow_runs/{run['id']}").raise_for_status().json()["state"]
            if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return state
            time.sleep(2)
    raise TimeoutError(f"flow run {run['id']} of {deployment} did not finish in {RUN_TIMEOUT_S} s")


def registry_rows(runs: Path) -> list[dict]:
    out = subprocess.run([str(BIN / "pdfgc"), "registry", "--runs", str(runs), "--config", "tiny"],
                         capture_output=True, text=True, check=True).stdout
    from pdfgc.integrations.mlflow_logger import default_tracking_uri
    from pdfgc.integrations.mlflow_registry import ModelRegistry

    assert "version" in out.splitlines()[0]
    return ModelRegistry(default_tracking_uri(runs), "pdfgc-generator").versions()


def decisions(runs: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(runs.glob("*/decision.json"))]


@pytest.fixture()
def worker(prefect_server: str, tmp_path: Path):
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_HOME": str(tmp_path / "worker-home"),
           "OMP_NUM_THREADS": "1"}
    deployed = subprocess.run(
        [str(BIN / "pdfgc"), "deploy", "--source", str(tmp_path / "videos"), "--shards", str(tmp_path / "shards"),
         "--runs", str(tmp_path / "runs"), "--pool", POOL, "--cron", "0 3 * * 1", "--config", "tiny",
         *[item for override in TINY for item in ("--set", override)]],
        env=env, capture_output=True, text=True, cwd=REPO)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert "deployment scheduled-retrain:" in deployed.stdout
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield prefect_server
        finally:
            stop(process)


def add_video(real: Path, videos: Path, name: str, start: float) -> None:
    videos.mkdir(exist_ok=True)
    cut_clip(real, videos / f"{name}.mp4", seconds=2.0, start=start)


@pytest.mark.timeout(3600)
def test_deployment_runs_promote_only_a_better_challenger(worker, real_videos, tmp_path):
    videos, runs = tmp_path / "videos", tmp_path / "runs"
    add_video(real_videos[0], videos, "katie_a", 0.0)
    add_video(real_videos[1], videos, "retalk_a", 0.0)
    first = api_run(worker, "retrain/scheduled-retrain", {})
    assert first["type"] == "COMPLETED", first
    [version1] = registry_rows(runs)
    assert version1["aliases"] == ["champion"] and version1["tags"]["decision"] == "promoted"

    add_video(real_videos[0], videos, "katie_b", 3.0)
    worse = api_run(worker, "retrain/scheduled-retrain", {"overrides": TINY + SABOTAGE})
    assert worse["type"] == "COMPLETED", worse
    version2, champion = registry_rows(runs)[:2]
    assert champion["aliases"] == ["champion"] and champion["version"] == version1["version"]
    assert version2["tags"]["decision"] == "kept_champion"
    assert {"score.champion.self/psnr", "score.challenger.self/psnr"} <= set(version2["tags"])
    kept = decisions(runs)[-1]
    assert not kept["promote"] and kept["champion_version"] == version1["version"]
    assert kept["challenger_scores"]["self/psnr"] < kept["champion_scores"]["self/psnr"]

    add_video(real_videos[1], videos, "retalk_b", 2.5)
    better = api_run(worker, "retrain/scheduled-retrain", {"overrides": TINY + BETTER})
    assert better["type"] == "COMPLETED", better
    version3 = registry_rows(runs)[0]
    assert version3["aliases"] == ["champion"] and version3["tags"]["decision"] == "promoted"
    won = decisions(runs)[-1]
    assert won["promote"] and won["champion_version"] == version1["version"]
    assert won["challenger_scores"]["self/psnr"] > won["champion_scores"]["self/psnr"]
    assert float(version3["tags"]["score.challenger.self/psnr"]) > float(version3["tags"]["score.champion.self/psnr"])

    nothing = api_run(worker, "retrain/scheduled-retrain", {})
    assert nothing["type"] == "COMPLETED"
    assert len(registry_rows(runs)) == 3 and len(decisions(runs)) == 3
