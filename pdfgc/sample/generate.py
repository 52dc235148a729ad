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

Needs numpy, cv2, skimage, dlib and the stdlib only; ``pdfgc.sample.clip`` plans speech and
motion, ``pdfgc.sample.portrait`` rigs and renders the photo. Run ``python
datasets/sample/prepare.py OUT_DIR --speakers 3``. The schema of ``truth.json`` and the sign
conventions are in ``datasets/sample/README.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pdfgc.sample.clip import (
    BLINK_FRAMES, BLINK_MARGIN_FRAMES, FPS, SAMPLE_RATE, ClipPlan, SampleSetError, SpeakerLook, _clip_text, _plan_clip,
    _speech,
)
from pdfgc.sample.portrait import SOURCE_PHOTO, Portrait, _affine, _portrait, _render_frame, deformed_landmarks

_logger = logging.getLogger(__name__)

CLIPS_PER_VIDEO = 2
MIN_SIZE = 128


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
