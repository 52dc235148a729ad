"""``pdfgc evaluate``: a trained model against real frames, factor by factor.

Steps:
1. load the model (export path, ``runs:/`` or ``models:/``) and the split's clips from the shards;
2. per clip, self-driven reconstruction: the clip's first face frame as source, the clip's own
   audio, pose, eyes and expression as drivers;
3. per clip, cross-driven: the same source, every factor from a clip of another speaker; then
   each factor alone swapped to a third clip, for the cross-talk matrix;
4. measure the model's output, the real frames (ground truth: the ceiling) and the source held
   still (the floor) with one measuring code, and write ``metrics.json`` and ``report.html``.

Measuring and scoring sit behind ``Scorer`` (``pdfgc.eval.scoring`` builds the real one), so the
runner's logic is testable with a stand-in. Clips that cannot be evaluated are skipped and listed
with their reason in ``metrics.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pdfgc.errors import InputError
from pdfgc.eval.clips import ClipData, load_clips, read_manifest, select_clips
from pdfgc.eval.generate import (
    FACTORS, Drivers, EvalModel, load_eval_model, render_clip, resize_frames, through_model_resolution,
)
from pdfgc.eval.results import CrosstalkCollector, RowCollector, Value, check_metrics_json
from pdfgc.io import atomic_write_json

_logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
GRID_FRAMES = 4
"""Frames per clip shown in the report's grids."""


class Scorer(Protocol):
    """Measures frames and turns measures into metric values (one measuring code for every method)."""

    def measure(self, frames: np.ndarray) -> Any:
        """Measures of frames (T, H, W, 3) uint8, at the shards' crop size."""

    def measure_labels(self, frames: np.ndarray) -> Any:
        """Measures of the motion labels only (cheaper: for the cross-talk matrix)."""

    def still(self, frame: np.ndarray, n_frames: int) -> Any:
        """Measures of ``frame`` held still for ``n_frames`` frames."""

    def found_face(self, measures: Any) -> bool:
        """Whether any frame of these measures has a face."""

    def self_scores(self, candidate: np.ndarray, measures: Any, real: ClipData, real_measures: Any, source: Any) -> dict[str, Value]:
        """Self-driven metrics of candidate frames against the clip they reconstruct."""

    def cross_scores(self, frames: np.ndarray, measures: Any, identity_measures: Any, drivers: Drivers,
                     driver_measures: dict[str, Any], source: Any) -> dict[str, Value]:
        """Cross-driven metrics of ``frames`` against each factor's driver (``driver_measures`` keyed
        by factor); identity is scored on ``identity_measures`` against the source."""

    def crosstalk(self, base: Any, swapped: dict[str, Any]) -> np.ndarray:
        """Factors x factors: how each factor's measured labels moved when one driver was swapped."""


@dataclass(frozen=True)
class EvalRequest:
    """What ``pdfgc evaluate`` was asked to do."""

    model: str
    shards: str
    out: Path
    split: str = "test"
    max_clips: int | None = None
    tracking_uri: str | None = None
    sync_model: str | None = None


@dataclass
class EvalState:
    """What accumulates while clips are evaluated."""

    rows: RowCollector = field(default_factory=RowCollector)
    crosstalk: CrosstalkCollector = field(default_factory=lambda: CrosstalkCollector(FACTORS))
    skipped: list[dict[str, str]] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    grids: list[dict[str, Any]] = field(default_factory=list)
    generated_frames: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"synthesis": 0.0, "measuring": 0.0})

    def skip(self, clip: str, reason: str) -> None:
        _logger.warning("skipping %s: %s", clip, reason)
        self.skipped.append({"clip": clip, "reason": reason})


