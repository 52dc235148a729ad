"""One typed configuration tree for the whole pipeline.

A run's configuration is a preset YAML file shipped in ``pdfgc/configs`` (or a user file),
plus ``--set key.path=value`` overrides, validated once by pydantic with ``extra="forbid"``
so that a typo names the bad key and the allowed ones. Each component receives only its own
section (``cfg.data``, ``cfg.labels``, ...), never the whole tree. Every field carries a
description (the string literal under it), printed by ``pdfgc config show --explain``.

Sections live in ``base`` (shared), ``media`` (audio, data), ``labels``, ``model``, ``train``
``services`` (tracking, compute), ``evaluation`` (split, sync expert), ``ops`` (curate, retrain) and
``infra`` (launch files); ``tree`` assembles them and ``load`` reads files.
"""

from pdfgc.config.base import (
    DASK_CLUSTER_MODULES,
    HUGE_PAGE_MALLOC_ENV,
    MAX_BATCH_SIZE,
    MAX_PROCESSES,
    SAFE_NAME_PATTERN,
    Section,
)
from pdfgc.config.evaluation import EvaluationConfig, SplitConfig, SyncConfig
from pdfgc.config.explain import explain_config
from pdfgc.config.infra import InfraConfig
from pdfgc.config.labels import LabelsConfig
from pdfgc.config.load import (
    CONFIG_DIR,
    PRESETS,
    RENAMED_KEYS,
    config_from_tree,
    load_config,
    save_config,
)
from pdfgc.config.media import AudioConfig, DataConfig
from pdfgc.config.model import ModelConfig
from pdfgc.config.ops import CurateConfig, RetrainConfig
from pdfgc.config.services import ComputeConfig, LimitsConfig, TrackingConfig
from pdfgc.config.train import LossWeights, StageConfig, TrainConfig
from pdfgc.config.tree import PdfgcConfig

__all__ = [
    "CONFIG_DIR", "DASK_CLUSTER_MODULES", "HUGE_PAGE_MALLOC_ENV", "MAX_BATCH_SIZE", "MAX_PROCESSES", "SAFE_NAME_PATTERN", "LimitsConfig", "PRESETS", "RENAMED_KEYS", "AudioConfig", "ComputeConfig", "CurateConfig", "DataConfig", "EvaluationConfig", "InfraConfig",
    "LabelsConfig", "LossWeights", "ModelConfig", "PdfgcConfig", "RetrainConfig", "Section", "SplitConfig", "StageConfig", "SyncConfig", "TrackingConfig",
    "TrainConfig", "config_from_tree", "explain_config", "load_config", "save_config",
]
