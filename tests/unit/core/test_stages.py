"""The stage registry: names, order, and the export each stage starts from."""

from __future__ import annotations

import pytest

from pdfgc.config import load_config
from pdfgc.errors import ConfigError
from pdfgc.stages import check_stage, in_order, previous_progressive, select_stages, stage_config


def test_all_selects_every_stage_in_chaining_order() -> None:
    assert select_stages("all") == ["critic", "1", "2", "3"]
    assert in_order(["3", "1", "critic"]) == ["critic", "1", "3"]


@pytest.mark.parametrize("call", [lambda: check_stage("4"), lambda: select_stages("x"), lambda: in_order(["1", "9"])])
def test_an_unknown_stage_is_a_config_error(call) -> None:
    with pytest.raises(ConfigError):
        call()


def test_each_numbered_stage_starts_from_the_one_before() -> None:
    assert [previous_progressive(s) for s in ("critic", "1", "2", "3")] == [None, None, "1", "2"]


def test_a_stage_reads_its_own_train_section() -> None:
    cfg = load_config("tiny", ["train.stage2.steps=7", "train.critic.steps=3"])
    assert stage_config(cfg, "2").steps == 7 and stage_config(cfg, "critic").steps == 3


def test_sync_is_a_stage_outside_all_unless_asked() -> None:
    assert select_stages("sync") == ["sync"]
    assert "sync" not in select_stages("all")
    assert select_stages("all", with_sync=True) == ["critic", "1", "2", "3", "sync"]
    assert in_order(["sync", "3", "critic"]) == ["critic", "3", "sync"]
    assert previous_progressive("sync") is None  # trained from the shards alone
    assert stage_config(load_config("tiny", ["train.sync.steps=9"]), "sync").steps == 9
