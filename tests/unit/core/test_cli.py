import subprocess
import sys

import pytest

from pdfgc.cli import main


def test_config_show_prints_effective_values(capsys):
    assert main(["config", "show", "--config", "tiny", "--set", "train.seed=5"]) == 0
    out = capsys.readouterr().out
    assert "seed: 5" in out and "image_size: 64" in out


def test_typo_in_config_key_is_one_clear_line(capsys):
    assert main(["config", "show", "--set", "train.stag1.steps=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown config key 'train.stag1'" in err[0] and "Traceback" not in err[0]


def test_missing_input_is_one_clear_line(tmp_path, capsys):
    missing = tmp_path / "no_such_video.mp4"
    assert main(["label", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(missing) in err and "\n" not in err


@pytest.mark.parametrize("command", [[], ["demo"], ["preprocess"], ["label"], ["train"], ["synthesize"], ["model", "summary"], ["config", "show"]])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "pdfgc.cli", *command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: pdfgc" in result.stdout
