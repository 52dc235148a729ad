"""Perceptual losses: loading torchvision / ST-LPIPS state dicts, errors, distances, gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pdfgc.config import ModelConfig
from pdfgc.errors import ConfigError, MissingWeightsError
from pdfgc.losses import perceptual
from pdfgc.losses.perceptual import STLPIPSVGG16Perceptual, VGG19Perceptual, build_perceptual

# torchvision vgg19().features: the index and (out, in) channels of every conv layer.
VGG19_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
               14: (256, 256), 16: (256, 256), 19: (512, 256), 21: (512, 512), 23: (512, 512), 25: (512, 512),
               28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512)}
# The stlpips-pytorch wheel's vgg_shift_tolerant.pth: slice, index, channels (conv) or blur filters.
STLPIPS_CONVS = {(1, 0): (64, 3), (1, 2): (64, 64), (2, 6): (128, 64), (2, 8): (128, 128), (3, 12): (256, 128),
                 (3, 14): (256, 256), (3, 16): (256, 256), (4, 20): (512, 256), (4, 22): (512, 512),
                 (4, 24): (512, 512), (5, 28): (512, 512), (5, 30): (512, 512), (5, 32): (512, 512)}
STLPIPS_FILTERS = {(2, 5): 64, (3, 11): 128, (4, 19): 256, (5, 27): 512}
STLPIPS_LINS = (64, 128, 256, 512, 512)


def _conv(out_channels: int, in_channels: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(out_channels, in_channels, 3, 3, generator=generator) * (2 / (9 * in_channels)) ** 0.5


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised VGG19 state dict in torchvision's key format (classifier included)."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, (out_channels, in_channels) in VGG19_CONVS.items():
        state[f"features.{index}.weight"] = _conv(out_channels, in_channels, generator)
        state[f"features.{index}.bias"] = torch.zeros(out_channels)
    state["classifier.0.weight"] = torch.zeros(4, 8)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def stlpips_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generator = torch.Generator().manual_seed(1)
    state = {"scaling_layer.shift": torch.zeros(1, 3, 1, 1), "scaling_layer.scale": torch.ones(1, 3, 1, 1)}
    for (slice_no, index), (out_channels, in_channels) in STLPIPS_CONVS.items():
        state[f"net.slice{slice_no}.{index}.weight"] = _conv(out_channels, in_channels, generator)
        state[f"net.slice{slice_no}.{index}.bias"] = torch.zeros(out_channels)
    for (slice_no, index), channels in STLPIPS_FILTERS.items():
        blur = torch.tensor([1.0, 2.0, 1.0])
        state[f"net.slice{slice_no}.{index}.filt"] = (torch.outer(blur, blur) / 16).repeat(channels, 1, 1, 1)
    for number, channels in enumerate(STLPIPS_LINS):
        state[f"lin{number}.model.1.weight"] = torch.rand(1, channels, 1, 1, generator=generator)
    path = tmp_path_factory.mktemp("stlpips") / "vgg_shift_tolerant.pth"
    torch.save(state, path)
    return path


def _images(seed: int) -> torch.Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_missing_vgg19_file_names_file_and_source(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"nowhere\.pth.*vgg19-dcbb9e9d\.pth"):
        VGG19Perceptual(tmp_path / "nowhere.pth")


def test_file_without_vgg_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(MissingWeightsError, match="features.0.weight"):
        VGG19Perceptual(path)


def test_pickled_object_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "obj": ValueError("x")}, path)
    with pytest.raises(MissingWeightsError, match="weights-only"):
        VGG19Perceptual(path)


@pytest.mark.parametrize("loss_kind", ["vgg19", "stlpips"])
def test_distance_zero_for_same_image_positive_otherwise(loss_kind: str, vgg19_file: Path,
                                                         stlpips_file: Path) -> None:
    loss = VGG19Perceptual(vgg19_file) if loss_kind == "vgg19" else STLPIPSVGG16Perceptual(stlpips_file)
    a, b = _images(0), _images(1)
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(a, b).item() > 0


@pytest.mark.parametrize("loss_kind", ["vgg19", "stlpips"])
def test_gradient_reaches_input_not_weights(loss_kind: str, vgg19_file: Path, stlpips_file: Path) -> None:
    loss = VGG19Perceptual(vgg19_file) if loss_kind == "vgg19" else STLPIPSVGG16Perceptual(stlpips_file)
    a = _images(0).requires_grad_(True)
    loss(a, _images(1)).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())


def test_vgg19_layer_weights_scale_the_sum(vgg19_file: Path) -> None:
    single = VGG19Perceptual(vgg19_file, layers=("relu1_1",), layer_weights=(1.0,))
    doubled = VGG19Perceptual(vgg19_file, layers=("relu1_1",), layer_weights=(2.0,))
    a, b = _images(0), _images(1)
    assert doubled(a, b).item() == pytest.approx(2 * single(a, b).item(), rel=1e-5)


def test_vgg19_relu1_1_is_first_conv_after_imagenet_normalisation(vgg19_file: Path) -> None:
    loss = VGG19Perceptual(vgg19_file, layers=("relu1_1",), layer_weights=(1.0,))
    state = torch.load(vgg19_file, weights_only=True)
    a, b = _images(0), _images(1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def relu1_1(x: torch.Tensor) -> torch.Tensor:
        x = ((x + 1) / 2 - mean) / std
        conv = torch.nn.functional.conv2d(x, state["features.0.weight"], state["features.0.bias"], padding=1)
        return torch.relu(conv)

    expected = (relu1_1(a) - relu1_1(b)).abs().mean()
    assert loss(a, b).item() == pytest.approx(expected.item(), rel=1e-5)


def test_build_perceptual_honours_config(vgg19_file: Path) -> None:
    assert build_perceptual(ModelConfig(perceptual="none")) is None
    assert isinstance(build_perceptual(ModelConfig(vgg19_weights=str(vgg19_file))), VGG19Perceptual)
    with pytest.raises(ConfigError, match="model.vgg19_weights"):
        build_perceptual(ModelConfig(perceptual="vgg19"))


def test_stlpips_without_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perceptual.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingWeightsError, match="stlpips-pytorch"):
        build_perceptual(ModelConfig(perceptual="stlpips_vgg16"))
