"""Compare the default landmark backend (dlib) with mediapipe FaceMesh on real faces.

    PYTHONPATH=. .venv/bin/python bench/landmark_backends.py \
        --mediapipe-python /work/mp-venv/bin/python [--samples DIR] [--stride 10] [--side 1280] [--cpu 0]

The mediapipe side runs in its own venv (mediapipe 0.10.21 needs numpy < 2), recreated with
    python3.11 -m venv /work/mp-venv && /work/mp-venv/bin/pip install -r bench/mediapipe-requirements.txt
and is called as a subprocess (bench/_mediapipe_worker.py). Without ``--mediapipe-python`` (or
when that file is missing) only dlib is measured and the bench says so.

Faces: DIR/images/*.png, every frame of DIR/videos/*.mp4 (25 fps, decoded as preprocessing does, longer side
scaled down to ``--side``)
and skimage's astronaut; plus copies rotated by -45..+45 deg about the image centre and mirrored
copies (of the images and of every ``--stride``-th video frame). Both backends get the same
frames; both processes are pinned to one CPU (``--cpu``) and run one after the other.

Backends: ``dlib`` = HOG detector (upsample 0) + 68-point predictor on every frame, full
resolution; ``dlib tracked`` = the preprocessing tracker (detector every 5th frame on frames
scaled to <= 640 px, predictor in between); ``mediapipe`` = short-range detector + FaceMesh
(478 points with iris) on every frame (static mode); ``mediapipe video`` = FaceMesh in video
mode (tracks from the previous landmarks). The mesh is reduced to 68 iBUG points with
``MESH_TO_IBUG68`` so the project's pose (PnP), EAR and the metrics apply unchanged.

Prints Markdown tables: speed, detection rate, roll error under rotation, mirror sign flips,
landmark and label agreement between the backends, temporal jitter on the videos, and the
eye-aspect-ratio (blink) signal of both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pdfgc.config import DataConfig
from pdfgc.media.align import similarity_transform, transform_points
from pdfgc.media.decode import iter_frames
from pdfgc.media.probe import probe_video
from pdfgc.media.track import FaceTracker
from pdfgc.labels.eyes import eye_aspect_ratio
from pdfgc.labels.landmarks import DlibLandmarker, DlibSubpixelLandmarker
from pdfgc.labels.pose import pose_from_landmarks

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = REPO_ROOT / "bench" / "_mediapipe_worker.py"
FPS = 25
ANGLES = (-45, -30, -20, -10, 10, 20, 30, 45)
"""+-45 goes beyond the +-30 of talking-head footage, to show where the detectors give out."""
MIRROR = "mirror"
N_MESH = 478

# FaceMesh vertex for each iBUG 68 point (index = iBUG index). Chosen by anatomy along
# mediapipe's own contours (solutions/face_mesh_connections.py): the face oval for the jaw,
# the upper brow row, the nose bridge 168-6-197-195-5-4-1, the eye rims and lip lines; the
# subject's left side mirrors the right (e.g. 33 <-> 263, 61 <-> 291). Contour points of the
# jaw have no exact counterpart in either scheme.
MESH_TO_IBUG68 = np.array([
    127, 234, 93, 132, 58, 172, 136, 149, 152, 378, 365, 397, 288, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107,  # subject's right brow 17-21, outer to inner
    336, 296, 334, 293, 300,  # subject's left brow 22-26, inner to outer
    168, 197, 5, 1,  # nose bridge 27-30, nasion to tip (1)
    98, 97, 2, 326, 327,  # nostrils 31-35, subnasale 33 = 2
    33, 160, 158, 133, 153, 144,  # subject's right eye 36-41: outer, upper lid x2, inner, lower lid x2
    362, 385, 387, 263, 373, 380,  # subject's left eye 42-47: inner, upper lid x2, outer, lower lid x2
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,  # outer lips 48-59
    78, 81, 13, 311, 308, 402, 14, 178,  # inner lips 60-67
])
GROUPS = {
    "jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
    "mouth": slice(48, 68), "inner 51": slice(17, 68), "all 68": slice(0, 68),
}
RIGID = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
"""Nose and eye corners: they do not move with speech, so their frame-to-frame motion left after
removing a similarity is mostly landmark noise (plus the perspective change of turning heads, the
same for both backends)."""
OUTER_EYE_CORNERS = (36, 45)
WORST_POINTS_SHOWN = 8


@dataclass(frozen=True)
class Clip:
    name: str
    source: str
    """Name of the untransformed clip these frames come from."""
    transform: str
    """"none", "mirror" or a rotation angle in degrees ("-30")."""
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    is_video: bool


@dataclass(frozen=True)
class Run:
    points: np.ndarray  # (T, 68, 2) frame pixels, NaN where no face
    detect_ms: np.ndarray  # (T,), NaN when detection is not timed apart
    total_ms: np.ndarray  # (T,)

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.points).any(axis=(1, 2))


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def decode_video(path: Path, max_side: int) -> np.ndarray:
    """Every frame at 25 fps, RGB (T, H, W, 3), decoded (and scaled down) as preprocessing decodes."""
    return np.stack(list(iter_frames(str(path), probe_video(str(path)), FPS, max_side)))


def rotate(frame: np.ndarray, degrees: float) -> np.ndarray:
    """Counter-clockwise as displayed, about the centre (adds +degrees of roll)."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def transformed_copies(clip: Clip, stride: int) -> list[Clip]:
    frames = clip.frames[::stride]
    copies = [Clip(f"{clip.name}@{MIRROR}", clip.name, MIRROR, np.ascontiguousarray(frames[:, :, ::-1]), False)]
    for angle in ANGLES:
        rotated = np.stack([rotate(frame, angle) for frame in frames])
        copies.append(Clip(f"{clip.name}@rot{angle:+d}", clip.name, str(angle), rotated, False))
    return copies