class ClipEvaluator:
    """Synthesis and measuring of the clips of one evaluation."""

    clock = staticmethod(time.perf_counter)
    """What ``seconds`` in metrics.json counts (wall time; the benchmark counts CPU time)."""

    def __init__(self, model: EvalModel, scorer: Scorer, clips: dict[str, ClipData]) -> None:
        self.model, self.scorer, self.clips = model, scorer, clips
        self.state = EvalState()
        self._real: dict[str, Any] = {}
        self._ground_truth: dict[str, Any] = {}

    def _timed(self, kind: str, fn, *args):
        start = self.clock()
        result = fn(*args)
        self.state.seconds[kind] += self.clock() - start
        return result

    def _render(self, source: np.ndarray, drivers: Drivers) -> np.ndarray:
        frames = self._timed("synthesis", render_clip, self.model, source, drivers)
        self.state.generated_frames += len(frames)
        return frames

    def _measure_output(self, frames: np.ndarray, side: int, labels_only: bool = False) -> tuple[np.ndarray, Any]:
        shown = resize_frames(frames, side)
        return shown, self._timed("measuring", self.scorer.measure_labels if labels_only else self.scorer.measure, shown)

    def ground_truth_measures(self, clip: ClipData) -> Any:
        """Measures of the clip's real frames at the model's resolution (the ceiling), once per clip."""
        if clip.key not in self._ground_truth:
            frames = through_model_resolution(clip.frames, self.model.image_size)
            self._ground_truth[clip.key] = self._timed("measuring", self.scorer.measure, frames)
        return self._ground_truth[clip.key]

    def real_measures(self, clip: ClipData) -> Any:
        if clip.key not in self._real:
            self._real[clip.key] = self._timed("measuring", self.scorer.measure, clip.frames)
        return self._real[clip.key]

    def usable(self, clip: ClipData) -> bool:
        """A clip is evaluated only when preprocessing and the measuring code both see a face in it."""
        if not clip.face_ok.any():
            self.state.skip(clip.key, "no frame with a face (face_ok is false everywhere)")
            return False
        if not self.scorer.found_face(self.real_measures(clip)):
            self.state.skip(clip.key, "the measuring code finds no face in the real frames")
            return False
        return True

    def self_driven(self, clip: ClipData) -> None:
        source = clip.frames[clip.source_index()]
        side, n = clip.frames.shape[1], clip.n_frames
        output, measures = self._measure_output(self._render(source, Drivers.all_from(clip)), side)
        real = self.real_measures(clip)
        source_measures = self._timed("measuring", self.scorer.still, source, 1)
        ground_truth = through_model_resolution(clip.frames, self.model.image_size)
        held = through_model_resolution(np.repeat(source[None], n, axis=0), self.model.image_size)
        candidates = {
            "model": (output, measures),
            "ground_truth": (ground_truth, self.ground_truth_measures(clip)),
            "source_repeated": (held, self._timed("measuring", self.scorer.still, held[0], n)),
        }
        for method, (frames, frame_measures) in candidates.items():
            scores = self.scorer.self_scores(frames, frame_measures, clip, real, source_measures)
            self.state.rows.add("self", method, scores)
        self.state.evaluated.append(clip.key)
        self._keep_grid("self", clip.key, source, {"all factors": clip.frames}, output)

    def cross_driven(self, source_clip: ClipData, driver: ClipData, swap: ClipData | None) -> None:
        source = source_clip.frames[source_clip.source_index()]
        side = source_clip.frames.shape[1]
        drivers = Drivers.all_from(driver)
        output, measures = self._measure_output(self._render(source, drivers), side)
        driver_measures = {factor: self.real_measures(driver) for factor in FACTORS}
        source_measures = self._timed("measuring", self.scorer.still, source, 1)
        n = driver.n_frames
        held = through_model_resolution(np.repeat(source[None], n, axis=0), self.model.image_size)
        still = self._timed("measuring", self.scorer.still, held[0], n)
        ground_truth = through_model_resolution(driver.frames, self.model.image_size)
        candidates = {  # (frames, motion measures, identity measures): the real identity is the source's own clip
            "model": (output, measures, measures),
            "ground_truth": (ground_truth, self.ground_truth_measures(driver), self.ground_truth_measures(source_clip)),
            "source_repeated": (held, still, still),
        }
        for method, (frames, frame_measures, identity_measures) in candidates.items():
            scores = self.scorer.cross_scores(frames, frame_measures, identity_measures, drivers, driver_measures,
                                              source_measures)
            self.state.rows.add("cross", method, scores)
        self._keep_grid("cross", f"{source_clip.key} <- {driver.key}", source, {"all factors": driver.frames}, output)
        if swap is not None:
            self._crosstalk(source, drivers, swap, measures, side)

    def _crosstalk(self, source: np.ndarray, drivers: Drivers, swap: ClipData, base: Any, side: int) -> None:
        swapped = {}
        for factor in FACTORS:
            _, swapped[factor] = self._measure_output(self._render(source, drivers.swapped(factor, swap)), side, True)
        self.state.crosstalk.add(self.scorer.crosstalk(base, swapped))

    def _keep_grid(self, setting: str, name: str, source: np.ndarray, drivers: dict[str, np.ndarray], output: np.ndarray) -> None:
        picks = np.linspace(0, len(output) - 1, min(GRID_FRAMES, len(output))).round().astype(int)
        self.state.grids.append({
            "setting": setting, "name": name, "source": source,
            "drivers": {label: frames[picks] for label, frames in drivers.items()},
            "output": output[picks],
        })


