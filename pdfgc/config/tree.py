"""``PdfgcConfig``: the whole configuration tree, one section per part of the pipeline."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import Field

from pdfgc.config.base import Section
from pdfgc.config.evaluation import EvaluationConfig, SplitConfig, SyncConfig
from pdfgc.config.infra import InfraConfig
from pdfgc.config.labels import LabelsConfig
from pdfgc.config.media import AudioConfig, DataConfig
from pdfgc.config.model import ModelConfig
from pdfgc.config.ops import CurateConfig, RetrainConfig
from pdfgc.config.services import ComputeConfig, LimitsConfig, TrackingConfig
from pdfgc.config.train import TrainConfig


class PdfgcConfig(Section):
    """The whole configuration tree."""

    audio: AudioConfig = Field(default_factory=AudioConfig)
    """Log-mel audio features."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Decoding, face crops and shards."""
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    """Label backends."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """Network sizes."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Training stages and their launch."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Experiment tracking (MLflow)."""
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    """The Dask cluster of preprocessing."""
    curate: CurateConfig = Field(default_factory=CurateConfig)
    """Filters and near-duplicate removal of ``pdfgc curate``."""
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    """Champion / challenger retraining."""
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    """``pdfgc evaluate`` after training."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    """Train / val / test assignment of speakers."""
    sync: SyncConfig = Field(default_factory=SyncConfig)
    """The audio-visual sync expert (stage ``sync``)."""
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    """Caps on untrusted shard and image content."""
    infra: InfraConfig = Field(default_factory=InfraConfig)
    """Cluster launch files (``pdfgc infra render``)."""

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
