"""Real faces for the label tests: portraits (RGB) and their dlib landmarks, computed once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pdfgc.labels.landmarks import DlibLandmarker


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def rotate(image: np.ndarray, degrees: float, scale: float = 1.0) -> np.ndarray:
    """Rotate counter-clockwise (as displayed) about the image centre, cv2 convention."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, scale)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def mirror(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def decode_frames(path: Path, every: int, side: int) -> np.ndarray:
    """Every ``every``-th frame of a real video, scaled to side x side, RGB (N, side, side, 3)."""
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf",
               f"select=not(mod(n\\,{every})),scale={side}:{side}", "-vsync", "0",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, side, side, 3)


@pytest.fixture(scope="session")
def landmarker() -> DlibLandmarker:
    return DlibLandmarker()


@pytest.fixture(scope="session")
def find_landmarks(landmarker):
    """image -> (68, 2) landmarks of its best face; fails the test when no face is found."""

    def find(image: np.ndarray) -> np.ndarray:
        boxes = landmarker.detect(image)
        assert boxes, "no face found in a real portrait"
        return landmarker.landmarks(image, boxes[0])[0]

    return find


@pytest.fixture(scope="session")
def portraits(real_portraits) -> dict[str, np.ndarray]:
    assert len(real_portraits) >= 2, "expected the two sample portraits"
    return {path.stem: load_rgb(path) for path in real_portraits}