def cross_pairs(clips: list[ClipData]) -> list[tuple[ClipData, ClipData, ClipData | None]]:
    """(source, driver, swap) per source clip: the driver is the first clip of the next speaker
    (speakers in sorted order, cyclic); the swap clip (for the cross-talk matrix) is the first
    clip of the speaker after that, or the source clip itself when there are two speakers."""
    first: dict[str, ClipData] = {}
    for clip in clips:
        first.setdefault(clip.speaker, clip)
    speakers = sorted(first)
    if len(speakers) < 2:
        return []
    pairs = []
    for clip in clips:
        at = speakers.index(clip.speaker)
        driver = first[speakers[(at + 1) % len(speakers)]]
        swap_speaker = speakers[(at + 2) % len(speakers)]
        swap = first[swap_speaker] if swap_speaker != clip.speaker else clip
        pairs.append((clip, driver, swap if swap.key != driver.key else None))
    return pairs


def run_evaluation(model: EvalModel, scorer: Scorer, clips: dict[str, ClipData], split: str) -> tuple[dict[str, Any], EvalState]:
    """Evaluate ``clips`` (key order); returns the metrics.json document and the state (for the report)."""
    evaluator = ClipEvaluator(model, scorer, clips)
    usable = [clip for _, clip in sorted(clips.items()) if evaluator.usable(clip)]
    if not usable:
        raise InputError(f"split {split!r}: none of its {len(clips)} clip(s) can be evaluated "
                         f"({'; '.join(sorted({s['reason'] for s in evaluator.state.skipped}))})")
    for clip in usable:
        evaluator.self_driven(clip)
    pairs = cross_pairs(usable)
    if not pairs:
        evaluator.state.crosstalk.reason = f"split {split!r} has one usable speaker: no cross-driven clip"
    for source, driver, swap in pairs:
        evaluator.cross_driven(source, driver, swap)
    state = evaluator.state
    document = {
        "model": model.uri, "split": split, "clips": len(state.evaluated), "skipped": state.skipped,
        "rows": state.rows.rows(), "crosstalk": state.crosstalk.to_json(),
        "cross_driven_pairs": [[s.key, d.key] for s, d, _ in pairs],
        "image_size": model.image_size, "generated_frames": state.generated_frames,
        "seconds": {k: round(v, 3) for k, v in state.seconds.items()},
    }
    return document, state


def evaluate(request: EvalRequest, scorer: Scorer | None = None) -> dict[str, Any]:
    """Run ``pdfgc evaluate``: write OUT/metrics.json and OUT/report.html, log to MLflow when the
    model came from it. Returns the metrics.json document (plus ``paths``)."""
    model = load_eval_model(request.model, request.tracking_uri)
    where = f"{request.shards.rstrip('/')}/manifest.parquet"
    refs = select_clips(read_manifest(request.shards), request.split, request.max_clips, where)
    clips = load_clips(request.shards, refs)
    if scorer is None:
        from pdfgc.eval.scoring import build_scorer

        scorer = build_scorer(model.cfg, request.sync_model, request.tracking_uri)
    document, state = run_evaluation(model, scorer, clips, request.split)
    check_metrics_json(document)
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / METRICS_FILE, document)
    from pdfgc.eval.report import write_report

    write_report(document, state.grids, out / REPORT_FILE)
    document["paths"] = {"metrics": str(out / METRICS_FILE), "report": str(out / REPORT_FILE)}
    if request.model.startswith(("runs:/", "models:/")):
        from pdfgc.integrations.mlflow_eval import log_evaluation

        document["mlflow"] = log_evaluation(request.model, request.tracking_uri, document, out)
    return document
