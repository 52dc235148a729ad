"""A progress bar per training stage on the launcher's terminal: steps, loss, samples/s, ETA.

Rank 0 appends one JSON line per logged step to the stage's ``metrics.jsonl``; the launcher
reads what is new there each time a line of torchrun's output arrives (the ranks' own lines go
to the log file), so the bar costs no extra process and survives a resumed run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm


class StageProgress:
    """``update()`` after each child line; ``close()`` at the end."""

    def __init__(self, stage: str, metrics: Path, total: int) -> None:
        self.metrics = metrics
        self.offset = metrics.stat().st_size if metrics.exists() else 0
        self.bar = tqdm(total=total, desc=f"stage {stage}", unit="step", dynamic_ncols=True, leave=True)

    def update(self) -> None:
        if not self.metrics.exists():
            return
        with open(self.metrics, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self._show(record)

    def _show(self, record: dict) -> None:
        step = int(record.get("step", self.bar.n))
        if step > self.bar.n:
            self.bar.update(step - self.bar.n)
        shown = {name: f"{record[key]:.4g}" for name, key in (("loss", "loss"), ("samples/s", "samples_per_s"))
                 if isinstance(record.get(key), (int, float))}
        if shown:
            self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        self.update()
        self.bar.close()
