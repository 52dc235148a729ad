"""mediapipe side of bench/landmark_backends.py; runs in the separate mediapipe venv.

    /work/mp-venv/bin/python bench/_mediapipe_worker.py FRAMES.npz [--video-clips A,B] [--cpu 0]

mediapipe 0.10.21 (the last release with bundled FaceMesh models) needs numpy < 2, so it cannot
be imported by the project's venv; bench/mediapipe-requirements.txt recreates its own venv.

Input: an ``.npz`` written by the bench, one RGB uint8 array (T, H, W, 3) per clip, so both
backends see byte-identical frames (decoding, rotation and mirroring happen once, in the bench).
For every clip and frame it times the short-range face detector alone (``detect_ms``) and the
legacy FaceMesh with ``refine_landmarks=True`` in static mode, i.e. detection + 478 landmarks
on every frame (``mesh_ms``). Clips named in ``--video-clips`` also run FaceMesh in video mode
(one fresh graph per clip, as a pipeline would use, its first-call set-up of about 25 ms
included; the detector runs only when the track is lost). Prints one JSON object:
``{"versions", "startup_ms", "clips": {name: {"mesh", "mesh_ms", "detect_ms", "detect_found",
["video_mesh", "video_ms"]}}}``, where a mesh entry is null (no face) or 478 [x, y] pixel pairs.
The process is pinned to one CPU before mediapipe starts its threads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MIN_CONFIDENCE = 0.5


def to_pixels(result: Any, width: int, height: int) -> list[list[float]] | None:
    """The first face's landmarks in pixels (478 [x, y]), or None; mediapipe gives x/W and y/H."""
    if not result.multi_face_landmarks:
        return None
    return [[round(p.x * width, 2), round(p.y * height, 2)] for p in result.multi_face_landmarks[0].landmark]


def timed(step: Any, frame: np.ndarray) -> tuple[Any, float]:
    start = time.perf_counter()
    result = step(frame)
    return result, (time.perf_counter() - start) * 1000


def run_static(frames: np.ndarray, mesh: Any, detector: Any) -> dict[str, list]:
    height, width = frames.shape[1:3]
    out: dict[str, list] = {"mesh": [], "mesh_ms": [], "detect_ms": [], "detect_found": []}
    for frame in frames:
        found, ms = timed(detector.process, frame)
        out["detect_ms"].append(ms)
        out["detect_found"].append(bool(found.detections))
        result, ms = timed(mesh.process, frame)
        out["mesh_ms"].append(ms)
        out["mesh"].append(to_pixels(result, width, height))
    return out


def run_video(frames: np.ndarray, face_mesh: Any) -> dict[str, list]:
    height, width = frames.shape[1:3]
    out: dict[str, list] = {"video_mesh": [], "video_ms": []}
    with face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                            min_detection_confidence=MIN_CONFIDENCE, min_tracking_confidence=MIN_CONFIDENCE) as mesh:
        for frame in frames:
            result, ms = timed(mesh.process, frame)
            out["video_ms"].append(ms)
            out["video_mesh"].append(to_pixels(result, width, height))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=Path)
    parser.add_argument("--video-clips", default="", help="comma-separated clip names to also run in video mode")
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    start = time.perf_counter()
    import mediapipe
    from mediapipe.python.solutions import face_detection, face_mesh

    detector = face_detection.FaceDetection(model_selection=0, min_detection_confidence=MIN_CONFIDENCE)
    mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                              min_detection_confidence=MIN_CONFIDENCE)
    clips = np.load(args.frames, allow_pickle=False)
    first = clips[clips.files[0]][0]
    detector.process(first)
    mesh.process(first)
    startup_ms = (time.perf_counter() - start) * 1000
    video_clips = set(filter(None, args.video_clips.split(",")))
    results = {}
    for name in clips.files:
        frames = clips[name]
        results[name] = run_static(frames, mesh, detector)
        if name in video_clips:
            results[name].update(run_video(frames, face_mesh))
    versions = {"mediapipe": mediapipe.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    json.dump({"versions": versions, "startup_ms": startup_ms, "clips": results}, sys.stdout)


if __name__ == "__main__":
    main()
