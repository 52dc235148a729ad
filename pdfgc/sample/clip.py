"""What one sample clip says and how its head moves, planned before any frame is drawn.

Speech: whole sentences from a fixed bank, spoken by espeak-ng with the speaker's voice and
resampled by ffmpeg to 16 kHz mono. Motion: smooth roll, translation and scale as sums of
sines with random phases, blinks of 3-5 frames in each ~2 s stretch, and a mouth opening that
follows the speech RMS of each frame. A ``ClipPlan`` holds all of it; the truth file is
written from it.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np


FPS = 25
SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 audio samples per video frame
ROLL_MAIN_DEG = 9.0
"""Amplitude of the faster roll sine; with the slower one below 5 deg, every 2 s window has
frames with |roll| > 5 deg (the fast sine's period is at most 2 s)."""
ROLL_SLOW_DEG = 3.5
SHIFT_FRACTION = 0.03  # translation amplitude, fraction of the frame size
SCALE_AMPLITUDE = 0.05
SECONDS_PER_BLINK = 2.0
BLINK_FRAMES = (3, 4, 5)
BLINK_MARGIN_FRAMES = 4  # open frames kept at both ends of each blink's stretch
MOUTH_GATE = 0.1  # RMS below this fraction of the clip's reference RMS keeps the mouth shut
MOUTH_REF_PERCENTILE = 90
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
    """RMS of audio samples [640 t, 640 (t + 1)) for each video frame t (the rule of docs/DATA_FORMAT.md)."""
    windows = audio[: n_frames * SAMPLES_PER_FRAME].reshape(n_frames, SAMPLES_PER_FRAME).astype(np.float64)
    return np.sqrt(np.mean(windows**2, axis=1))  # (n_frames,)


def mouth_from_rms(rms: np.ndarray) -> np.ndarray:
    """Mouth opening in [0, 1]: RMS over the clip's 90th-percentile RMS, gated and clipped."""
    reference = max(float(np.percentile(rms, MOUTH_REF_PERCENTILE)), 1e-6)
    return np.clip((rms / reference - MOUTH_GATE) / (1.0 - MOUTH_GATE), 0.0, 1.0)


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
