"""The run folder's layout, spelled once.

```
RUN/config.yaml              resolved config every rank reads
RUN/summary.json             what `pdfgc train` produced (runs, exports, registered model)
RUN/stage_<s>/export.pt      the stage's weights, input of the next stage and of synthesis
RUN/stage_<s>/stage_result.json   written by rank 0 when the stage ends
RUN/stage_<s>/mlflow_run.json     the stage's MLflow run, so a resumed stage logs into it
RUN/stage_<s>/metrics.jsonl  every logged metric
RUN/stage_<s>/checkpoints/   latest.pt, best.pt, step_N.pt
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXPORT_NAME = "export.pt"


@dataclass(frozen=True)
class StageLayout:
    """The files of one stage's folder."""

    root: Path

    @property
    def export(self) -> Path:
        return self.root / EXPORT_NAME

    @property
    def result(self) -> Path:
        return self.root / "stage_result.json"

    @property
    def mlflow_run(self) -> Path:
        return self.root / "mlflow_run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"


@dataclass(frozen=True)
class RunLayout:
    """The files of a training run's folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def evaluation(self) -> Path:
        """``pdfgc evaluate``'s output folder (metrics.json, report.html) after the last stage."""
        return self.root / "evaluation"

    def stage(self, stage: str) -> StageLayout:
        return StageLayout(self.root / f"stage_{stage}")
