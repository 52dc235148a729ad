"""Differentiable label critics: the stand-ins for EMOCA (phi, psi) and a gaze network.

PD-FGC's losses need three frozen, differentiable networks of an image:
- ``phi``: 3D-reconstruction features (EMOCA's geometry encoder: pose and expression codes),
- ``psi``: emotion features (EMOCA's emotion network, its 256-d penultimate layer),
- ``Gaze``: a gaze estimator.

EMOCA, FLAME and a learned gaze network are licensed downloads. By default
(``train.critic_backend: trained``) this module provides ``LabelCritic``, a small CNN trained in
the ``critic`` stage to regress the labels precomputed in the shards (pose, expression, gaze,
blink). It is a learned approximation of those labelers, not EMOCA: its features are only as
informative as the shard labels it was fitted to.

Targets are standardised per label with a mean and std held in buffers (so they travel with the
critic's ``state_dict``). The statistics accumulate over the first ``NORMALISER_BATCHES`` training
batches (summed across DDP ranks) and are then frozen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from pdfgc.config import LabelsConfig, ModelConfig, PdfgcConfig
from pdfgc.errors import ConfigError, MissingWeightsError

_logger = logging.getLogger(__name__)

LABEL_DIMS = {"pose": 6, "gaze": 2, "blink": 2}
"""Widths of the fixed-size labels; ``expression`` comes from the label backend."""
LABELS = ("pose", "expression", "gaze", "blink")
NORMALISER_BATCHES = 20
"""Batches whose labels feed the mean/std estimate before it is frozen."""
STD_FLOOR = 1e-3
"""Lower bound on a label's std, so a constant label does not blow up its standardised target."""
MIN_FEATURE_SIDE = 8
"""The trunk halves the image until its side is at most this."""
EMOTION_FEATURE_DIVISOR = 2
"""psi width = the trunk's last width / this: 256 at the paper preset, as EMOCA's emotion feature."""
POSE_ANGLES = slice(0, 3)
POSE_TRANSLATION = slice(3, 6)

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


class LabelNormaliser(nn.Module):
    """Running sums of one label's values; ``mean``/``std`` standardise targets and predictions.

    Args:
        dim: width of the label.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("batches", torch.zeros((), dtype=torch.long))

    @property
    def frozen(self) -> bool:
        return int(self.batches) >= NORMALISER_BATCHES

    def set(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Fix the statistics to given values (for example from a data set summary)."""
        self.count.fill_(1.0)
        self.total.copy_(mean.double())
        self.total_sq.copy_(std.double() ** 2 + mean.double() ** 2)
        self.batches.fill_(NORMALISER_BATCHES)

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> None:
        """Add a batch (B, D) of label values; collective when torch.distributed is initialised."""
        values = values.double()
        sums = torch.cat([values.sum(0), (values**2).sum(0), values.new_tensor([len(values)])])  # (2D+1,)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)  # Collective -> ALL ranks call it
        dim = self.total.numel()
        self.total += sums[:dim]
        self.total_sq += sums[dim : 2 * dim]
        self.count += sums[-1]
        self.batches += 1

    @property
    def mean(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1.0)).float()

    @property
    def std(self) -> torch.Tensor:
        variance = self.total_sq / self.count.clamp(min=1.0) - (self.total / self.count.clamp(min=1.0)) ** 2
        return variance.clamp(min=0.0).sqrt().float().clamp(min=STD_FLOOR)

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std

    def restore(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.std + self.mean


@dataclass
class CriticOutput:
    """Standardised head outputs of ``LabelCritic`` plus psi's emotion feature."""

    pose: torch.Tensor  # (B, 6)
    expression: torch.Tensor  # (B, E)
    gaze: torch.Tensor  # (B, 2)
    blink: torch.Tensor  # (B, 2)
    emotion_feature: torch.Tensor  # (B, F_psi)

    def label(self, name: str) -> torch.Tensor:
        return getattr(self, name)


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.LeakyReLU(0.2),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.LeakyReLU(0.2),
    )


def _trunk(image_size: int, base_channels: int) -> tuple[nn.Sequential, int]:
    """Stride-2 blocks until the map is at most MIN_FEATURE_SIDE, widths doubling up to 8x."""
    blocks, channels, side = [], 3, image_size
    width = base_channels
    while side > MIN_FEATURE_SIDE:
        blocks.append(_conv_block(channels, width))
        channels, side = width, (side + 1) // 2
        width = min(width * 2, base_channels * 8)
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten()), channels


class LabelCritic(nn.Module):
    """A CNN image (B,3,S,S) in [-1,1] -> standardised pose, expression, gaze, blink.

    Args:
        cfg: the model section (``net_image_size``, ``base_channels``).
        expression_dim: E, the width of the shards' ``expression`` label.
    """

    def __init__(self, cfg: ModelConfig, expression_dim: int) -> None:
        super().__init__()
        self.trunk, feature_dim = _trunk(cfg.net_image_size, cfg.base_channels)
        emotion_dim = feature_dim // EMOTION_FEATURE_DIVISOR
        self.emotion_branch = nn.Sequential(nn.Linear(feature_dim, emotion_dim), nn.LeakyReLU(0.2))
        self.expression_head = nn.Linear(emotion_dim, expression_dim)
        self.pose_head = nn.Linear(feature_dim, LABEL_DIMS["pose"])
        self.gaze_head = nn.Linear(feature_dim, LABEL_DIMS["gaze"])
        self.blink_head = nn.Linear(feature_dim, LABEL_DIMS["blink"])
        dims = {**LABEL_DIMS, "expression": expression_dim}
        self.normalisers = nn.ModuleDict({name: LabelNormaliser(dims[name]) for name in LABELS})

    @property
    def expression_dim(self) -> int:
        return self.expression_head.out_features

    def forward(self, image: torch.Tensor) -> CriticOutput:
        feature = self.trunk(image)  # (B, F)
        emotion = self.emotion_branch(feature)  # (B, F/2)
        return CriticOutput(
            pose=self.pose_head(feature),
            expression=self.expression_head(emotion),
            gaze=self.gaze_head(feature),
            blink=self.blink_head(feature),
            emotion_feature=emotion,
        )

    def standardised_targets(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.normalisers[name].standardise(batch[name]) for name in LABELS}

    def in_label_units(self, output: CriticOutput) -> dict[str, torch.Tensor]:
        """Predictions mapped back to the shards' units (degrees, EAR, expression code)."""
        return {name: self.normalisers[name].restore(output.label(name)) for name in LABELS}

    def update_normalisers(self, batch: dict[str, torch.Tensor]) -> None:
        for name in LABELS:
            if not self.normalisers[name].frozen:
                self.normalisers[name].update(batch[name])


