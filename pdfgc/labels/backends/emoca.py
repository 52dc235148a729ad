"""Expression from EMOCA (Danecek et al. 2022): FLAME expression + jaw pose + emotion.

EMOCA gives, per 224 crop, FLAME codes (exp 50, pose 6 = global 3 + jaw 3 axis-angle) and its
emotion network gives valence, arousal and 8 expression-class logits (AffectNet order, see
``EMOTION_CLASSES``). ``outputs_to_expression`` maps them to one ``expression`` row of
``EMOCA_EXPRESSION_DIM`` = 50 + 3 + 2 + 8 = 63 values (class logits become probabilities).

What is here: that mapping (tested) and the file checks. What is not: running EMOCA. The
release ships its network as a PyTorch Lightning checkpoint and FLAME as ``generic_model.pkl``
(a chumpy pickle); both load only by unpickling, which this project refuses for any file it
did not write. ``EmocaExpressionLabeler`` therefore stops with ``MissingWeightsError`` (files
absent) or ``PdfgcError`` (files present, refused) instead of computing labels.
"""

from __future__ import annotations

import logging

import numpy as np

from pdfgc.errors import PdfgcError
from pdfgc.labels.backends.weights import require_file
from pdfgc.labels.base import LabelSpec

_logger = logging.getLogger(__name__)

FLAME_FILE = "generic_model.pkl"
EMOCA_CHECKPOINT_FILE = "EMOCA_v2_lr_mse_20/detail/checkpoints/last.ckpt"
HOW_TO_GET = (
    "register at https://flame.is.tue.mpg.de (FLAME 2020 generic_model.pkl) and "
    "https://emoca.is.tue.mpg.de (EMOCA_v2_lr_mse_20), then unpack both into labels.weights_dir"
)
EMOTION_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
FLAME_EXPRESSION_DIM = 50
JAW_POSE = slice(3, 6)
"""FLAME pose code = global rotation (0:3) + jaw rotation (3:6), axis-angle radians."""
EMOCA_EXPRESSION_DIM = FLAME_EXPRESSION_DIM + 3 + 2 + len(EMOTION_CLASSES)

EMOCA_EXPRESSION_SPEC = LabelSpec(
    name="expression",
    dtype="float32",
    shape=(EMOCA_EXPRESSION_DIM,),
    unit="FLAME exp coefficient, rad, [-1, 1], probability",
    convention="FLAME exp 0:50, jaw axis-angle 50:53, valence 53, arousal 54, class probabilities "
    "55:63 (" + ", ".join(EMOTION_CLASSES) + ")",
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def outputs_to_expression(
    expcode: np.ndarray, posecode: np.ndarray, valence: np.ndarray, arousal: np.ndarray, class_logits: np.ndarray
) -> np.ndarray:
    """EMOCA outputs -> (T, 63): exp (T, 50), jaw from posecode (T, 6), valence (T,), arousal (T,),
    softmax of class_logits (T, 8)."""
    return np.concatenate(
        [
            np.asarray(expcode, dtype=np.float64)[:, :FLAME_EXPRESSION_DIM],
            np.asarray(posecode, dtype=np.float64)[:, JAW_POSE],
            np.stack([valence, arousal], axis=-1),
            _softmax(np.asarray(class_logits, dtype=np.float64)),
        ],
        axis=-1,
    )


class EmocaExpressionLabeler:
    """EMOCA expression labels; refuses to run (see the module docstring)."""

    name = "emoca"
    version = "v2_lr_mse_20"
    specs = (EMOCA_EXPRESSION_SPEC,)

    def __init__(self, weights_dir: str | None) -> None:
        flame = require_file("emoca", FLAME_FILE, [weights_dir], HOW_TO_GET)
        checkpoint = require_file("emoca", EMOCA_CHECKPOINT_FILE, [weights_dir], HOW_TO_GET)
        raise PdfgcError(
            f"emoca backend: {checkpoint} and {flame} load only by unpickling, which pdfgc refuses; "
            "use labels.expression=landmarks, or convert EMOCA to a weights-only state dict first"
        )
