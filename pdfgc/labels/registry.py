"""Build the label backends a ``LabelsConfig`` names.

Default backends (``dlib`` landmarks, ``pnp`` pose, ``landmarks`` eyes and expression) need no
licensed file. Licensed ones (``fan``, ``deep3d``, ``emoca``) are imported only when chosen and
raise ``MissingWeightsError`` when their files are absent.
"""

from __future__ import annotations

import logging

from pdfgc.config import LabelsConfig
from pdfgc.labels.base import FaceLandmarker, Labeler

_logger = logging.getLogger(__name__)


def build_landmarker(cfg: LabelsConfig) -> FaceLandmarker:
    """The face detector + 68-point landmarker: ``dlib`` (default), ``dlib-subpixel`` or licensed ``fan``."""
    landmarker = _landmarker_class(cfg)
    return landmarker(cfg.weights_dir) if cfg.landmarks == "fan" else landmarker()


def _build_pose(cfg: LabelsConfig) -> Labeler:
    if cfg.pose == "deep3d":
        from pdfgc.labels.backends.deep3d import Deep3DPoseLabeler

        return Deep3DPoseLabeler(cfg.weights_dir)
    from pdfgc.labels.pose import PoseLabeler

    return PoseLabeler()


def _build_expression(cfg: LabelsConfig) -> Labeler:
    if cfg.expression == "emoca":
        from pdfgc.labels.backends.emoca import EmocaExpressionLabeler

        return EmocaExpressionLabeler(cfg.weights_dir)
    from pdfgc.labels.expression import ExpressionLabeler

    return ExpressionLabeler()


def build_labelers(cfg: LabelsConfig) -> list[Labeler]:
    """Pose, eyes (blink + gaze) and expression labelers, in that order. With ``eyes: learned``
    the learned gaze network follows the landmark eye labeler, so its ``gaze`` replaces the
    landmark gaze while ``blink`` still comes from the landmarks."""
    from pdfgc.labels.eyes import EyeLabeler

    eyes: list[Labeler] = [EyeLabeler()]
    if cfg.eyes == "learned":
        from pdfgc.labels.backends.gaze import LearnedGazeLabeler

        eyes.append(LearnedGazeLabeler(cfg.weights_dir))
    return [_build_pose(cfg), *eyes, _build_expression(cfg)]


def _landmarker_class(cfg: LabelsConfig) -> type:
    if cfg.landmarks == "fan":
        from pdfgc.labels.backends.fan import FanLandmarker

        return FanLandmarker
    from pdfgc.labels.landmarks import DlibLandmarker, DlibSubpixelLandmarker

    return DlibSubpixelLandmarker if cfg.landmarks == "dlib-subpixel" else DlibLandmarker


def _labeler_classes(cfg: LabelsConfig) -> list[type]:
    """The chosen classes, importing a licensed backend's module only when it is chosen."""
    from pdfgc.labels.expression import ExpressionLabeler
    from pdfgc.labels.eyes import EyeLabeler
    from pdfgc.labels.pose import PoseLabeler

    pose: type = PoseLabeler
    expression: type = ExpressionLabeler
    if cfg.pose == "deep3d":
        from pdfgc.labels.backends.deep3d import Deep3DPoseLabeler as pose
    if cfg.expression == "emoca":
        from pdfgc.labels.backends.emoca import EmocaExpressionLabeler as expression
    eyes: list[type] = [EyeLabeler]
    if cfg.eyes == "learned":
        from pdfgc.labels.backends.gaze import LearnedGazeLabeler

        eyes.append(LearnedGazeLabeler)
    return [pose, *eyes, expression]


def label_versions(cfg: LabelsConfig) -> dict[str, str]:
    """``{"landmarks": "dlib@20.0.1+sp68", "pose": "pnp@1", ...}`` for the manifest.

    Reads class attributes only: no model file is loaded, so it works without licensed weights.
    """
    landmarker = _landmarker_class(cfg)
    versions = {"landmarks": f"{landmarker.name}@{landmarker.version}"}
    for labeler in _labeler_classes(cfg):
        for spec in labeler.specs:
            versions[spec.name] = f"{labeler.name}@{labeler.version}"
    return versions
