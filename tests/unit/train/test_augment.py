"""MotionAugment (pose kept, identity cues changed, per sample, seeded) and the eye composite."""

from __future__ import annotations


import pytest
import torch

from pdfgc.train.augment import (
    MotionAugment,
    MotionAugmentConfig,
    composite_eye_region,
    eye_region_mask,
    gaussian_blur,
    rotate_hue,
    scale_about_centre,
)

SIZE = 64
BATCH = 8


def _blob_images(centre: tuple[float, float], batch: int = BATCH) -> torch.Tensor:
    """A bright Gaussian blob (sigma 4 px) on a dark grey background, in [-1, 1]."""
    coords = torch.arange(SIZE, dtype=torch.float32) + 0.5
    ys, xs = coords.view(-1, 1), coords.view(1, -1)
    blob = torch.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 4.0**2))
    image = (blob * 1.4 - 0.7).expand(3, SIZE, SIZE)
    tint = torch.tensor([0.1, 0.0, -0.1]).view(3, 1, 1)
    return (image + tint).clamp(-1, 1).unsqueeze(0).repeat(batch, 1, 1, 1)


def _centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """(B, 2) x, y centre of the deviation from each image's median grey level."""
    grey = images.mean(dim=1)  # (B, H, W)
    mass = (grey - grey.flatten(1).median(dim=1).values.view(-1, 1, 1)).abs()
    coords = torch.arange(SIZE, dtype=torch.float32) + 0.5
    total = mass.sum(dim=(1, 2))
    return torch.stack([(mass.sum(1) * coords).sum(1) / total, (mass.sum(2) * coords).sum(1) / total], dim=1)


def _augment(images: torch.Tensor, seed: int) -> torch.Tensor:
    return MotionAugment()(images, torch.Generator().manual_seed(seed))


def test_pose_is_kept_blob_barely_moves() -> None:
    images = _blob_images((20.0, 44.0))
    moved = (_centre_of_mass(_augment(images, 0)) - _centre_of_mass(images)).norm(dim=1)
    assert (moved < 0.05 * SIZE).all()


def test_scale_about_centre_moves_points_radially_by_the_factor() -> None:
    images = _blob_images((20.0, 44.0), batch=1)
    zoomed = scale_about_centre(images, torch.tensor([1.05]))
    # a point at offset (-12, 12) from the centre (32, 32) moves to 1.05 x that offset
    assert torch.allclose(_centre_of_mass(zoomed)[0], torch.tensor([32 - 12.6, 32 + 12.6]), atol=0.3)


def test_samples_differ_and_images_change() -> None:
    images = _blob_images((32.0, 32.0))
    out = _augment(images, 0)
    flat = out.flatten(1)
    distances = torch.cdist(flat, flat)
    assert (distances + torch.eye(BATCH) * 1e3).min() > 0.1  # every pair of samples differs
    assert (out - images).abs().mean() > 0.01
    assert out.min() >= -1 and out.max() <= 1 and out.shape == images.shape


def test_same_seed_same_output_other_seed_differs() -> None:
    images = _blob_images((30.0, 30.0))
    assert torch.equal(_augment(images, 7), _augment(images, 7))
    assert not torch.allclose(_augment(images, 7), _augment(images, 8))


def test_colour_changes_destroy_colour_statistics() -> None:
    images = _blob_images((30.0, 30.0))
    out = _augment(images, 3)
    channel_means = out.mean(dim=(2, 3))  # (B, 3)
    assert channel_means.std(dim=0).max() > 0.02


def test_no_op_config_returns_the_input() -> None:
    still = MotionAugmentConfig(max_scale=0.0, blur_prob=0.0, sharpen_prob=0.0, brightness=0.0, contrast=0.0,
                                saturation=0.0, hue=0.0)
    images = _blob_images((30.0, 30.0), batch=2)
    out = MotionAugment(still)(images, torch.Generator().manual_seed(0))
    assert torch.allclose(out, images, atol=1e-5)


def test_gaussian_blur_keeps_constant_and_mass() -> None:
    constant = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(constant, torch.tensor([1.5])), constant, atol=1e-6)
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1.0
    blurred = gaussian_blur(impulse, torch.tensor([1.0]))
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert blurred[0, 0, 10, 10] < 0.2


def test_hue_rotation_keeps_grey_and_full_turn_is_identity() -> None:
    grey = torch.full((1, 3, 2, 2), 0.4)
    assert torch.allclose(rotate_hue(grey, torch.tensor([0.3])), grey, atol=1e-5)
    colour = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(rotate_hue(colour, torch.tensor([1.0])), colour, atol=1e-5)
    assert not torch.allclose(rotate_hue(colour, torch.tensor([0.25])), colour, atol=1e-2)


def _eye_landmarks(centre_left: tuple[float, float], centre_right: tuple[float, float]) -> torch.Tensor:
    """(1, 68, 2): six points per eye on a 8 x 3 px outline; other points far away (unused)."""
    outline = torch.tensor([[-4.0, 0.0], [-2.0, -1.5], [2.0, -1.5], [4.0, 0.0], [2.0, 1.5], [-2.0, 1.5]])
    landmarks = torch.zeros(1, 68, 2)
    landmarks[0, 36:42] = outline + torch.tensor(centre_left)
    landmarks[0, 42:48] = outline + torch.tensor(centre_right)
    return landmarks


def test_composite_takes_eyes_from_v1_and_rest_from_v2() -> None:
    v1, v2 = torch.ones(1, 3, SIZE, SIZE), -torch.ones(1, 3, SIZE, SIZE)
    anchor = composite_eye_region(v1, v2, _eye_landmarks((20.0, 24.0), (44.0, 24.0)), feather=2.0)
    for x, y in [(20, 24), (44, 24), (17, 24), (46, 23)]:  # inside the eye ellipses
        assert torch.equal(anchor[0, :, y, x], torch.ones(3))
    for x, y in [(2, 60), (32, 50), (60, 5), (32, 36)]:  # more than 3 sigma from both eyes
        assert torch.equal(anchor[0, :, y, x], -torch.ones(3))
    edge = anchor[0, 0, 24, 27]  # just outside the left ellipse: a blend
    assert -1 < edge < 1


def test_mask_covers_the_eyes_of_both_frames() -> None:
    first = _eye_landmarks((20.0, 20.0), (44.0, 20.0))
    second = _eye_landmarks((20.0, 30.0), (44.0, 30.0))
    mask = eye_region_mask(SIZE, first, second, feather=1.0)
    assert mask[0, 0, 20, 20] == 1 and mask[0, 0, 30, 44] == 1
    assert mask[0, 0, 55, 32] == 0


def test_twelve_eye_points_and_ready_mask_are_accepted() -> None:
    landmarks = _eye_landmarks((20.0, 24.0), (44.0, 24.0))
    mask = eye_region_mask(SIZE, landmarks[:, 36:48])
    assert torch.equal(mask, eye_region_mask(SIZE, landmarks))
    v1, v2 = torch.ones(1, 3, SIZE, SIZE), torch.zeros(1, 3, SIZE, SIZE)
    assert torch.equal(composite_eye_region(v1, v2, mask=mask), mask.expand(1, 3, SIZE, SIZE))


def test_missing_landmarks_give_v2_unchanged() -> None:
    landmarks = torch.full((1, 68, 2), float("nan"))
    v1, v2 = torch.ones(1, 3, SIZE, SIZE), torch.zeros(1, 3, SIZE, SIZE)
    assert torch.equal(composite_eye_region(v1, v2, landmarks), v2)
