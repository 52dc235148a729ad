"""The four stage tasks: critic, 1 (appearance/motion), 2 (lip/pose/eye heads), 3 (expression + G).

Each task owns one stage's networks, optimisers, schedulers and losses; the generic loop in
``pdfgc.train.loop`` feeds it batches (keys per stage in docs/DATA_FORMAT.md and the loader),
steps the StepLR schedulers once per step after ``training_step``, and checkpoints what
``trainable()``, ``optimizers()``, ``schedulers()`` and ``state_dict()`` return. A GAN stage runs
its generator and discriminator updates inside one ``training_step``.

Every stage builds the full ``PDFGC`` container with ``build_model`` and loads the previous
stage's export (``init_from``); it trains only its own modules and freezes the rest:

| stage  | trains                                              | frozen (eval, no weight change) |
| ------ | --------------------------------------------------- | ------------------------------- |
| critic | LabelCritic                                         | (PDFGC built, exported untrained) |
| 1      | app_encoder, motion_encoder, generator0, D          | everything else                 |
| 2      | lip_head, pose_head, eye_head, audio_encoder        | motion_encoder (per the paper)  |
| 3      | exp_head, generator, D, app_encoder (fine-tuned)    | motion_encoder, lip/pose/eye heads, audio_encoder |

Stage 3 fine-tunes the appearance encoder because its generator is new: the appearance features
were shaped for G0, and no frozen module reads them, so adapting them cannot break an earlier
stage's factor. Stage 3 gives G the audio lip feature ``E_aud(mel)`` (not ``E_lip(E_mot(frame))``)
because that is what drives G at synthesis time, and L_con and L_decor compare against the same
audio feature; G therefore learns the distribution it will be driven with.

Stage 2 shifts E_pose's output bias once, on its first batch, to the mean pose label (see
``Stage2Task._centre_pose_head``): the shards' pose is in degrees and millimetres, tz near 1300.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pdfgc.config import ModelConfig, PdfgcConfig, StageConfig
from pdfgc.errors import ConfigError, InputError
from pdfgc.models.critics import LABELS, Critics, LabelCritic, build_critics, critic_metrics, freeze_module
from pdfgc.train.checkpoint import EXPORT_FORMAT
from pdfgc.train.task_base import STAGES, StageTask, WrapFn

_logger = logging.getLogger(__name__)

GRID_ROWS = 4
"""Samples shown in an image grid."""
SWAP_FACTORS = ("lip", "pose", "eye", "exp")
STAGE_MODULES = {
    "1": ("app_encoder", "motion_encoder", "generator0", "discriminator"),
    "2": ("lip_head", "pose_head", "eye_head", "audio_encoder"),
    "3": ("app_encoder", "exp_head", "generator", "discriminator"),
}


# ----------------------------------------------------------------------------- shared helpers


def load_export(path: Path) -> dict[str, Any]:
    """Read a stage export (``pdfgc-export/1``) without unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"stage export not found: {path}")
    export = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path}: not a {EXPORT_FORMAT} stage export")
    return export


def labels_expression_dim(cfg: PdfgcConfig) -> int:
    """E, the width of the shards' ``expression`` label, from the configured label backend."""
    if cfg.labels.expression == "emoca":
        from pdfgc.labels.backends.emoca import EmocaExpressionLabeler as labeler
    else:
        from pdfgc.labels.expression import ExpressionLabeler as labeler
    spec = next(spec for spec in labeler.specs if spec.name == "expression")
    return int(spec.shape[0])


def _build_container(cfg: PdfgcConfig, device: torch.device, init_from: Path | None) -> tuple[nn.Module, str | None]:
    """The PDFGC container, loaded from ``init_from`` when given, and the stage that export came from."""
    from pdfgc.models import build_model

    model = build_model(cfg.model)
    if init_from is None:
        return model.to(device), None
    export = load_export(init_from)
    model.load_state_dict(export["model"])
    return model.to(device), str(export["stage"])


def _load_critics(cfg: PdfgcConfig, device: torch.device, critic_from: Path | None) -> Critics:
    """phi, psi and Gaze for L_mot / L_con; ``build_critics`` explains a missing ``critic_from``."""
    state = None
    if cfg.train.critic_backend == "trained" and critic_from is not None:
        state = load_export(critic_from).get("critic")
        if state is None:
            raise InputError(f"{critic_from}: export holds no 'critic' state (not a critic-stage export)")
    critics = build_critics(cfg, state)
    critics.module.to(device)
    return critics


