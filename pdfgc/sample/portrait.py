"""The speaker's still photo, its eye and mouth rig, and the rendering of one frame.

The photo is graded per speaker (mirroring, channel gains, saturation, gamma), its 68 dlib
landmarks are found once, and the rig precomputes, on small regions of interest, where the
eyelids close and which pixels the jaw drop moves. A frame closes the eyelids by the blink
openness, drops the jaw by the mouth opening, then warps the photo by the clip's similarity
transform.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import dlib
import numpy as np
from skimage import data as skimage_data

from pdfgc.sample.clip import ClipPlan, SampleSetError, SpeakerLook


SOURCE_PHOTO = "skimage.data.astronaut"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
STILL_UPSCALE = 4
RIGHT_EYE = (36, 37, 38, 39, 40, 41)  # subject's right eye: image left in an unmirrored face
LEFT_EYE = (42, 43, 44, 45, 46, 47)
INNER_UPPER_LIP = (60, 61, 62, 63, 64)
INNER_LOWER_LIP = (60, 67, 66, 65, 64)
CHIN = 8
MOUTH_MAX_GAP = 0.22  # largest jaw drop, fraction of the outer mouth width (48-54)
JAW_WIDEN = 0.6  # how fast the moving region widens below the lips (px per px)
NECK_RAMP = 0.4  # below the chin the drop fades out over this fraction of the jaw width
INNER_MOUTH_RGB = (84, 32, 36)
LID_MARGIN = 0.2  # lid paint reaches this fraction of the eye width above the lid (hides lashes)
LASH_RGB = (38, 28, 28)
LASH_HALF_WIDTH = 0.06  # fraction of the eye width
LID_SHADE = 0.15  # the lid darkens by this much towards the lash line
FaceFrame = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Face-aligned frame in photo pixels: centre (2,), unit u along the eye line (2,), unit v down (2,)."""


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


def _affine(portrait: Portrait, look: SpeakerLook, size: int, plan: ClipPlan, t: int) -> np.ndarray:
    """Photo -> frame similarity: the face centre lands at frame centre + (tx, ty), the eye
    line at angle roll, the jaw at face_fraction * size * scale pixels."""
    angle = math.radians(plan.roll_deg[t] - portrait.photo_roll_deg)
    zoom = look.face_fraction * size / portrait.jaw_width * plan.scale[t]
    linear = zoom * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    target = np.array([size / 2 + plan.tx[t], size / 2 + plan.ty[t]])
    return np.hstack([linear, (target - linear @ portrait.centre)[:, None]])  # (2, 3)


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
