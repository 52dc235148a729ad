"""Identity similarity from dlib's 128-d face embeddings (``dlib_face_recognition_resnet_model_v1``).

This is a dlib embedding, NOT ArcFace CSIM: the numbers are not comparable with papers that
report ArcFace cosine similarity. dlib's own rule: two faces whose embeddings are closer than
0.6 (Euclidean) are the same person (99.38 % on LFW, dlib's documentation).
"""

from __future__ import annotations

import numpy as np

SAME_PERSON_DISTANCE = 0.6


def _rows(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, np.float64)
    return embeddings[None] if embeddings.ndim == 1 else embeddings


def face_distance(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance (T,) of each embedding (T, 128) to the reference (128,); NaN rows stay NaN."""
    return np.linalg.norm(_rows(embeddings) - np.asarray(reference, np.float64)[None], axis=1)


def cosine_similarity(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity (T,) of each embedding (T, 128) with the reference (128,)."""
    rows, reference = _rows(embeddings), np.asarray(reference, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return rows @ reference / (np.linalg.norm(rows, axis=1) * np.linalg.norm(reference))


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def identity_similarity(embeddings: np.ndarray, reference: np.ndarray) -> float:
    """Mean cosine similarity of the frames with a face (finite embedding) to the reference."""
    return _finite_mean(cosine_similarity(embeddings, reference))


def mean_face_distance(embeddings: np.ndarray, reference: np.ndarray) -> float:
    """Mean dlib face distance of the frames with a face to the reference; < 0.6 reads as the same person."""
    return _finite_mean(face_distance(embeddings, reference))


def same_person_rate(embeddings: np.ndarray, reference: np.ndarray) -> float:
    """Share of the frames with a face whose distance to the reference is below 0.6."""
    distance = face_distance(embeddings, reference)
    finite = distance[np.isfinite(distance)]
    return float(np.mean(finite < SAME_PERSON_DISTANCE)) if finite.size else float("nan")