def _freeze_others(model: nn.Module, trained: tuple[str, ...]) -> dict[str, nn.Module]:
    frozen = {name: module for name, module in model.named_children() if name not in trained}
    for module in frozen.values():
        freeze_module(module)
    return frozen


def _set_train(trained: dict[str, nn.Module], frozen: dict[str, nn.Module]) -> None:
    """Trained modules in train mode; frozen ones stay in eval (no BatchNorm statistics drift)."""
    for module in trained.values():
        module.train()
    for module in frozen.values():
        module.eval()


def _set_eval(trained: dict[str, nn.Module]) -> None:
    """For image grids: BatchNorm uses its running statistics and does not update them."""
    for module in trained.values():
        module.eval()


def accumulate_and_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, step: int, accum: int) -> None:
    """Add ``loss / accum``'s gradients; step and clear the optimiser at the end of each cycle of
    ``accum`` loop steps (every step when ``accum`` is 1). Gradients start cleared."""
    (loss / accum).backward()
    if step % accum == 0:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


@contextlib.contextmanager
def gradients_kept(module: nn.Module) -> Iterator[None]:
    """Leave ``module``'s accumulated gradients as they were across a backward pass that is not
    its own (the generator loss also reaches the discriminator's weights)."""
    saved = [(p, None if p.grad is None else p.grad.clone()) for p in module.parameters()]
    try:
        yield
    finally:
        for param, grad in saved:
            param.grad = grad


def _adam(modules: list[nn.Module], stage_cfg: StageConfig) -> torch.optim.Adam:
    params = [p for module in modules for p in module.parameters()]
    return torch.optim.Adam(params, lr=stage_cfg.lr, betas=tuple(stage_cfg.betas))


def _step_lr(optimizer: torch.optim.Optimizer, stage_cfg: StageConfig) -> torch.optim.lr_scheduler.StepLR:
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=stage_cfg.lr_step_every, gamma=stage_cfg.lr_gamma)


