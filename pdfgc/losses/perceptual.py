"""Perceptual losses: L_vgg (PD-FGC paper, stage 3) and an ST-LPIPS VGG16 alternative.

- ``VGG19Perceptual``: L_vgg = sum_i w_i * mean | VGG19_i(a) - VGG19_i(b) | over relu1_1 ...
  relu5_1 of an ImageNet VGG19, read from a torchvision-format state dict (``features.N.*`` keys,
  e.g. torchvision's ``vgg19-dcbb9e9d.pth``). Default layer weights 1/32, 1/16, 1/8, 1/4, 1 are
  pix2pixHD's, which the PD-FGC release's training config builds on.
- ``STLPIPSVGG16Perceptual``: the ST-LPIPS distance with the anti-aliased VGG16 shipped in the
  stlpips-pytorch wheel (``weights/vST0.0/vgg_shift_tolerant.pth``). Only that file is read (with
  ``weights_only=True``); none of the package's modules is imported (they need torchvision).
  It is a shift-tolerant perceptual metric, not ImageNet VGG19: a licence-free stand-in.

Both treat ``b`` as the target: its features are computed without gradient.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.config import ModelConfig
from pdfgc.errors import ConfigError, MissingWeightsError

_logger = logging.getLogger(__name__)

VGG19_CONV_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                     512, 512, 512, 512)
VGG19_RELU_INDEX = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
"""Index in torchvision's ``vgg19().features`` of each ReLU output used by the loss."""
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_HOWTO = ("download torchvision's ImageNet VGG19 weights, vgg19-dcbb9e9d.pth "
               "(https://download.pytorch.org/models/vgg19-dcbb9e9d.pth), and set model.vgg19_weights to "
               "its path, or set model.perceptual to 'stlpips_vgg16' or 'none'")

STLPIPS_PACKAGE = "stlpips_pytorch"
STLPIPS_WEIGHTS = Path("weights") / "vST0.0" / "vgg_shift_tolerant.pth"
STLPIPS_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
STLPIPS_SLICE_ENDS = (4, 10, 18, 26, 34)
"""End (exclusive) of each of the 5 slices in the wheel's ``net.sliceK.<index>`` numbering."""
STLPIPS_LAYER_WIDTHS = (64, 128, 256, 512, 512)
STLPIPS_POOL_PAD = 2
"""The wheel's VGG16 uses ``pad_more=True``: reflect padding of 2 before each blur-downsample."""
NORM_EPS = 1e-10


