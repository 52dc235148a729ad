"""The launcher's pure parts: the torchrun command, failure messages, stage order, manifest hash."""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path

import pytest

from pdfgc.config import load_config
from pdfgc.errors import PdfgcError
from pdfgc.stages import in_order as _ordered
from pdfgc.stages import select_stages as stages_for
from pdfgc.train.launch import _failure, manifest_hash, stage_environment, torchrun_command
from pdfgc.train.plan import StageLaunch, StageRequest, Topology


def _launch(cfg, nproc: int = 1, **request) -> StageLaunch:
    stage_request = StageRequest(request.pop("stage", "2"), "shards/", Path("out"), **request)
    return StageLaunch(cfg, Path("run/config.yaml"), stage_request, Topology(nproc=nproc))


def test_torchrun_command_runs_the_training_module_with_the_stage() -> None:
    cfg = load_config("tiny", ["train.max_restarts=1"])
    command = torchrun_command(_launch(cfg, nproc=2, init_from=Path("a/export.pt")), "127.0.0.1:1234")
    text = " ".join(command)
    assert "-m pdfgc.train.torchrun --nproc-per-node 2 --nnodes 1 --rdzv-backend c10d" in text
    assert "--rdzv-endpoint 127.0.0.1:1234 --max-restarts 1 -m pdfgc.train" in text
    assert text.endswith("--stage 2 --shards shards/ --out out --init-from a/export.pt")


def test_ranks_get_the_configured_environment_over_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=3")
    monkeypatch.setenv("PDFGC_TEST_KEPT", "yes")
    env = stage_environment(_launch(load_config("tiny", ["train.env={GLIBC_TUNABLES: glibc.malloc.hugetlb=1, EXTRA: x}"])))
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1" and env["EXTRA"] == "x"
    assert env["PDFGC_TEST_KEPT"] == "yes" and env["OMP_NUM_THREADS"] == "1"


def test_failure_names_the_stage_the_rank_and_the_error_lines() -> None:
    tail = collections.deque([
        "[rank1]: ValueError: batch has no driver",
        "Root Cause (first observed failure):",
        "[0]:",
        "  rank      : 1 (local_rank: 1)",
        "  exitcode  : 1 (pid: 42)",
    ])
    error = _failure("2", 1, tail)
    assert isinstance(error, PdfgcError)
    message = str(error)
    assert "stage 2 failed (exit code 1, rank 1)" in message and "ValueError: batch has no driver" in message


def test_stage_order_is_the_progressive_one() -> None:
    assert _ordered(["3", "critic", "1"]) == ["critic", "1", "3"]
    assert stages_for("all") == ["critic", "1", "2", "3"] and stages_for("2") == ["2"]
    with pytest.raises(PdfgcError, match="'4'"):
        stages_for("4")


def test_manifest_hash_is_the_sha256_of_the_manifest_beside_the_shards(tmp_path: Path) -> None:
    (tmp_path / "pdfgc-000000.tar").write_bytes(b"")
    assert manifest_hash(str(tmp_path)) is None
    (tmp_path / "manifest.parquet").write_bytes(b"rows")
    assert manifest_hash(str(tmp_path)) == hashlib.sha256(b"rows").hexdigest()


def test_failure_names_the_root_cause_rank_not_the_ranks_torchrun_stopped() -> None:
    tail = collections.deque([
        "E1125 api.py:1002] failed (exitcode: -9) local_rank: 1 (pid: 20694) of binary: python",
        "Failures:",
        "[1]:",
        "  rank      : 0 (local_rank: 0)",
        "  exitcode  : -15 (pid: 20693)",
        "Root Cause (first observed failure):",
        "[0]:",
        "  rank      : 1 (local_rank: 1)",
        "  exitcode  : -9 (pid: 20694)",
    ])
    assert "rank 1)" in str(_failure("2", 1, tail))
    short = collections.deque(["[rank0] saved", "E1125 api.py] failed (exitcode: -9) local_rank: 1 (pid: 2)"])
    assert "rank 1)" in str(_failure("2", 1, short))


def test_a_killed_rank_is_named_even_when_a_peer_reached_the_root_cause_first() -> None:
    """A SIGKILLed rank leaves no error file; its peer's "Connection closed by peer" error file
    can carry an earlier time stamp, and torchrun then calls the peer the root cause."""
    tail = collections.deque([
        "[rank0]: RuntimeError: [pair.cc:553] Connection closed by peer [127.0.0.1]:49050.",
        "E1125 api.py:1002] failed (exitcode: -15) local_rank: 0 (pid: 16595) of binary: python",
        "Failures:",
        "[1]:",
        "  rank      : 1 (local_rank: 1)",
        "  exitcode  : -9 (pid: 16596)",
        "  error_file: <N/A>",
        "  traceback : Signal 9 (SIGKILL) received by PID 16596",
        "Root Cause (first observed failure):",
        "[0]:",
        "  rank      : 0 (local_rank: 0)",
        "  exitcode  : 1 (pid: 16595)",
        "  traceback : RuntimeError: Connection closed by peer [127.0.0.1]:49050.",
    ])
    assert "rank 1)" in str(_failure("2", 1, tail))


def test_a_single_stage_picks_up_the_exports_of_earlier_stages(tmp_path):
    from pdfgc.train.launch import earlier_export

    for stage in ("critic", "1"):
        (tmp_path / f"stage_{stage}").mkdir()
        (tmp_path / f"stage_{stage}" / "export.pt").write_bytes(b"x")
    assert earlier_export(tmp_path, "2", before=True) == tmp_path / "stage_1" / "export.pt"
    assert earlier_export(tmp_path, "3", before=True) is None  # stage 2 has not run
    assert earlier_export(tmp_path, "1", before=True) is None  # stage 1 starts fresh
    assert earlier_export(tmp_path, "critic") == tmp_path / "stage_critic" / "export.pt"


def test_sync_stage_starts_from_nothing_and_registers_under_its_own_name(tmp_path, monkeypatch):
    """The sync expert is not chained (no init_from / critic_from) and is not the generator."""
    from pdfgc.config import load_config
    from pdfgc.train import launch
    from pdfgc.train.loop import StageResult
    from pdfgc.train.plan import StageLaunch, StageRequest, TrainPlan

    seen: list[StageRequest] = []

    def fake_run(job: StageLaunch) -> StageResult:
        seen.append(job.request)
        job.request.out.mkdir(parents=True, exist_ok=True)
        (job.request.out / "mlflow_run.json").write_text('{"run_id": "r-%s"}' % job.request.stage)
        return StageResult(job.request.out / "export.pt", job.request.out / "latest.pt", 1)

    registered: list[tuple[str, str]] = []
    monkeypatch.setattr(launch, "_register", lambda base, last, summary, name: registered.append((last[0], name)) or name)
    cfg = load_config("tiny")
    plan = TrainPlan(["sync", "2"], "shards", tmp_path)
    base = StageLaunch(cfg, tmp_path / "config.yaml", StageRequest("", "shards", tmp_path))
    summary = launch.TrainSummary("uri", "parent")
    results = launch._run_stages(launch.replace(plan, stages=["2", "sync"]), base, summary, fake_run)
    launch._register_results(base, results, summary)
    sync_request = next(r for r in seen if r.stage == "sync")
    assert sync_request.init_from is None and sync_request.critic_from is None
    assert registered == [("2", "pdfgc-generator"), ("sync", "pdfgc-generator-sync")]
    assert summary.sync_model_uri == "pdfgc-generator-sync" and summary.registered_model_uri == "pdfgc-generator"