def load_clips(samples: Path, stride: int, max_side: int) -> list[Clip]:
    from skimage import data

    if not (samples / "images").is_dir() or not (samples / "videos").is_dir():
        raise SystemExit(f"sample media not found: {samples}/images and {samples}/videos (see --samples)")
    originals = [Clip(p.stem, p.stem, "none", read_rgb(p)[None], False)
                 for p in sorted((samples / "images").glob("*.png"))]
    originals.append(Clip("astronaut", "astronaut", "none", data.astronaut()[None], False))
    videos = sorted((samples / "videos").glob("*.mp4"))
    originals += [Clip(p.stem, p.stem, "none", decode_video(p, max_side), True) for p in videos]
    return originals + [copy for clip in originals for copy in transformed_copies(clip, stride)]


def timed_ms(step: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``step(*args)`` and its wall time in milliseconds."""
    start = time.perf_counter()
    result = step(*args)
    return result, (time.perf_counter() - start) * 1000


def run_dlib(frames: np.ndarray, landmarker: DlibLandmarker) -> Run:
    points = np.full((len(frames), 68, 2), np.nan)
    detect_ms, total_ms = np.zeros(len(frames)), np.zeros(len(frames))
    for t, frame in enumerate(frames):
        boxes, detect_ms[t] = timed_ms(landmarker.detect, frame)
        total_ms[t] = detect_ms[t]
        if boxes:
            (points[t], _), ms = timed_ms(landmarker.landmarks, frame, boxes[0])
            total_ms[t] += ms
    return Run(points, detect_ms, total_ms)


def run_dlib_tracked(frames: np.ndarray, landmarker: DlibLandmarker) -> Run:
    tracker = FaceTracker(landmarker, DataConfig().detect_every, max_faces=1)
    points = np.full((len(frames), 68, 2), np.nan)
    total_ms = np.zeros(len(frames))
    for t, frame in enumerate(frames):
        step, total_ms[t] = timed_ms(tracker.step, frame)
        if step.landmarks is not None:
            points[t] = step.landmarks
    return Run(points, np.full(len(frames), np.nan), total_ms)


def run_dlib_all(clips: list[Clip], landmarker: DlibLandmarker) -> dict[str, dict[str, Run]]:
    landmarker.detect(clips[0].frames[0])  # builds this thread's detector (about 0.8 s) outside the timing
    runs: dict[str, dict[str, Run]] = {"dlib": {}, "dlib tracked": {}}
    for clip in clips:
        runs["dlib"][clip.name] = run_dlib(clip.frames, landmarker)
        if clip.is_video:
            runs["dlib tracked"][clip.name] = run_dlib_tracked(clip.frames, landmarker)
    return runs


def mesh_to_ibug68(mesh: list | None) -> np.ndarray:
    if mesh is None:
        return np.full((68, 2), np.nan)
    points = np.asarray(mesh, dtype=np.float64)  # (478, 2)
    assert points.shape == (N_MESH, 2), points.shape
    return points[MESH_TO_IBUG68]


def mediapipe_run(meshes: list, detect_ms: list | None, total_ms: list) -> Run:
    detect = np.asarray(detect_ms) if detect_ms is not None else np.full(len(total_ms), np.nan)
    return Run(np.stack([mesh_to_ibug68(m) for m in meshes]), detect, np.asarray(total_ms))


def run_mediapipe_all(clips: list[Clip], python: Path, cpu: int) -> tuple[dict[str, dict[str, Run]], dict]:
    """Runs the worker in the mediapipe venv on the same frames; returns the runs and its header."""
    with tempfile.TemporaryDirectory() as tmp:
        frames_file = Path(tmp) / "frames.npz"
        np.savez(frames_file, **{clip.name: clip.frames for clip in clips})
        videos = ",".join(clip.name for clip in clips if clip.is_video)
        command = [str(python), str(WORKER), str(frames_file), "--video-clips", videos, "--cpu", str(cpu)]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mediapipe worker failed ({done.returncode}):\n{done.stderr[-2000:]}")
    output = json.loads(done.stdout)
    runs: dict[str, dict[str, Run]] = {"mediapipe": {}, "mediapipe video": {}}
    for name, result in output["clips"].items():
        runs["mediapipe"][name] = mediapipe_run(result["mesh"], result["detect_ms"], result["mesh_ms"])
        if "video_mesh" in result:
            runs["mediapipe video"][name] = mediapipe_run(result["video_mesh"], None, result["video_ms"])
    return runs, {"versions": output["versions"], "startup_ms": output["startup_ms"]}


def inter_ocular(points: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distance (...,) of points (..., 68, 2)."""
    left, right = OUTER_EYE_CORNERS
    return np.linalg.norm(points[..., left, :] - points[..., right, :], axis=-1)


def poses(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(pitch, yaw, roll) degrees (T, 3) of landmarks (T, 68, 2); NaN rows where no face."""
    out = np.full((len(points), 3), np.nan)
    for t in np.flatnonzero(~np.isnan(points).any(axis=(1, 2))):
        out[t] = pose_from_landmarks(points[t], width, height)[:3]
    return out


def wrap_degrees(angle: np.ndarray) -> np.ndarray:
    return (angle + 180.0) % 360.0 - 180.0


def source_points(clip: Clip, run_of: dict[str, Run], stride: int) -> np.ndarray:
    """The untransformed clip's landmarks for the frames this transformed copy was made from."""
    return run_of[clip.source].points[::stride]


def rotation_errors(clips: list[Clip], run_of: dict[str, Run], stride: int, magnitude: int) -> np.ndarray:
    """|roll(rotated) - roll(original) - angle| per frame found in both, rotations of +-magnitude."""
    errors = []
    for clip in clips:
        if clip.transform in ("none", MIRROR) or abs(int(clip.transform)) != magnitude:
            continue
        height, width = clip.frames.shape[1:3]
        roll_rotated = poses(run_of[clip.name].points, width, height)[:, 2]
        roll_source = poses(source_points(clip, run_of, stride), width, height)[:, 2]
        error = np.abs(wrap_degrees(roll_rotated - roll_source - int(clip.transform)))
        errors.append(error[~np.isnan(error)])
    return np.concatenate(errors)


def mirror_errors(clips: list[Clip], run_of: dict[str, Run], stride: int) -> np.ndarray:
    """Per frame found in both: |pitch' - pitch|, |yaw' + yaw|, |roll' + roll| (N, 3)."""
    errors = []
    for clip in (c for c in clips if c.transform == MIRROR):
        height, width = clip.frames.shape[1:3]
        mirrored = poses(run_of[clip.name].points, width, height)
        original = poses(source_points(clip, run_of, stride), width, height)
        error = np.abs(np.column_stack([
            wrap_degrees(mirrored[:, 0] - original[:, 0]),
            wrap_degrees(mirrored[:, 1] + original[:, 1]),
            wrap_degrees(mirrored[:, 2] + original[:, 2]),
        ]))
        errors.append(error[~np.isnan(error).any(axis=1)])
    return np.concatenate(errors)


def rigid_jitter(points: np.ndarray) -> float:
    """Mean motion of the nose and eye corners between consecutive frames after removing the best
    similarity (head motion), in % of the inter-ocular distance."""
    residuals = []
    for previous, current in zip(points[:-1], points[1:]):
        if np.isnan(previous).any() or np.isnan(current).any():
            continue
        aligned = transform_points(current[RIGID], similarity_transform(current[RIGID], previous[RIGID]))
        residuals.append(np.linalg.norm(aligned - previous[RIGID], axis=-1).mean() / inter_ocular(previous))
    return 100 * float(np.mean(residuals))


def second_difference(points: np.ndarray) -> float:
    """Mean |p(t+1) - 2 p(t) + p(t-1)| over the 68 points, in % of the inter-ocular distance."""
    acceleration = np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1).mean(axis=1)  # (T-2,)
    relative = acceleration / inter_ocular(points[1:-1])
    return 100 * float(np.nanmean(relative))


def mean_ear(points: np.ndarray) -> np.ndarray:
    """Eye aspect ratio (T,) averaged over both eyes."""
    return eye_aspect_ratio(points).mean(axis=1)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if np.isnan(value) else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def speed_table(originals: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    static = [name for name in ("dlib", "mediapipe") if name in runs]
    header = ["clip", "size", "frames"] + [f"{b} {part}" for b in static for part in ("detect", "landmarks", "total")]
    rows = []
    for clip in originals:
        cells = [clip.name, f"{clip.frames.shape[2]}x{clip.frames.shape[1]}", str(len(clip.frames))]
        for backend in static:
            run = runs[backend][clip.name]
            detect, total = run.detect_ms.mean(), run.total_ms.mean()
            cells += [fmt(detect), fmt(total - detect), fmt(total)]
        rows.append(cells)
    return table(header, rows)


def tracked_speed_table(videos: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    tracked = [name for name in ("dlib tracked", "mediapipe video") if name in runs]
    rows = [[clip.name] + [fmt(runs[b][clip.name].total_ms.mean()) for b in tracked] for clip in videos]
    return table(["video (ms per frame, detect + landmarks)"] + tracked, rows)


def detection_table(clips: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    groups = {"originals": lambda c: c.transform == "none", "mirrored": lambda c: c.transform == MIRROR}
    for magnitude in sorted({abs(a) for a in ANGLES}):
        groups[f"rotated +-{magnitude}"] = (
            lambda c, m=magnitude: c.transform not in ("none", MIRROR) and abs(int(c.transform)) == m)
    rows = []
    for backend in (name for name in ("dlib", "mediapipe") if name in runs):
        cells = [backend]
        for keep in groups.values():
            found = np.concatenate([runs[backend][c.name].found for c in clips if keep(c)])
            cells.append(f"{100 * found.mean():.1f} % ({found.sum()}/{found.size})")
        rows.append(cells)
    return table(["backend"] + list(groups), rows)


def rotation_table(clips: list[Clip], runs: dict[str, dict[str, Run]], stride: int) -> str:
    rows = []
    for backend in (name for name in ("dlib", "mediapipe") if name in runs):
        cells = [backend]
        for magnitude in sorted({abs(a) for a in ANGLES}):
            errors = rotation_errors(clips, runs[backend], stride, magnitude)
            spread = f"{fmt(errors.mean())} / {fmt(np.percentile(errors, 95))} / {fmt(errors.max())}"
            cells.append(f"{spread} (n={errors.size})")
        rows.append(cells)
    header = ["backend"] + [f"+-{m} deg: mean / p95 / max" for m in sorted({abs(a) for a in ANGLES})]
    return table(header, rows)


def mirror_table(clips: list[Clip], runs: dict[str, dict[str, Run]], stride: int) -> str:
    rows = []
    for backend in (name for name in ("dlib", "mediapipe") if name in runs):
        errors = mirror_errors(clips, runs[backend], stride)
        rows.append([backend, str(len(errors))] + [
            f"{fmt(errors[:, i].mean())} / {fmt(errors[:, i].max())}" for i in range(3)])
    return table(["backend", "frames", "pitch' - pitch: mean / max", "yaw' + yaw", "roll' + roll"], rows)


def agreement_tables(originals: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    """Normalised mean error between the backends' 68 points, and between the labels they give."""
    per_point, pose_gap, reference = [], [], []
    for clip in originals:
        dlib, mesh = runs["dlib"][clip.name].points, runs["mediapipe"][clip.name].points
        both = ~np.isnan(dlib).any(axis=(1, 2)) & ~np.isnan(mesh).any(axis=(1, 2))
        distance = np.linalg.norm(dlib[both] - mesh[both], axis=-1)  # (N, 68)
        per_point.append(distance / inter_ocular(dlib[both])[:, None])
        height, width = clip.frames.shape[1:3]
        pose_gap.append(np.abs(wrap_degrees(poses(dlib[both], width, height) - poses(mesh[both], width, height))))
        reference.append(both.sum())
    nme = 100 * np.concatenate(per_point)  # (N, 68)
    gaps = np.concatenate(pose_gap)  # (N, 3)
    landmarks = table(["frames"] + list(GROUPS),
                      [[str(sum(reference))] + [fmt(nme[:, part].mean()) for part in GROUPS.values()]])
    pose_cells = [f"{fmt(gaps[:, i].mean())} (median {fmt(np.median(gaps[:, i]))})" for i in range(3)]
    labels = table(["frames", "pitch", "yaw", "roll"], [[str(len(gaps))] + pose_cells])
    worst = [i for i in np.argsort(-nme.mean(axis=0)) if i >= GROUPS["jaw"].stop][:WORST_POINTS_SHOWN]
    worst_line = ", ".join(f"{i} (mesh {MESH_TO_IBUG68[i]}): {fmt(nme[:, i].mean(), 1)}" for i in worst)
    return (landmarks + f"\n\nLargest gaps outside the jaw, iBUG point: % IOD: {worst_line}"
            "\n\nMean |difference| of the PnP pose (degrees) from the two backends' points:\n\n" + labels)


def jitter_table(videos: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    backends = [name for name in ("dlib", "dlib tracked", "mediapipe", "mediapipe video") if name in runs]
    rows = []
    for clip in videos:
        for backend in backends:
            points = runs[backend][clip.name].points
            rows.append([clip.name, backend, fmt(rigid_jitter(points), 3), fmt(second_difference(points), 3)])
    return table(["video", "backend", "rigid-point jitter (% IOD)", "second difference, 68 points (% IOD)"], rows)


def blink_table(videos: list[Clip], runs: dict[str, dict[str, Run]]) -> str:
    pairs = [("dlib", "mediapipe"), ("dlib tracked", "mediapipe video")]
    rows = []
    for clip in videos:
        ear = {b: mean_ear(runs[b][clip.name].points) for b in runs if clip.name in runs[b]}
        cells = [clip.name] + [f"{fmt(np.nanmedian(ear[b]), 3)} / {fmt(np.nanmin(ear[b]), 3)}"
                               for b in ("dlib", "mediapipe") if b in ear]
        cells += [fmt(correlation(ear[a], ear[b]), 3) for a, b in pairs if a in ear and b in ear]
        rows.append(cells)
    header = ["video"] + [f"{b} EAR median / min" for b in ("dlib", "mediapipe") if b in runs]
    header += [f"r({a}, {b})" for a, b in pairs if a in runs and b in runs]
    return table(header, rows)


def report(clips: list[Clip], runs: dict[str, dict[str, Run]], stride: int) -> None:
    originals = [c for c in clips if c.transform == "none"]
    videos = [c for c in originals if c.is_video]
    print("## Speed (ms per frame, one CPU)\n\n" + speed_table(originals, runs))
    if "mediapipe" in runs:
        print("\nmediapipe: detect = short-range detector alone; landmarks = FaceMesh static (detector + mesh "
              "+ iris) minus that.")
    print("\n" + tracked_speed_table(videos, runs))
    print(f"\n## Detection rate (rotated/mirrored: images + every {stride}th video frame)\n\n"
          + detection_table(clips, runs))
    print("\n## Roll error under in-plane rotation (degrees, PnP pose of each backend's own points)\n\n"
          + rotation_table(clips, runs, stride))
    print("\n## Mirror: pitch kept, yaw and roll flip sign (degrees)\n\n" + mirror_table(clips, runs, stride))
    if "mediapipe" in runs:
        print("\n## Agreement dlib vs mediapipe on the originals (NME, % of dlib's inter-ocular distance)\n\n"
              + agreement_tables(originals, runs))
    print("\n## Temporal jitter on the videos\n\n" + jitter_table(videos, runs))
    print("\n## Blink signal: eye aspect ratio (mean of both eyes) per frame\n\n" + blink_table(videos, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO_ROOT.parent / "shared" / "samples")
    parser.add_argument("--mediapipe-python", type=Path, default=None,
                        help="python of the mediapipe venv (see bench/mediapipe-requirements.txt)")
    parser.add_argument("--stride", type=int, default=10, help="rotate/mirror every N-th video frame")
    parser.add_argument("--cpu", type=int, default=0, help="CPU both backends are pinned to")
    parser.add_argument("--side", type=int, default=DataConfig().max_decode_side,
                        help="scale videos down to this longer side (224: VoxCeleb2-like input)")
    parser.add_argument("--dlib-subpixel", action="store_true",
                        help="the dlib side locates points to 1/3 px (labels.landmarks: dlib-subpixel)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    cv2.setNumThreads(1)
    clips = load_clips(args.samples, args.stride, args.side)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"{sum(len(c.frames) for c in clips)} frames in {len(clips)} clips\n")
    runs = run_dlib_all(clips, DlibSubpixelLandmarker() if args.dlib_subpixel else DlibLandmarker())
    if args.mediapipe_python is None or not args.mediapipe_python.is_file():
        print(f"mediapipe skipped: no --mediapipe-python ({args.mediapipe_python}); "
              "create its venv with bench/mediapipe-requirements.txt (see this script's docstring)\n")
    else:
        mediapipe_runs, header = run_mediapipe_all(clips, args.mediapipe_python, args.cpu)
        runs.update(mediapipe_runs)
        print(f"mediapipe worker: {header['versions']}, start-up {header['startup_ms']:.0f} ms "
              "(import + graphs + first frames)\n")
    report(clips, runs, args.stride)


if __name__ == "__main__":
    main()
