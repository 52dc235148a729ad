"""Read a video's container facts and turn bad input into a quarantine reason.

Probing runs in-process with PyAV (the FFmpeg libraries its wheel bundles): about 2 ms, where an
``ffprobe`` process needs 80 ms just to start (0.4 ms per frame of an 8-second clip). Both
paths fill an ffprobe-shaped report, read by one parser. A file PyAV cannot open goes to
``ffprobe``, whose messages name the reason (truncated, not a video, ...). The rotation comes
from the first decoded frame's display matrix, the only place PyAV exposes it.

Reasons (``MediaError.reason``): ``empty_file``, ``not_a_video``, ``truncated``,
``no_video_stream``, ``no_audio``, ``too_short``, ``probe_failed``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import ffmpeg

from pdfgc.errors import MediaError

_logger = logging.getLogger(__name__)

TRUNCATED_MARKERS = ("moov atom not found", "end of file", "truncat", "partial file")
NOT_A_VIDEO_MARKERS = ("detected only with low score", "could not find codec parameters")
VFR_TOLERANCE = 0.01
"""Relative gap between average and base frame rate above which a stream counts as variable."""


@dataclass(frozen=True)
class ProbeInfo:
    """What decoding needs to know about one file."""

    duration: float
    """Seconds of the video stream (the container's when the stream has none): a longer audio
    track does not make a one-frame video long enough."""
    fps: float
    """Average frame rate."""
    base_fps: float
    """r_frame_rate: the lowest rate that represents all timestamps."""
    variable_fps: bool
    width: int
    """Stored (pre-rotation) size."""
    height: int
    rotation: int
    """Degrees the player turns the picture (0, 90, 180, 270)."""
    sample_rate: int
    channels: int

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) after rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


def probe_video(path: str, min_seconds: float = 0.0, audio_required: bool = True) -> ProbeInfo:
    """Probe ``path``; raise ``MediaError`` with a quarantine reason when it is unusable.
    Without ``audio_required`` a silent video is usable (sample rate and channels 0)."""
    if os.path.exists(path) and os.path.getsize(path) == 0:
        raise MediaError(path, "empty_file")
    info = _parse_report(path, _pyav_report(path) or _ffprobe_report(path), audio_required)
    if info.duration < min_seconds:
        raise MediaError(path, "too_short", f"{info.duration:.2f} s < {min_seconds:.2f} s")
    return info


def _ffprobe_report(path: str) -> dict:
    try:
        return ffmpeg.probe(path)
    except ffmpeg.Error as exc:
        raise _probe_error(path, exc.stderr.decode("utf-8", "replace")) from None


def _pyav_report(path: str) -> dict | None:
    """An ffprobe-shaped report from PyAV; None when PyAV cannot read the file."""
    try:
        with av.open(path) as container:
            return {
                "streams": [_pyav_stream(container, stream) for stream in container.streams],
                "format": {"duration": container.duration / av.time_base if container.duration else None},
            }
    except av.FFmpegError as exc:
        _logger.debug("%s: PyAV cannot probe (%s); asking ffprobe", path, exc)
        return None


def _pyav_stream(container, stream) -> dict:
    entry: dict = {
        "codec_type": stream.type,
        "disposition": {"attached_pic": int(bool(stream.disposition & av.stream.Disposition.attached_pic))},
        "duration": float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None,
    }
    if stream.type == "video":
        entry |= {
            "avg_frame_rate": _fraction_text(stream.average_rate), "r_frame_rate": _fraction_text(stream.base_rate),
            "width": stream.codec_context.width, "height": stream.codec_context.height,
            "side_data_list": [{"rotation": _first_frame_rotation(container, stream)}],
        }
    elif stream.type == "audio":
        entry |= {"sample_rate": stream.codec_context.sample_rate, "channels": stream.codec_context.channels}
    return entry


def _fraction_text(rate) -> str | None:
    return f"{rate.numerator}/{rate.denominator}" if rate else None


def _first_frame_rotation(container, stream) -> float:
    """Counter-clockwise degrees of the display matrix, as ffprobe's side data reports them."""
    if stream.disposition & av.stream.Disposition.attached_pic:
        return 0.0
    for frame in container.decode(stream):
        return float(frame.rotation)
    return 0.0


def _probe_error(path: str, stderr: str) -> MediaError:
    lowered = stderr.lower()
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if any(marker in lowered for marker in NOT_A_VIDEO_MARKERS):
        return MediaError(path, "not_a_video", detail)
    if any(marker in lowered for marker in TRUNCATED_MARKERS):
        return MediaError(path, "truncated", detail)
    if "invalid data found" in lowered:
        return MediaError(path, "not_a_video", detail)
    return MediaError(path, "probe_failed", detail)


def _parse_report(path: str, report: dict, audio_required: bool = True) -> ProbeInfo:
    streams = report.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise MediaError(path, "no_video_stream")
    if audio is None and audio_required:
        raise MediaError(path, "no_audio")
    audio = audio or {}
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    base_fps = _rate(video.get("r_frame_rate")) or fps
    if fps <= 0:
        raise MediaError(path, "not_a_video", "no frame rate")
    return ProbeInfo(
        duration=_duration(report, video),
        fps=fps,
        base_fps=base_fps,
        variable_fps=abs(fps - base_fps) > VFR_TOLERANCE * base_fps,
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        rotation=_rotation(video),
        sample_rate=int(audio.get("sample_rate", 0)),
        channels=int(audio.get("channels", 0)),
    )


def _is_cover_art(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _rate(text: str | None) -> float:
    if not text or text.startswith("0/"):
        return 0.0
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return 0.0


def _duration(report: dict, video: dict) -> float:
    for value in (video.get("duration"), report.get("format", {}).get("duration")):
        if value not in (None, "N/A"):
            return float(value)
    return 0.0


def _rotation(video: dict) -> int:
    """Clockwise degrees a player applies: displaymatrix side data, else the legacy rotate tag."""
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return int(round(-float(side["rotation"]))) % 360
    tag = video.get("tags", {}).get("rotate")
    return int(tag) % 360 if tag else 0
