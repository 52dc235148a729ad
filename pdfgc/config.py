"""One typed configuration tree for the whole pipeline.

A run's configuration is a preset YAML file shipped in ``pdfgc/configs`` (or a user file),
plus ``--set key.path=value`` overrides, validated once by pydantic with ``extra="forbid"``
so that a typo names the bad key and the allowed ones. Each component receives only its own
section (``cfg.data``, ``cfg.labels``, ...), never the whole tree.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pdfgc.errors import ConfigError
from pdfgc.ops_config import CurateConfig, RetrainConfig

CONFIG_DIR = Path(__file__).parent / "configs"
PRESETS = ("tiny", "paper")


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AudioConfig(Section):
    """Log-mel features as in the public PD-FGC inference release (librosa conventions)."""

    sample_rate: int = 16000
    """Audio is resampled to this rate (Hz), mono."""
    rms_target: float = 0.1
    """Waveform is scaled so that its RMS equals this value before the STFT (0 disables)."""
    n_fft: int = 1280
    hop_length: int = 160
    """10 ms at 16 kHz: 4 mel frames per video frame at 25 fps."""
    n_mels: int = 80
    fmin: float = 125.0
    fmax: float = 7600.0
    ref_db: float = 20.0
    min_db: float = -100.0
    window_frames: int = 5
    """Video frames in the audio window given to the audio encoder (centred; 5 -> 20 mel frames)."""


class DataConfig(Section):
    """Decoding, face cropping and shard writing."""

    fps: int = 25
    crop_size: int = 224
    """Side of the aligned face crop in pixels."""
    alignment: Literal["pdfgc", "box"] = "pdfgc"
    """'pdfgc': the release's similarity transform (eyes + inner mouth to a fixed template);
    'box': a square, temporally smoothed detector box grown by ``box_scale``."""
    box_scale: float = 1.6
    image_format: Literal["jpg", "webp"] = "jpg"
    image_quality: int = Field(90, ge=1, le=100)
    chunk_frames: int = 100
    """Frames per WebDataset sample (a clip is cut into chunks of this length; 100 = 4 s)."""
    min_chunk_frames: int = 25
    """A trailing chunk shorter than this is dropped; a clip shorter than this is quarantined."""
    max_decode_side: int = 1280
    """Frames whose longer side exceeds this are scaled down by ffmpeg while decoding."""
    detect_every: int = 5
    """Run the face detector every N frames and track landmarks in between."""
    max_faces: int = 1
    """Policy for several faces: a frame with more than this many faces ends the track."""
    shard_target_mb: float = 256.0
    shard_prefix: str = "pdfgc"
    min_audio_rms: float = 1e-4
    """A clip whose audio RMS is below this is quarantined as silent."""


HUGE_PAGE_MALLOC_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
"""glibc >= 2.35 backs malloc with transparent huge pages (where THP is ``madvise`` or
``always``); elsewhere the variable does nothing."""


class LabelsConfig(Section):
    """Which backend computes each label; licensed backends read weights from ``weights_dir``."""

    landmarks: Literal["dlib", "dlib-subpixel", "fan"] = "dlib"
    """'dlib-subpixel': the same predictor located to 1/3 pixel instead of whole pixels (about
    40 % less landmark jitter on 224 px faces, about 0.7 ms more per frame; docs/LABELS.md)."""
    pose: Literal["pnp", "deep3d"] = "pnp"
    eyes: Literal["landmarks", "learned"] = "landmarks"
    """'learned': gaze from a learned estimator (``gaze_resnet50.pth`` in ``weights_dir``);
    blink always comes from the landmarks."""
    expression: Literal["landmarks", "emoca"] = "landmarks"
    weights_dir: str | None = None
    """Folder with licensed model files (FAN, Deep3DFaceRecon + BFM, EMOCA + FLAME)."""


class ModelConfig(Section):
    """Network sizes. ``paper`` follows the public inference release; ``tiny`` runs on a CPU."""

    preset: Literal["tiny", "paper"] = "paper"
    image_size: int = 224
    app_dim: int = 2048
    app_map_channels: int = 512
    motion_dim: int = 512
    lip_dim: int = 500
    pose_dim: int = 6
    eye_dim: int = 6
    exp_dim: int = 30
    audio_dim: int = 512
    base_channels: int = 64
    """Width multiplier for the convolutional trunks (tiny preset shrinks it)."""
    disc_scales: int = 2
    disc_layers: int = 4
    perceptual: Literal["vgg19", "stlpips_vgg16", "none"] = "vgg19"
    """Backbone of the perceptual loss: 'vgg19' needs ``vgg19_weights``; 'stlpips_vgg16' uses the
    VGG16 trunk shipped by the stlpips-pytorch wheel; 'none' disables the term."""
    vgg19_weights: str | None = None


class LossWeights(Section):
    image: float = 1.0
    feature_matching: float = 10.0
    vgg: float = 10.0
    adversarial: float = 1.0
    mot: float = 1.0
    contrastive: float = 100.0
    eye: float = 1.0
    pose: float = 1.0
    decor: float = 1.0
    con: float = 1.0


class StageConfig(Section):
    """Hyper-parameters of one progressive stage (defaults from the release's config)."""

    steps: int = Field(500_000, ge=1)
    """Loop steps of the stage; a re-run of a finished stage trains nothing."""
    batch_size: int = 32
    """Per process (per GPU)."""
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.99)
    lr_step_every: int = 80_000
    lr_gamma: float = 0.93
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimiser step: gradients of ``grad_accum`` consecutive loop steps are
    averaged before one step. Loop steps (``steps``, ``lr_step_every``, checkpoints) count
    micro-batches; a checkpoint is written only at the end of an accumulation cycle."""
    k_frames: int = 8
    """Stage 1: appearance frames per sample; stage 3: expression window length."""
    temperature: float = 1.0
    """Softmax temperature of the contrastive losses (1.0 = the paper's plain cosine)."""
    memory_bank: int = 1024
    """Stage 3: M, the number of recent features kept for L_decor."""
    weights: LossWeights = Field(default_factory=LossWeights)


class TrainConfig(Section):
    critic: StageConfig = Field(default_factory=lambda: StageConfig(steps=20_000, lr=1e-3, betas=(0.9, 0.999)))
    """Stage 'critic': small label regressors (pose, expression, gaze, blink) trained on the shards'
    precomputed labels; they stand in for EMOCA and a gaze network in L_mot and L_con."""
    critic_backend: Literal["trained", "emoca"] = "trained"
    """'trained': the critic stage above; 'emoca': licensed EMOCA + gaze networks from labels.weights_dir."""
    stage1: StageConfig = Field(default_factory=StageConfig)
    stage2: StageConfig = Field(default_factory=StageConfig)
    stage3: StageConfig = Field(default_factory=StageConfig)
    sync: StageConfig = Field(default_factory=lambda: StageConfig(steps=100_000, batch_size=64, lr=1e-4, betas=(0.9, 0.999)))
    """Stage 'sync': the sync expert (``cfg.sync``), trained on the shards alone (no init_from)."""
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """'auto': bf16 autocast on CUDA, fp32 on CPU."""
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    nproc_per_node: int = 1
    nnodes: int = 1
    rdzv_endpoint: str = "127.0.0.1:29500"
    """Multi-node only: ``HOST:PORT`` where every node meets; its TCP store listens on every
    interface of the node that hosts it, so name a host on the cluster's private network. One node
    ignores it and meets on a free port of 127.0.0.1, listening there only."""
    max_restarts: int = 0
    num_workers: int = 2
    """DataLoader workers per rank."""
    shuffle_buffer: int = 256
    log_every: int = 10
    image_every: int = 1000
    checkpoint_every: int = 1000
    keep_last: int = 3
    ema_decay: float | None = None
    deterministic: bool = False
    env: dict[str, str] = Field(default_factory=lambda: dict(HUGE_PAGE_MALLOC_ENV))
    """Environment of the torchrun processes (ranks and their DataLoader workers), on top of the
    launcher's own. The default backs malloc with transparent huge pages: a paper-preset batch
    (38 MB of 224 px frames) is fresh memory every step, and with 4 KiB pages its page faults
    cost the loader about a sixth of its time (docs/BENCHMARKS.md)."""
    view: str | None = None
    """A curated view (``pdfgc curate``): training reads only the samples it keeps outside the
    test split; its sha256 becomes a run parameter and a model-version tag."""
    eval_every: int = Field(0, ge=0)
    """Every N steps, rank 0 logs validation curves (``val/psnr``, ``val/identity_similarity``,
    ``val/m_lmd``, ``val/pose_error_deg``) on one fixed held-out batch, for the stages that draw
    a reconstruction (1 and 3); 0 = off."""


class TrackingConfig(Section):
    uri: str | None = None
    """MLflow tracking URI; None -> ``sqlite:///<workdir>/mlflow.db`` (embedded)."""
    experiment: str = "pdfgc"
    registered_model: str = "pdfgc-generator"


class ComputeConfig(Section):
    dask_address: str | None = None
    """Address of an existing Dask scheduler; None starts a LocalCluster."""
    n_workers: int | None = None
    """LocalCluster workers; None = one per core."""
    processes: bool = True
    """LocalCluster workers as processes (default: dlib's face detector does not run in
    parallel across threads) or threads (lighter to start, for tiny inputs)."""
    cluster_class: str | None = None
    """Dotted path of a Dask cluster class (e.g. ``dask_jobqueue.SLURMCluster``,
    ``dask_kubernetes.operator.KubeCluster``); used when ``dask_address`` is None."""
    cluster_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``cluster_class`` (queue, cores, memory, image, ...)."""
    adapt_max: int | None = None
    """With ``cluster_class``: scale adaptively between 1 and this many workers."""
    worker_env: dict[str, str] = Field(default_factory=lambda: dict(HUGE_PAGE_MALLOC_ENV))
    """Environment of LocalCluster worker processes, set before they start (Dask's
    ``distributed.nanny.pre-spawn-environ``). The default backs malloc with transparent huge
    pages: dlib's 100 MB landmark model is read at random, and huge pages (fewer TLB misses)
    make its predictor about 20 % faster. Workers you start yourself take the same variables
    (docs/OPERATIONS.md)."""


class EvaluationConfig(Section):
    """``pdfgc evaluate`` as the training flow runs it after its last stage (the CLI's flags win)."""

    after_training: bool = True
    """Evaluate the registered model when ``pdfgc train`` (or retraining) finishes its last stage."""
    split: Literal["test", "val", "train", "all"] = "test"
    """The manifest split whose clips are evaluated."""
    max_clips: int | None = Field(16, ge=1)
    """At most this many clips (spread over speakers); None = every clip of the split."""
    sync_model: str | None = None
    """A trained sync expert (export path or MLflow URI) for the LSE-D / LSE-C rows; None skips them."""


class SplitConfig(Section):
    """Train / val / test assignment by speaker id (``pdfgc.preprocess.splits``); written into
    ``manifest.parquet`` at preprocessing, so changing it never reprocesses a video."""

    seed: int = 0
    """Seeds the hash of a speaker id; another seed is another (equally stable) partition."""
    val_fraction: float = Field(0.1, ge=0.0, le=1.0)
    """Expected share of speakers held out for validation curves."""
    test_fraction: float = Field(0.1, ge=0.0, le=1.0)
    """Expected share of speakers held out for ``pdfgc evaluate``. A speaker's split depends only
    on its id and the seed, so the test speakers stay test speakers as data are added."""
    min_speakers: int = Field(3, ge=1)
    """Below this many distinct speakers the split falls back to ``clip-hash`` (by clip id),
    with a warning in the report and in each training run."""

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> "SplitConfig":
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be below 1 (nothing would be left to train on)")
        return self


class SyncConfig(Section):
    """The audio-visual sync expert (``pdfgc.models.sync``; stage ``sync`` of ``pdfgc train``,
    hyper-parameters in ``train.sync``): SyncNet-style embeddings of 5-frame mouth crops and of
    the 0.2 s log-mel window around them, scored by ``pdfgc.eval.metrics.lse``."""

    in_all: bool = False
    """Whether ``pdfgc train --stage all`` also trains the expert (after stage 3). Off by
    default: it is a measuring instrument, trained once per data set, not per model."""
    frames: int = Field(5, ge=1)
    """Video frames per window (5 at 25 fps = 0.2 s, the mel window of ``audio.window_frames``)."""
    mouth_box: tuple[float, float, float, float] = (0.5, 1.0, 0.0, 1.0)
    """Mouth region of the aligned face crop as fractions (top, bottom, left, right): the lower half."""
    crop_height: int = Field(48, ge=8)
    crop_width: int = Field(96, ge=8)
    """The mouth region is resized to crop_height x crop_width."""
    grayscale: bool = False
    """One grey channel per frame instead of RGB."""
    base_channels: int = Field(32, ge=1)
    """Width of the first conv layer of both encoders; doubles per stride-2 layer."""
    embed_dim: int = Field(512, ge=2)
    temperature: float = Field(0.07, gt=0.0)
    """Softmax temperature of the contrastive loss over cosine similarities."""
    shifted_negatives: int = Field(4, ge=0)
    """Off-sync audio windows of the same clip per sample (hard negatives beside the other clips)."""
    min_shift: int = Field(3, ge=1)
    """Smallest offset (video frames) of an off-sync window: nearer windows overlap the true one."""
    max_offset: int = Field(15, ge=1)
    """Offsets searched by the LSE scores, in video frames each way (SyncNet: 15)."""
    registered_suffix: str = "-sync"
    """The expert is registered as ``tracking.registered_model`` + this suffix."""

    @model_validator(mode="after")
    def _valid_box(self) -> "SyncConfig":
        top, bottom, left, right = self.mouth_box
        if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
            raise ValueError("mouth_box must be (top, bottom, left, right) fractions with top < bottom, left < right")
        return self


class PdfgcConfig(Section):
    """The whole configuration tree."""

    audio: AudioConfig = Field(default_factory=AudioConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)

    def to_flat_dict(self) -> dict[str, Any]:
        """``{"data.fps": 25, ...}``: the shape MLflow params want."""
        return _flatten(self.model_dump(mode="json"))

    def digest(self, *sections: str) -> str:
        """A short stable hash of the given sections (all when none are given)."""
        dumped = self.model_dump(mode="json")
        picked = {k: dumped[k] for k in sections} if sections else dumped
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _resolve_source(source: str | Path) -> Path:
    if str(source) in PRESETS:
        return CONFIG_DIR / f"{source}.yaml"
    return Path(source)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def _apply_override(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {'.'.join(path)}: {part} is not a section")
    node[path[-1]] = value


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{where}'{_allowed_keys(err['loc'])}")
        else:
            lines.append(f"config key '{where}': {err['msg']}")
    return "; ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: Any = PdfgcConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    return f" (allowed: {', '.join(model.model_fields)})"


def load_config(source: str | Path = "paper", overrides: list[str] | None = None) -> PdfgcConfig:
    """Load a preset name or YAML path, apply ``key.path=value`` overrides and validate.

    Examples
    --------
    >>> cfg = load_config("tiny", ["data.fps=25", "train.stage1.steps=3"])
    >>> cfg.train.stage1.steps
    3
    """
    path = _resolve_source(source)
    tree = _read_yaml(path)
    base = tree.pop("base", None)
    if base is not None:
        tree = _deep_merge(_read_yaml(_resolve_source(base)), tree)
    return config_from_tree(tree, overrides, origin=str(path))


def config_from_tree(tree: dict[str, Any], overrides: list[str] | None = None, origin: str = "config") -> PdfgcConfig:
    """Apply ``key.path=value`` overrides to a plain config tree (e.g. the one a checkpoint
    stores) and validate it; errors name ``origin``."""
    tree = copy.deepcopy(tree)
    for item in overrides or []:
        keys, value = _parse_override(item)
        _apply_override(tree, keys, value)
    try:
        return PdfgcConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_format_error(exc)}") from None


def save_config(cfg: PdfgcConfig, path: Path) -> Path:
    """Write the resolved config atomically (every rank of a job reads this one file)."""
    from pdfgc.io import atomic_write_text

    atomic_write_text(path, cfg.to_yaml())
    return path