def critic_metrics(pred: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean absolute errors in label units: ``pred`` from ``LabelCritic.in_label_units``."""
    errors = {name: (pred[name].detach().float() - batch[name].float()).abs() for name in LABELS}
    return {
        "mae_pose_deg": errors["pose"][:, POSE_ANGLES].mean().item(),
        "mae_pose_translation": errors["pose"][:, POSE_TRANSLATION].mean().item(),
        "mae_expression": errors["expression"].mean().item(),
        "mae_gaze_deg": errors["gaze"].mean().item(),
        "mae_blink_ear": errors["blink"].mean().item(),
    }


@dataclass
class Critics:
    """The three frozen feature functions of the PD-FGC losses: phi and psi (L_mot), gaze (L_con).

    With the trained backend, phi returns the standardised pose + expression predictions
    (B, 6+E), psi the emotion-branch feature (B, F_psi) and gaze the standardised gaze (B, 2):
    standardised units keep degrees from outweighing the expression code in the L2 norms.
    """

    phi: FeatureFn
    psi: FeatureFn
    gaze: FeatureFn
    module: nn.Module


def freeze_module(module: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients; inputs still receive gradients through it."""
    module.eval()
    module.requires_grad_(False)
    return module


def critics_from_label_critic(critic: LabelCritic) -> Critics:
    freeze_module(critic)

    def phi(image: torch.Tensor) -> torch.Tensor:
        output = critic(image)
        return torch.cat([output.pose, output.expression], dim=1)  # (B, 6+E)

    return Critics(
        phi=phi,
        psi=lambda image: critic(image).emotion_feature,
        gaze=lambda image: critic(image).gaze,
        module=critic,
    )


def expression_dim_of_state(state: dict[str, torch.Tensor]) -> int:
    """E of a saved ``LabelCritic``, read from its expression head."""
    return int(state["expression_head.weight"].shape[0])


def load_label_critic(cfg: ModelConfig, state: dict[str, torch.Tensor]) -> LabelCritic:
    critic = LabelCritic(cfg, expression_dim_of_state(state))
    critic.load_state_dict(state)
    return critic


def _emoca_critics(labels: LabelsConfig) -> Critics:
    """EMOCA + gaze networks from ``labels.weights_dir``, when the label backend exposes them.

    The file names and download instructions are the EMOCA label backend's, so both places ask
    for the same files.
    """
    from pdfgc.labels.backends import emoca
    from pdfgc.labels.backends.weights import require_file

    for filename in (emoca.FLAME_FILE, emoca.EMOCA_CHECKPOINT_FILE):
        require_file("train.critic_backend=emoca", filename, [labels.weights_dir], emoca.HOW_TO_GET)
    build = getattr(emoca, "build_emoca_critics", None)
    if build is None:
        raise MissingWeightsError(
            f"train.critic_backend=emoca: the EMOCA files are under {labels.weights_dir}, but "
            "pdfgc.labels.backends.emoca exposes no differentiable torch module (build_emoca_critics); "
            "use train.critic_backend=trained"
        )
    phi, psi, gaze, module = build(labels.weights_dir)
    return Critics(phi=phi, psi=psi, gaze=gaze, module=freeze_module(module))


def build_critics(cfg: PdfgcConfig, critic_state: dict[str, torch.Tensor] | None) -> Critics:
    """The frozen critics stages 1 and 3 use (``train.critic_backend`` picks them).

    Args:
        cfg: the whole config: the backend lives in ``train``, sizes in ``model`` and licensed
            files in ``labels.weights_dir``.
        critic_state: the ``critic`` entry of a critic-stage export (trained backend).
    """
    if cfg.train.critic_backend == "emoca":
        return _emoca_critics(cfg.labels)
    if critic_state is None:
        raise ConfigError(
            "train.critic_backend=trained needs a critic-stage export (--critic-from "
            "OUT/critic/export.pt); run the 'critic' stage first"
        )
    return critics_from_label_critic(load_label_critic(cfg.model, critic_state))


def fer_emotion_psi() -> FeatureFn:
    """psi from fer's emotion network (``pdfgc.eval.nets.emotion.EmotionCritic``): the pooled
    128-d feature of its last block, frozen, moved to the input's device on first use."""
    from pdfgc.eval.nets.emotion import EmotionCritic

    critic = EmotionCritic()

    def psi(image: torch.Tensor) -> torch.Tensor:
        if critic.grey.device != image.device:
            critic.to(image.device)
        return critic.features(image)  # (B, 128)

    return psi
