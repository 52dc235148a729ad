"""The ML-ops commands parse, and their input errors are one line (exit 2)."""

from __future__ import annotations

from pdfgc.cli import build_parser, main
from flows.retrain import format_decision


def test_commands_parse_with_their_options():
    parser = build_parser()
    args = parser.parse_args(["registry", "--runs", "r", "--set", "retrain.alias=prod", "promote", "3"])
    assert args.registry_command == "promote" and args.version == "3" and args.overrides == ["retrain.alias=prod"]
    args = parser.parse_args(["retrain", "--source", "in", "--shards", "s", "--runs", "r", "--preset", "tiny", "--max-steps", "5"])
    assert args.max_steps == 5 and args.preset == "tiny"
    args = parser.parse_args(["deploy", "--source", "in", "--shards", "s", "--runs", "r"])
    assert args.cron == "0 3 * * 1" and args.pool == "pdfgc"


def test_input_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["retrain", "--source", str(tmp_path / "nope"), "--shards", "s", "--runs", "r"]) == 2
    assert main(["registry", "--config", "tiny"]) == 2
    assert main(["deploy", "--source", "a", "--shards", "b", "--runs", "c", "--config", "tiny"]) == 2
    assert main(["curate", str(tmp_path), "--out", str(tmp_path / "v.parquet")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("pdfgc: error:") for line in lines)
    assert "PREFECT_API_URL" in lines[2] and "no manifest" in lines[3]


def test_format_decision():
    assert format_decision({"preprocess": {"samples_new": 0}, "decision": None}) == "no retraining: 0 new samples"
    assert '"promote": true' in format_decision({"decision": {"promote": True, "reason": "x"}})