def _load_state(path: Path, howto: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MissingWeightsError(f"perceptual loss weights not found: {path}; {howto}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a non-tensor pickle or a corrupt file
        raise MissingWeightsError(f"{path}: cannot be read as a weights-only state dict ({exc}); {howto}") from None
    if not isinstance(state, dict):
        raise MissingWeightsError(f"{path}: holds a {type(state).__name__}, not a state dict; {howto}")
    return state


def _pick(state: dict[str, torch.Tensor], path: Path, prefix: str, keys: list[str],
          howto: str) -> dict[str, torch.Tensor]:
    missing = [key for key in keys if prefix + key not in state]
    if missing:
        raise MissingWeightsError(f"{path}: missing {prefix}{missing[0]} (and {len(missing) - 1} more); {howto}")
    return {key: state[prefix + key] for key in keys}


class _FrozenFeatureLoss(nn.Module):
    """Shared plumbing: frozen parameters, the target's features without gradient."""

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> _FrozenFeatureLoss:
        return super().train(False)

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def layer_distance(self, index: int, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distance between images a and b (B, 3, S, S) in [-1, 1]; b is the target."""
        with torch.no_grad():
            target = self.features(b)
        return sum(self.layer_distance(i, fa, fb) for i, (fa, fb) in enumerate(zip(self.features(a), target)))


class VGG19Perceptual(_FrozenFeatureLoss):
    """L_vgg with an ImageNet VGG19 from a torchvision-format state dict.

    Args:
        weights_path: local ``.pth`` file (torchvision's ``vgg19-dcbb9e9d.pth`` or any file with
            the same ``features.N.weight`` / ``features.N.bias`` keys).
        layers: names from VGG19_RELU_INDEX.
        layer_weights: w_i, one per layer.
    """

    def __init__(self, weights_path: str | Path, layers: Sequence[str] = DEFAULT_LAYERS,
                 layer_weights: Sequence[float] = DEFAULT_LAYER_WEIGHTS) -> None:
        super().__init__()
        if len(layers) != len(layer_weights) or any(name not in VGG19_RELU_INDEX for name in layers):
            raise ValueError(f"layers must be names from {list(VGG19_RELU_INDEX)}, one weight each")
        self.cut_points = [VGG19_RELU_INDEX[name] for name in layers]
        self.layer_weights = tuple(float(w) for w in layer_weights)
        with torch.device("meta"):  # no random init of weights that are overwritten next
            self.features_net = _vgg_stack(VGG19_CONV_WIDTHS, max(self.cut_points) + 1, pool=_max_pool)
        path = Path(weights_path)
        keys = list(self.features_net.state_dict())
        state = _pick(_load_state(path, VGG19_HOWTO), path, "features.", keys, VGG19_HOWTO)
        self.features_net.load_state_dict(state, assign=True)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self._freeze()
        _logger.info("VGG19 perceptual loss from %s, layers %s", path, ", ".join(layers))

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        h = ((image + 1) / 2 - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features_net):
            h = layer(h)
            if index in self.cut_points:
                outputs.append(h)
        return outputs

    def layer_distance(self, index: int, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        return self.layer_weights[index] * F.l1_loss(fa.float(), fb.float())


def _max_pool(_: int) -> list[nn.Module]:
    return [nn.MaxPool2d(2, 2)]


class BlurDownsample(nn.Module):
    """Anti-aliased stride-2 downsampling: reflect pad, then a fixed per-channel blur filter."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("filt", torch.zeros(channels, 1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, [STLPIPS_POOL_PAD] * 4, mode="reflect")
        return F.conv2d(padded, self.filt.to(x.dtype), stride=2, groups=x.shape[1])


def _blur_pool(channels: int) -> list[nn.Module]:
    return [nn.MaxPool2d(2, 1), BlurDownsample(channels)]


def _vgg_stack(widths: Sequence[int | str], length: int, pool: Callable[[int], list[nn.Module]]) -> nn.Sequential:
    """A VGG feature stack numbered like torchvision's (conv, ReLU, ..., pool), cut at ``length``."""
    layers: list[nn.Module] = []
    in_channels = 3
    for width in widths:
        if width == "M":
            layers += pool(in_channels)
        else:
            layers += [nn.Conv2d(in_channels, int(width), 3, padding=1), nn.ReLU()]
            in_channels = int(width)
    return nn.Sequential(*layers[:length])


def stlpips_weights_path() -> Path:
    """``vgg_shift_tolerant.pth`` inside the installed stlpips-pytorch wheel (package not imported)."""
    spec = importlib.util.find_spec(STLPIPS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "model.perceptual=stlpips_vgg16 needs the stlpips-pytorch wheel (pip install "
            "stlpips-pytorch==0.0.2; only its weights file is read), or set model.perceptual to 'vgg19' or 'none'"
        )
    return Path(list(spec.submodule_search_locations)[0]) / STLPIPS_WEIGHTS


class STLPIPSVGG16Perceptual(_FrozenFeatureLoss):
    """ST-LPIPS (VGG16, v0.0 weights): sum_l mean_xy w_l . (n(f_l(a)) - n(f_l(b)))^2, n = unit norm over channels.

    As in the v0.0 release of the weights, the image in [-1, 1] goes in unscaled (no ScalingLayer).

    Args:
        weights_path: the wheel's ``vgg_shift_tolerant.pth``; default: found in the installed package.
    """

    def __init__(self, weights_path: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights_path) if weights_path is not None else stlpips_weights_path()
        howto = "reinstall stlpips-pytorch==0.0.2 or set model.perceptual to 'vgg19' or 'none'"
        state = _load_state(path, howto)
        with torch.device("meta"):
            trunk = _vgg_stack(STLPIPS_WIDTHS, STLPIPS_SLICE_ENDS[-1], pool=_blur_pool)
        trunk_keys = [f"net.slice{self._slice_of(int(k.split('.')[0])) + 1}.{k}" for k in trunk.state_dict()]
        picked = _pick(state, path, "", trunk_keys, howto)
        trunk.load_state_dict({k.split(".", 2)[2]: v for k, v in picked.items()}, assign=True)
        self.trunk = trunk
        lin_keys = [f"lin{i}.model.1.weight" for i in range(len(STLPIPS_LAYER_WIDTHS))]
        self.lin_weights = nn.ParameterList(
            [nn.Parameter(w.view(1, -1, 1, 1)) for w in _pick(state, path, "", lin_keys, howto).values()]
        )
        self._freeze()
        _logger.info("ST-LPIPS VGG16 perceptual loss from %s", path)

    @staticmethod
    def _slice_of(index: int) -> int:
        return next(i for i, end in enumerate(STLPIPS_SLICE_ENDS) if index < end)

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        outputs, h = [], image
        for index, layer in enumerate(self.trunk):
            h = layer(h)
            if index + 1 in STLPIPS_SLICE_ENDS:
                outputs.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS))
        return outputs

    def layer_distance(self, index: int, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        squared = (fa.float() - fb.float()).pow(2)
        return (squared * self.lin_weights[index]).sum(dim=1).mean()


def build_perceptual(cfg: ModelConfig) -> nn.Module | None:
    """The perceptual loss ``cfg.perceptual`` names, or None for 'none'."""
    if cfg.perceptual == "none":
        return None
    if cfg.perceptual == "stlpips_vgg16":
        return STLPIPSVGG16Perceptual()
    if cfg.vgg19_weights is None:
        raise ConfigError(f"model.perceptual=vgg19 needs model.vgg19_weights: {VGG19_HOWTO}")
    return VGG19Perceptual(cfg.vgg19_weights)
