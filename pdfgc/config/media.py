"""Sections for media: audio features and the decode / crop / shard settings of preprocessing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pdfgc.config.base import Section


class AudioConfig(Section):
    """Log-mel features as in the public PD-FGC inference release (librosa conventions)."""

    sample_rate: int = Field(16000, gt=0)
    """Audio is resampled to this rate (Hz), mono."""
    rms_target: float = Field(0.1, ge=0)
    """Waveform is scaled so that its RMS equals this value before the STFT (0 disables)."""
    n_fft: int = Field(1280, gt=0)
    """STFT window length in samples (80 ms at 16 kHz)."""
    hop_length: int = Field(160, gt=0)
    """10 ms at 16 kHz: 4 mel frames per video frame at 25 fps."""
    n_mels: int = Field(80, gt=0)
    """Mel bands per frame."""
    fmin: float = Field(125.0, ge=0)
    """Lowest frequency of the mel filter bank (Hz)."""
    fmax: float = Field(7600.0, gt=0)
    """Highest frequency of the mel filter bank (Hz)."""
    ref_db: float = 20.0
    """Reference level (dB) subtracted from the mel magnitude in dB."""
    min_db: float = Field(-100.0, lt=0)
    """Floor in dB; features are (dB - min_db) / -min_db, clipped to [0, 1]."""
    window_frames: int = Field(5, gt=0)
    """Video frames in the audio window given to the audio encoder (centred; 5 -> 20 mel frames)."""


class DataConfig(Section):
    """Decoding, face cropping and shard writing."""

    fps: int = Field(25, gt=0)
    """Constant frame rate every video is decoded at (frames per second)."""
    shard_crop_size: int = Field(224, gt=0)
    """Side in pixels of the aligned face crops that preprocessing stores in shards (and that
    synthesis aligns driver videos to). The training reader resizes them to
    ``model.net_image_size``."""
    alignment: Literal["pdfgc", "box"] = "pdfgc"
    """'pdfgc': the release's similarity transform (eyes + inner mouth to a fixed template);
    'box': a square, temporally smoothed detector box grown by ``box_scale``."""
    box_scale: float = Field(1.6, gt=0)
    """With ``alignment: box``: the crop's side as a multiple of the landmark box's side."""
    image_format: Literal["jpg", "webp"] = "jpg"
    """Encoding of the stored crops."""
    image_quality: int = Field(90, ge=1, le=100)
    """JPEG / WebP quality of the stored crops."""
    chunk_frames: int = Field(100, gt=0)
    """Frames per WebDataset sample (a clip is cut into chunks of this length; 100 = 4 s)."""
    min_chunk_frames: int = Field(25, gt=0)
    """A trailing chunk shorter than this is dropped; a clip shorter than this is quarantined."""
    max_decode_side: int = Field(1280, gt=0)
    """Frames whose longer side exceeds this are scaled down by ffmpeg while decoding."""
    detect_every: int = Field(5, gt=0)
    """Run the face detector every N frames and track landmarks in between."""
    max_faces: int = Field(1, gt=0)
    """Policy for several faces: a frame with more than this many faces ends the track."""
    shard_target_mb: float = Field(256.0, gt=0)
    """Staged samples are packed into shards of about this size (MB)."""
    shard_prefix: str = "pdfgc"
    """Shard files are named ``{shard_prefix}-{NNNNNN}.tar``."""
    min_audio_rms: float = Field(1e-4, ge=0)
    """A clip whose audio RMS is below this is quarantined as silent."""