def _scalars(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in losses.items()}


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(features: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """All ranks' features (world*B, D) for in-batch negatives; gradient flows to the local part.

    open_clip's ClipLoss style: other ranks' features arrive detached, this rank's slot is the
    live tensor. At world size 1 it returns ``features`` unchanged.
    """
    if world_size == 1:
        return features
    gathered = [torch.zeros_like(features) for _ in range(world_size)]
    dist.all_gather(gathered, features.detach().contiguous())  # Collective -> ALL ranks call it
    gathered[rank] = features
    return torch.cat(gathered, dim=0)


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) in [-1,1] -> (N,H,W,3) uint8."""
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def _tile(rows: list[list[torch.Tensor]]) -> np.ndarray:
    """Rows of (3,S,S) images -> one (H,W,3) picture; short rows are padded with black."""
    width = max(len(row) for row in rows)
    blank = torch.full_like(rows[0][0], -1.0)
    lines = [np.concatenate(list(_to_uint8(torch.stack(row + [blank] * (width - len(row))))), axis=1) for row in rows]
    return np.concatenate(lines, axis=0)


class _Adversarial:
    """Reconstruction + multi-scale GAN losses shared by stages 1 and 3, and the D step.

    The discriminator sees real and fake in one concatenated forward per step, so a DDP-wrapped D
    runs exactly one forward per backward.
    """

    def __init__(self, discriminator: nn.Module, model_cfg: ModelConfig, stage_cfg: StageConfig, device: torch.device):
        from pdfgc.losses.perceptual import build_perceptual

        self.discriminator = discriminator
        self.weights = stage_cfg.weights
        perceptual = build_perceptual(model_cfg)
        self.perceptual = perceptual.to(device).eval() if perceptual is not None else None
        if self.perceptual is not None:
            self.perceptual.requires_grad_(False)

    def _split(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[list, list]:
        outputs = self.discriminator(torch.cat([fake, real], dim=0))
        batch = fake.shape[0]
        fake_out = [[feature[:batch] for feature in scale] for scale in outputs]
        real_out = [[feature[batch:] for feature in scale] for scale in outputs]
        return fake_out, real_out

    def generator_losses(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """loss_rec (L1), loss_vgg, loss_adv, loss_fm, and their weighted sum ``loss_image``."""
        from pdfgc.losses.adversarial import feature_matching_loss, generator_hinge_loss

        fake_out, real_out = self._split(fake, real)
        real_feats = [[feature.detach() for feature in scale] for scale in real_out]
        losses = {
            "loss_rec": F.l1_loss(fake, real),
            "loss_vgg": self.perceptual(fake, real) if self.perceptual is not None else fake.new_zeros(()),
            "loss_adv": generator_hinge_loss(fake_out),
            "loss_fm": feature_matching_loss(real_feats, fake_out),
        }
        w = self.weights
        losses["loss_image"] = (
            w.image * losses["loss_rec"] + w.vgg * losses["loss_vgg"]
            + w.adversarial * losses["loss_adv"] + w.feature_matching * losses["loss_fm"]
        )
        return losses

    def discriminator_step(self, optimizer: torch.optim.Optimizer, fake: torch.Tensor,
                           real: torch.Tensor, step: int, accum: int) -> torch.Tensor:
        from pdfgc.losses.adversarial import discriminator_hinge_loss

        fake_out, real_out = self._split(fake.detach(), real)
        loss = discriminator_hinge_loss(real_out, fake_out)
        accumulate_and_step(optimizer, loss, step, accum)
        return loss.detach()


class _TaskBase:
    """What every task shares: device, the config, optimisers, schedulers and export."""

    stage: str

    def __init__(self, cfg: PdfgcConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self.accum = 1
        self._schedulers: dict[str, Any] = {}
        self.model: nn.Module | None = None
        self.critic: nn.Module | None = None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._optimizers

    def schedulers(self) -> dict[str, Any]:
        return self._schedulers

    def _add_optimizer(self, name: str, modules: list[nn.Module], stage_cfg: StageConfig) -> None:
        self.accum = stage_cfg.grad_accum
        optimizer = _adam(modules, stage_cfg)
        self._optimizers[name] = optimizer
        self._schedulers[name] = _step_lr(optimizer, stage_cfg)

    def trainable(self) -> dict[str, nn.Module]:
        return dict(self.trained)

    def _own_stage_modules(self, wrap: WrapFn) -> None:
        """Split the container into this stage's trained modules (also DDP-wrapped) and the frozen rest."""
        self.trained = {name: getattr(self.model, name) for name in STAGE_MODULES[self.stage]}
        self.wrapped = {name: wrap(module) for name, module in self.trained.items()}
        self.frozen = _freeze_others(self.model, STAGE_MODULES[self.stage])

    def _setup_gan_stage(self, wrap: WrapFn, init_from: Path | None, critic_from: Path | None,
                         generator_side: tuple[str, ...]) -> None:
        """Stages 1 and 3: container, frozen critics, own modules, GAN losses, G and D optimisers."""
        self.model, _ = _build_container(self.cfg, self.device, init_from)
        critics = _load_critics(self.cfg, self.device, critic_from)
        self.critics, self.critic = critics, critics.module
        self._own_stage_modules(wrap)
        self.gan = _Adversarial(self.wrapped["discriminator"], self.cfg.model, self.stage_cfg, self.device)
        self._add_optimizer("generator", [self.trained[n] for n in generator_side], self.stage_cfg)
        self._add_optimizer("discriminator", [self.trained["discriminator"]], self.stage_cfg)

    def _step(self, name: str, loss: torch.Tensor, step: int) -> None:
        accumulate_and_step(self._optimizers[name], loss, step, self.accum)

    def _generator_and_discriminator_step(self, total: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                                          step: int) -> torch.Tensor:
        """Generator update (the discriminator's own accumulated gradients untouched), then D's."""
        with gradients_kept(self.trained["discriminator"]):
            self._step("generator", total, step)
        return self.gan.discriminator_step(self._optimizers["discriminator"], fake, real, step, self.accum)

    def export(self) -> dict[str, nn.Module]:
        """``model`` (the whole PDFGC container) and ``critic`` when this stage has one; the loop
        saves their state dicts with ``pdfgc.train.checkpoint.save_export``."""
        modules = {"model": self.model, "critic": self.critic}
        return {name: module for name, module in modules.items() if module is not None}

    def state_dict(self) -> dict[str, Any]:
        """Task-owned state beyond the trainable modules (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore by default; tasks with state override this."""


