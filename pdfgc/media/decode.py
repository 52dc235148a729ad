"""Streaming decode with the ffmpeg binary: constant-rate RGB frames and 16 kHz mono audio.

The binary is the static build that the ``imageio-ffmpeg`` wheel ships (``IMAGEIO_FFMPEG_EXE``
overrides it), else ``ffmpeg`` on PATH. A worker starts two ffmpeg processes per video, and the
static build starts in about 10 ms where Debian's dynamically linked one (215 shared libraries)
takes about 80 ms: on 8-second clips that start-up alone was 15 % of the preprocessing time.
Frame decoding runs single-threaded (decoder and filters): a Dask worker owns one core, and
threads would only compete with the other workers (bare decode: 1626 -> 1770 frames per
CPU-second, bench/preprocess.py).

Frames come one at a time from a rawvideo pipe, so a video of any length is never held in
memory. ffmpeg turns variable-rate input into constant ``fps`` (the ``fps`` filter), applies
the container's rotation (its default autorotate) and scales the frame down so that its
longer side is at most ``max_side``.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import tempfile
from collections.abc import Iterator

import cv2
import ffmpeg
import numpy as np

from pdfgc.media.probe import ProbeInfo
from pdfgc.errors import MediaError

_logger = logging.getLogger(__name__)

STDERR_TAIL_CHARS = 400


@functools.cache
def ffmpeg_binary() -> str:
    """Path of the ffmpeg executable used for decoding (see the module docstring)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return "ffmpeg"
    return imageio_ffmpeg.get_ffmpeg_exe()


def output_size(info: ProbeInfo, max_side: int) -> tuple[int, int]:
    """(width, height) of decoded frames: rotated, scaled so the long side <= max_side, even."""
    width, height = info.display_size
    scale = min(1.0, max_side / max(width, height))
    return _even(width * scale), _even(height * scale)


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def iter_frames(path: str, info: ProbeInfo, fps: int, max_side: int) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) at a constant ``fps``; raise MediaError on decoder failure."""
    width, height = output_size(info, max_side)
    command = (
        ffmpeg.input(path, threads=1)
        .video.filter("fps", fps=fps)
        .filter("scale", width, height)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24")
        .global_args("-nostdin", "-loglevel", "error", "-filter_threads", "1")
        .compile(cmd=ffmpeg_binary())
    )
    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            yield from _read_frames(process, frame_bytes, (height, width, 3))
            process.wait()
        finally:
            _stop(process)
        _check_exit(path, process.returncode, stderr)


def _read_frames(process: subprocess.Popen, frame_bytes: int, shape: tuple[int, int, int]) -> Iterator[np.ndarray]:
    while True:
        buffer = process.stdout.read(frame_bytes)
        if len(buffer) < frame_bytes:
            return
        yield np.frombuffer(buffer, np.uint8).reshape(shape)


def _stop(process: subprocess.Popen) -> None:
    """End ffmpeg when the consumer stops early (or on error) so no child is left behind."""
    if process.poll() is None:
        process.kill()
        process.wait()
    process.stdout.close()


def _check_exit(path: str, returncode: int, stderr) -> None:
    if returncode == 0:
        return
    stderr.seek(0)
    tail = stderr.read().decode("utf-8", "replace")[-STDERR_TAIL_CHARS:].strip()
    raise MediaError(path, "decode_failed", tail or f"ffmpeg exit code {returncode}")


def decode_audio(path: str, sample_rate: int) -> np.ndarray:
    """The whole audio track as mono float32 (S,) at ``sample_rate`` (ffmpeg resamples and downmixes)."""
    try:
        out, _ = (
            ffmpeg.input(path)
            .audio.output("pipe:", format="f32le", ac=1, ar=sample_rate)
            .global_args("-nostdin", "-loglevel", "error")
            .run(cmd=ffmpeg_binary(), capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        detail = exc.stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:].strip()
        raise MediaError(path, "audio_decode_failed", detail) from None
    return np.frombuffer(out, np.float32).copy()


def read_first_frame(path: str) -> np.ndarray:
    """The first frame of a video as RGB uint8 (H, W, 3), rotation applied (no audio needed)."""
    try:
        out, _ = (
            ffmpeg.input(path)
            .output("pipe:", vframes=1, format="image2pipe", vcodec="png")
            .global_args("-nostdin", "-loglevel", "error")
            .run(cmd=ffmpeg_binary(), capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        detail = exc.stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:].strip()
        raise MediaError(path, "decode_failed", detail) from None
    bgr = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(path, "not_a_video", "no frame decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
