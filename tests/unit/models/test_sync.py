"""The sync expert network: shapes, unit embeddings, gradients, mouth crops, export round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pdfgc.config import load_config
from pdfgc.errors import InputError
from pdfgc.losses.sync import sync_contrastive_loss
from pdfgc.models.sync import SyncExpert, load_sync_expert, mouth_crops
from pdfgc.train.checkpoint import save_export


@pytest.fixture()
def cfg():
    return load_config("tiny")


def test_embeddings_have_unit_length_and_the_configured_width(cfg) -> None:
    expert = SyncExpert(cfg.sync)
    mouths = torch.rand(3, cfg.sync.frames, 1, cfg.sync.crop_height, cfg.sync.crop_width) * 2 - 1
    video, audio = expert(mouths, torch.rand(3, 1, 80, 20))
    assert video.shape == audio.shape == (3, cfg.sync.embed_dim)
    torch.testing.assert_close(video.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(audio.norm(dim=1), torch.ones(3))


def test_paper_preset_is_rgb_48_by_96() -> None:
    sync = load_config("paper").sync
    expert = SyncExpert(sync)
    video = expert.embed_video(torch.zeros(2, 5, 3, 48, 96))
    assert video.shape == (2, 512) and not sync.grayscale


def test_loss_reaches_every_parameter(cfg) -> None:
    expert = SyncExpert(cfg.sync)
    mouths = mouth_crops(torch.rand(4, 5, 3, 64, 64) * 2 - 1, cfg.sync)
    video, audio = expert(mouths, torch.rand(4, 1, 80, 20))
    shifted = expert.embed_audio(torch.rand(8, 1, 80, 20)).view(4, 2, -1)
    sync_contrastive_loss(video, audio, shifted, cfg.sync.temperature).backward()
    missing = [name for name, p in expert.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_mouth_crops_cut_the_lower_half_and_resize(cfg) -> None:
    images = torch.full((2, 3, 3, 64, 64), -1.0)
    images[..., 32:, :] = 1.0  # the lower half is white
    mouths = mouth_crops(images, cfg.sync)
    assert mouths.shape == (2, 3, 1, cfg.sync.crop_height, cfg.sync.crop_width)
    torch.testing.assert_close(mouths, torch.ones_like(mouths))  # luma weights sum to 1
    rgb = mouth_crops(images, load_config("paper").sync)
    assert rgb.shape == (2, 3, 3, 48, 96)


def test_export_round_trip_and_wrong_stage(tmp_path: Path, cfg) -> None:
    expert = SyncExpert(cfg.sync)
    save_export(tmp_path / "export.pt", "sync", cfg.model_dump(mode="json"), {"model": expert}, 7)
    loaded = load_sync_expert(tmp_path)  # a run folder holding export.pt
    for name, value in expert.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)
    assert not loaded.training
    save_export(tmp_path / "other.pt", "3", cfg.model_dump(mode="json"), {"model": torch.nn.Linear(2, 2)}, 1)
    with pytest.raises(InputError, match="not a sync expert"):
        load_sync_expert(tmp_path / "other.pt")


def test_a_file_that_is_not_an_export_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable export"):
        load_sync_expert(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="does not exist"):
        load_sync_expert(tmp_path / "missing")