# ----------------------------------------------------------------------------- critic stage


class CriticTask(_TaskBase):
    """Fits ``LabelCritic`` to the shards' labels (Huber loss on standardised targets).

    Its export also carries a freshly initialised PDFGC container (the hand-over contract wants
    every export to hold one); it stays on the CPU and is never trained here.

    Args:
        cfg: the whole config (``model`` sizes, ``train.critic`` optimiser, ``labels`` for E).
        device: where the critic lives.
        wrap: DDP wrapper for the critic.
        expression_dim: E; default: the width the configured expression labeler declares.
    """

    stage = "critic"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn, expression_dim: int | None = None) -> None:
        super().__init__(cfg, device)
        width = expression_dim if expression_dim is not None else labels_expression_dim(cfg)
        self.critic = LabelCritic(cfg.model, width).to(device)
        self.model, _ = _build_container(cfg, torch.device("cpu"), init_from=None)
        self.critic_ddp = wrap(self.critic)
        self._add_optimizer("critic", [self.critic], cfg.train.critic)

    def trainable(self) -> dict[str, nn.Module]:
        return {"critic": self.critic}

    def _check_batch(self, batch: dict[str, torch.Tensor]) -> None:
        width = batch["expression"].shape[1]
        if width != self.critic.expression_dim:
            raise ConfigError(
                f"batch 'expression' has {width} dims but labels.expression={self.cfg.labels.expression} "
                f"declares {self.critic.expression_dim}: the shards were labelled with another backend"
            )

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        self._check_batch(batch)
        self.critic.train()
        self.critic.update_normalisers(batch)
        targets = self.critic.standardised_targets(batch)
        output = self.critic_ddp(batch["image"])
        losses = {f"loss_{name}": F.smooth_l1_loss(output.label(name), targets[name]) for name in LABELS}
        total = sum(losses.values())
        self._step("critic", total, step)
        with torch.no_grad():
            metrics = critic_metrics(self.critic.in_label_units(output), batch)
        return {"loss": float(total.detach()), **_scalars(losses), **metrics}

    @torch.no_grad()
    def evaluate(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Mean absolute errors in label units on a held-out batch."""
        self.critic.eval()
        return critic_metrics(self.critic.in_label_units(self.critic(batch["image"])), batch)

    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """The critic draws nothing; its metrics say how well it fits."""
        return None


# ----------------------------------------------------------------------------- stage 1


class Stage1Task(_TaskBase):
    """LPD self-driving: I_0 = G0(E_app(K frames), E_mot(augment(driver))) reconstructs the driver.

    Args:
        cfg: the whole config (``model``, ``train.stage1``, ``train.critic_backend``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: an earlier export whose PDFGC weights start this stage (optional).
        critic_from: the critic-stage export providing phi and psi for L_mot.
    """

    stage = "1"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                 init_from: Path | None, critic_from: Path | None) -> None:
        from pdfgc.data.augment import MotionAugment

        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage1
        self._setup_gan_stage(wrap, init_from, critic_from, ("app_encoder", "motion_encoder", "generator0"))
        rank, _ = _world()
        self.augment_rng = torch.Generator(device=device).manual_seed(cfg.train.seed * 1000 + rank)
        self.augment = MotionAugment()

    def _reconstruct(self, app_frames: torch.Tensor, driver: torch.Tensor, augment: bool) -> torch.Tensor:
        modules = self.wrapped if augment else self.trained
        app = modules["app_encoder"](app_frames)
        driver_in = self.augment(driver, self.augment_rng) if augment else driver
        motion = modules["motion_encoder"](driver_in)  # (B, motion_dim)
        return modules["generator0"](app, motion)  # (B, 3, S, S)

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        from pdfgc.losses.motion import motion_reconstruction_loss

        _set_train(self.trained, self.frozen)
        driver = batch["driver"]
        fake = self._reconstruct(batch["app_frames"], driver, augment=True)
        losses = self.gan.generator_losses(fake, driver)
        losses["loss_mot"] = motion_reconstruction_loss(self.critics.phi, self.critics.psi, fake, driver)
        total = losses.pop("loss_image") + self.stage_cfg.weights.mot * losses["loss_mot"]
        losses["loss_d"] = self._generator_and_discriminator_step(total, fake, driver, step)
        return {"loss": float(total.detach()), **_scalars(losses)}

    def state_dict(self) -> dict[str, Any]:
        return {"augment_rng": self.augment_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.augment_rng.set_state(state["augment_rng"].cpu())

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples; columns = an appearance frame, the driver, I_0 (driver not augmented)."""
        _set_eval(self.trained)
        rows = min(GRID_ROWS, batch["driver"].shape[0])
        app_frames, driver = batch["app_frames"][:rows], batch["driver"][:rows]
        fake = self._reconstruct(app_frames, driver, augment=False)
        return _tile([[app_frames[i, 0], driver[i], fake[i]] for i in range(rows)])


# ----------------------------------------------------------------------------- stage 2


class Stage2Task(_TaskBase):
    """Lip (audio-visual InfoNCE), eye (local contrastive) and pose heads on a frozen E_mot.

    Args:
        cfg: the whole config (``model``, ``train.stage2``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: the stage-1 export (its E_mot is what the heads read).
        rank, world_size: this process's place among the ranks, for gathering lip negatives.
    """

    stage = "2"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn, init_from: Path | None,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage2
        self.rank, self.world_size = rank, world_size
        self.model, source_stage = _build_container(cfg, device, init_from)
        self.pose_head_centred = source_stage in ("2", "3")
        self._own_stage_modules(wrap)
        self._add_optimizer("heads", list(self.trained.values()), self.stage_cfg)

    def state_dict(self) -> dict[str, Any]:
        return {"pose_head_centred": torch.tensor(self.pose_head_centred)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pose_head_centred = bool(state["pose_head_centred"])

    @torch.no_grad()
    def _centre_pose_head(self, motion: torch.Tensor, pose: torch.Tensor) -> None:
        """Data-dependent init, once: shift E_pose's last bias so its mean output is the mean label.

        The pose label is in shard units (tz is about 1300 mm); an L1 regression whose output
        starts near 0 would spend its first million Adam steps walking the bias there.
        Collective when torch.distributed is initialised (the offset is averaged over ranks).
        """
        final = [module for module in self.model.pose_head.modules() if isinstance(module, nn.Linear)][-1]
        offset = pose.float().mean(0) - self.model.pose_head(motion).float().mean(0)  # (6,)
        if self.world_size > 1:
            dist.all_reduce(offset)  # Collective -> ALL ranks call it
            offset /= self.world_size
        final.bias += offset.to(final.bias)
        self.pose_head_centred = True

    def _eye_anchor(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        from pdfgc.data.augment import composite_eye_region

        return composite_eye_region(batch["frames"], batch["frames2"], batch["landmarks"], batch["landmarks2"])

    def _losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from pdfgc.losses.contrastive import eye_contrastive_loss, lip_contrastive_loss
        from pdfgc.losses.pose import pose_l1_loss

        batch_size = batch["frames"].shape[0]
        images = torch.cat([batch["frames"], batch["frames2"], self._eye_anchor(batch)], dim=0)
        with torch.no_grad():
            motion = self.model.motion_encoder(images)  # (3B, motion_dim)
        if not self.pose_head_centred:
            self._centre_pose_head(motion[:batch_size], batch["pose"])
        heads = self.wrapped
        lip, audio = heads["lip_head"](motion[:batch_size]), heads["audio_encoder"](batch["mel"])
        both = gather_with_grad(torch.cat([lip, audio], dim=1), self.rank, self.world_size)  # one collective, not two
        video_feat, audio_feat = both.split([lip.shape[1], audio.shape[1]], dim=1)
        a2v, v2a = lip_contrastive_loss(audio_feat, video_feat, self.stage_cfg.temperature)
        eye_1, eye_2, eye_anchor = heads["eye_head"](motion).split(batch_size)
        return {
            "loss_a2v": a2v,
            "loss_v2a": v2a,
            "loss_eye": eye_contrastive_loss(eye_1, eye_2, eye_anchor, self.stage_cfg.temperature),
            "loss_pose": pose_l1_loss(heads["pose_head"](motion[:batch_size]), batch["pose"]),
        }

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        _set_train(self.trained, self.frozen)
        losses = self._losses(batch)
        w = self.stage_cfg.weights
        total = (w.contrastive * (losses["loss_a2v"] + losses["loss_v2a"])
                 + w.eye * losses["loss_eye"] + w.pose * losses["loss_pose"])
        self._step("heads", total, step)
        return {"loss": float(total.detach()), **_scalars(losses)}

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples; columns = v1, v2 and the eye anchor (v1's eyes on v2)."""
        rows = min(GRID_ROWS, batch["frames"].shape[0])
        anchor = self._eye_anchor(batch)
        return _tile([[batch["frames"][i], batch["frames2"][i], anchor[i]] for i in range(rows)])


# ----------------------------------------------------------------------------- stage 3


class Stage3Task(_TaskBase):
    """Expression head and final generator: I_f = G(app, lip, pose, eye, exp) rebuilds the driver.

    Losses: L1 + L_vgg + adversarial + feature matching on I_f, L_decor between the
    window-averaged expression feature and the window's audio feature (memory banks of
    ``train.stage3.memory_bank``, kept per rank), and L_con.

    Args:
        cfg: the whole config (``model``, ``train.stage3``, ``train.stage1.k_frames``).
        device: where the networks live.
        wrap: DDP wrapper for each trained module.
        init_from: the stage-2 export.
        critic_from: the critic-stage export (phi, psi, Gaze).
    """

    stage = "3"

    def __init__(self, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
                 init_from: Path | None, critic_from: Path | None) -> None:
        from pdfgc.losses.decorrelation import FeatureMemoryBank

        super().__init__(cfg, device)
        self.stage_cfg = cfg.train.stage3
        self._setup_gan_stage(wrap, init_from, critic_from, ("app_encoder", "exp_head", "generator"))
        bank_size = self.stage_cfg.memory_bank
        self.exp_bank = FeatureMemoryBank(bank_size, cfg.model.exp_dim).to(device)
        self.audio_bank = FeatureMemoryBank(bank_size, cfg.model.lip_dim).to(device)

    @torch.no_grad()
    def _frozen_factors(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """lip (audio), pose, eye of the driver and the window's mean audio feature; no grad."""
        from pdfgc.losses.decorrelation import window_average

        model = self.model
        batch_size, window = batch["mel_window"].shape[:2]
        motion = model.motion_encoder(batch["driver"])  # (B, motion_dim)
        audio_window = model.audio_encoder(batch["mel_window"].flatten(0, 1))  # (B*K3, lip_dim)
        return {
            "lip": model.audio_encoder(batch["mel"]),  # (B, lip_dim)
            "pose": model.pose_head(motion),  # (B, 6)
            "eye": model.eye_head(motion),  # (B, eye_dim)
            "audio_window": window_average(audio_window.view(batch_size, window, -1)),  # (B, lip_dim)
        }

    def _expression(self, window: torch.Tensor, modules: dict[str, nn.Module]) -> torch.Tensor:
        """f_exp: E_exp(E_mot(.)) averaged over the K3 window frames -> (B, exp_dim)."""
        from pdfgc.losses.decorrelation import window_average

        batch_size, frames = window.shape[:2]
        with torch.no_grad():
            motion = self.model.motion_encoder(window.flatten(0, 1))  # (B*K3, motion_dim)
        return window_average(modules["exp_head"](motion).view(batch_size, frames, -1))

    def _consistency(self, fake: torch.Tensor, real: torch.Tensor, lip: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_con = exp(-S(V_lip(I_f), E_aud(a_g))) + |Gaze(I_f) - Gaze(I_g)|_1 + L_mot."""
        from pdfgc.losses.motion import motion_consistency_loss, motion_reconstruction_loss
        from pdfgc.losses.pose import masked_l1

        lip_fake = self.model.lip_head(self.model.motion_encoder(fake))  # (B, lip_dim), frozen V_lip
        lip_sim = F.cosine_similarity(lip_fake, lip, dim=1)  # (B,)
        gaze_fake = self.critics.gaze(fake)
        with torch.no_grad():
            gaze_real = self.critics.gaze(real)
        l_mot = motion_reconstruction_loss(self.critics.phi, self.critics.psi, fake, real)
        return {
            "loss_con": motion_consistency_loss(lip_sim, gaze_fake, gaze_real, l_mot),
            "loss_con_lip": torch.exp(-lip_sim).mean(),
            "loss_con_gaze": masked_l1(gaze_fake, gaze_real),
            "loss_mot": l_mot,
        }

    def _decorrelation(self, exp_feat: torch.Tensor, audio_feat: torch.Tensor) -> torch.Tensor:
        """L_decor against the banks as they were before this batch, then push the batch."""
        from pdfgc.losses.decorrelation import decorrelation_loss

        loss = decorrelation_loss(exp_feat, audio_feat, self.exp_bank, self.audio_bank)
        self.exp_bank.push(exp_feat.detach())
        self.audio_bank.push(audio_feat.detach())
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        _set_train(self.trained, self.frozen)
        factors = self._frozen_factors(batch)
        exp_feat = self._expression(batch["window"], self.wrapped)
        app = self.wrapped["app_encoder"](batch["app_frames"])
        driver = batch["driver"]
        fake = self.wrapped["generator"](app, factors["lip"], factors["pose"], factors["eye"], exp_feat)
        losses = self.gan.generator_losses(fake, driver)
        losses["loss_decor"] = self._decorrelation(exp_feat, factors["audio_window"])
        losses.update(self._consistency(fake, driver, factors["lip"]))
        w = self.stage_cfg.weights
        total = losses.pop("loss_image") + w.decor * losses["loss_decor"] + w.con * losses["loss_con"]
        losses["loss_d"] = self._generator_and_discriminator_step(total, fake, driver, step)
        return {"loss": float(total.detach()), **_scalars(losses)}

    def state_dict(self) -> dict[str, Any]:
        return {"exp_bank": self.exp_bank.state_dict(), "audio_bank": self.audio_bank.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.exp_bank.load_state_dict(state["exp_bank"])
        self.audio_bank.load_state_dict(state["audio_bank"])

    def _factors(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        factors = self._frozen_factors(batch)
        factors["exp"] = self._expression(batch["window"], self.trained)
        factors["app"] = self.trained["app_encoder"](batch["app_frames"])
        return factors

    def _draw(self, factors: dict[str, Any]) -> torch.Tensor:
        generator = self.trained["generator"]
        return generator(factors["app"], factors["lip"], factors["pose"], factors["eye"], factors["exp"])

    def _swap_rows(self, factors: dict[str, Any], batch: dict[str, torch.Tensor]) -> list[list[torch.Tensor]]:
        """One row per factor: driver 0, driver 1, G(0 with 1's factor), G(1 with 0's factor)."""
        order = torch.tensor([1, 0], device=self.device)
        pair = {name: _take(value, 2) for name, value in factors.items()}
        rows = []
        for name in SWAP_FACTORS:
            swapped = dict(pair, **{name: pair[name].index_select(0, order)})
            drawn = self._draw(swapped)
            rows.append([batch["driver"][0], batch["driver"][1], drawn[0], drawn[1]])
        return rows

    @torch.no_grad()
    def image_grid(self, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
        """Rows = samples (app frame, driver, I_f), then the factor-swap rows of samples 0 and 1."""
        _set_eval(self.trained)
        factors = self._factors(batch)
        fake = self._draw(factors)
        rows = [[batch["app_frames"][i, 0], batch["driver"][i], fake[i]] for i in range(min(GRID_ROWS, len(fake)))]
        if len(fake) >= 2:
            rows += self._swap_rows(factors, batch)
        return _tile(rows)


def _take(value: Any, count: int) -> Any:
    """The first ``count`` samples of a tensor or of a dataclass of tensors (AppearanceFeatures)."""
    if torch.is_tensor(value):
        return value[:count]
    parts = {field.name: getattr(value, field.name)[:count] for field in dataclasses.fields(value)}
    return dataclasses.replace(value, **parts)


# ----------------------------------------------------------------------------- factory


def build_task(stage: str, cfg: PdfgcConfig, device: torch.device, wrap: WrapFn,
               init_from: Path | None = None, critic_from: Path | None = None) -> StageTask:
    """The task object of ``stage`` (one of ``STAGES``) for the training loop.

    Stage 2 reads its rank and world size from torch.distributed when a process group exists.
    """
    if stage == "critic":
        return CriticTask(cfg, device, wrap)
    if stage == "1":
        return Stage1Task(cfg, device, wrap, init_from, critic_from)
    if stage == "2":
        rank, world_size = _world()
        return Stage2Task(cfg, device, wrap, init_from, rank=rank, world_size=world_size)
    if stage == "3":
        return Stage3Task(cfg, device, wrap, init_from, critic_from)
    raise ConfigError(f"unknown training stage {stage!r} (allowed: {', '.join(STAGES)})")
