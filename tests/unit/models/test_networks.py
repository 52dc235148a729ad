"""Shapes, ranges, parameter counts and the style layout of the PD-FGC networks."""

from __future__ import annotations

import pytest
import torch

from pdfgc.config import ModelConfig, load_config
from pdfgc.models import (
    NETWORK_NAMES,
    PDFGC,
    AppearanceEncoder,
    AudioEncoder,
    Generator,
    MotionEncoder,
    assemble_style,
    build_model,
    motion_head,
    style_layout,
)
from pdfgc.models.appearance import ResNeXtTrunk
from pdfgc.models.generator import ModulatedConv2d

BATCH = 2
K_FRAMES = 2
MEL_SHAPE = (1, 80, 20)


@pytest.fixture(scope="module")
def tiny_cfg() -> ModelConfig:
    return load_config("tiny").model


@pytest.fixture(scope="module")
def paper_cfg() -> ModelConfig:
    return load_config("paper").model


@pytest.fixture(scope="module")
def tiny_model(tiny_cfg: ModelConfig) -> PDFGC:
    torch.manual_seed(0)
    return build_model(tiny_cfg)


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _factors(cfg: ModelConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    dims = {"lip": cfg.lip_dim, "pose": cfg.pose_dim, "eye": cfg.eye_dim, "exp": cfg.exp_dim}
    return {name: torch.randn(batch, dim, generator=generator) for name, dim in dims.items()}


def test_container_exposes_every_network_by_name(tiny_model: PDFGC) -> None:
    assert {name for name, _ in tiny_model.named_children()} == set(NETWORK_NAMES)
    assert tiny_model.network("generator") is tiny_model.generator
    with pytest.raises(KeyError, match="unknown PD-FGC network"):
        tiny_model.network("decoder")


def test_tiny_shapes_through_every_network(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size, side = tiny_cfg.net_image_size, tiny_cfg.net_image_size // 32
    app = tiny_model.app_encoder(_images(BATCH, K_FRAMES, 3, size, size))
    assert app.global_feat.shape == (BATCH, tiny_cfg.app_dim)
    assert app.spatial.shape == (BATCH, tiny_cfg.app_map_channels, side, side)
    motion = tiny_model.motion_encoder(_images(BATCH, 3, size, size))
    assert motion.shape == (BATCH, tiny_cfg.motion_dim)
    assert tiny_model.lip_head(motion).shape == (BATCH, tiny_cfg.lip_dim)
    assert tiny_model.pose_head(motion).shape == (BATCH, 6)
    assert tiny_model.eye_head(motion).shape == (BATCH, tiny_cfg.eye_dim)
    assert tiny_model.exp_head(motion).shape == (BATCH, tiny_cfg.exp_dim)
    assert tiny_model.audio_encoder(torch.rand(BATCH, *MEL_SHAPE)).shape == (BATCH, tiny_cfg.lip_dim)
    assert tiny_model.audio_encoder.embed(torch.rand(BATCH, *MEL_SHAPE)).shape == (BATCH, tiny_cfg.audio_dim)


def test_generators_draw_images_in_range(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size = tiny_cfg.net_image_size
    app = tiny_model.app_encoder(_images(BATCH, K_FRAMES, 3, size, size))
    frame0 = tiny_model.generator0(app, torch.randn(BATCH, tiny_cfg.motion_dim) * 10)
    frame = tiny_model.generator(app, **_factors(tiny_cfg, BATCH))
    for image in (frame0, frame):
        assert image.shape == (BATCH, 3, size, size)
        assert image.min() >= -1 and image.max() <= 1
        assert image.std() > 0


def test_appearance_features_average_the_k_frames(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    encoder = tiny_model.app_encoder.eval()
    frames = _images(1, 2, 3, tiny_cfg.net_image_size, tiny_cfg.net_image_size)
    with torch.no_grad():
        both = encoder(frames)
        first, second = encoder(frames[:, :1]), encoder(frames[:, 1:])
    encoder.train()
    assert torch.allclose(both.global_feat, (first.global_feat + second.global_feat) / 2, atol=1e-5)
    assert torch.allclose(both.spatial, (first.spatial + second.spatial) / 2, atol=1e-5)


def test_discriminator_scales_and_logits(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    outputs = tiny_model.discriminator(_images(BATCH, 3, tiny_cfg.net_image_size, tiny_cfg.net_image_size))
    assert len(outputs) == tiny_cfg.disc_scales
    for scale in outputs:
        assert len(scale) == tiny_cfg.disc_layers + 2  # strided blocks, one stride-1 block, logits
        assert scale[-1].shape[:2] == (BATCH, 1)


def test_two_scale_discriminator_halves_the_image() -> None:
    cfg = load_config("tiny", ["model.disc_scales=2"]).model
    outputs = build_model(cfg).discriminator(_images(1, 3, cfg.net_image_size, cfg.net_image_size))
    assert len(outputs) == 2
    assert outputs[1][0].shape[-1] < outputs[0][0].shape[-1]


def test_stage1_gradients_reach_both_encoders(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size = tiny_cfg.net_image_size
    tiny_model.zero_grad()
    app = tiny_model.app_encoder(_images(BATCH, K_FRAMES, 3, size, size))
    motion = tiny_model.motion_encoder(_images(BATCH, 3, size, size, seed=1))
    tiny_model.generator0(app, motion).square().mean().backward()
    for name in ("app_encoder", "motion_encoder", "generator0"):
        grads = [p.grad for p in tiny_model.network(name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name


def test_style_layout_matches_release_order(paper_cfg: ModelConfig) -> None:
    layout = style_layout(paper_cfg)
    assert layout == {"app": slice(0, 2048), "lip": slice(2048, 2548), "exp": slice(2548, 2578),
                      "eye": slice(2578, 2584), "pose": slice(2584, 2590)}


@pytest.mark.parametrize("factor", ["lip", "pose", "eye", "exp"])
def test_swapping_one_factor_changes_only_its_slice(tiny_cfg: ModelConfig, factor: str) -> None:
    app_global = torch.randn(2, tiny_cfg.app_dim)
    factors = _factors(tiny_cfg, 2)
    swapped = dict(factors, **{factor: factors[factor].flip(0)})
    before, after = assemble_style(app_global, **factors), assemble_style(app_global, **swapped)
    changed = (before != after).any(dim=0)  # (style_dim,)
    expected = torch.zeros_like(changed)
    expected[style_layout(tiny_cfg)[factor]] = True
    assert torch.equal(changed, expected)


def test_generator_output_depends_on_each_factor(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size = tiny_cfg.net_image_size
    with torch.no_grad():
        app = tiny_model.app_encoder(_images(1, 1, 3, size, size))
        factors = _factors(tiny_cfg, 1)
        base = tiny_model.generator(app, **factors)
        for name in factors:
            moved = tiny_model.generator(app, **dict(factors, **{name: factors[name] + 1}))
            assert not torch.allclose(moved, base), name


def test_autocast_bf16_shapes_and_dtypes(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size = tiny_cfg.net_image_size
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        app = tiny_model.app_encoder(_images(BATCH, K_FRAMES, 3, size, size))
        motion = tiny_model.motion_encoder(_images(BATCH, 3, size, size))
        frame0 = tiny_model.generator0(app, motion)
        frame = tiny_model.generator(app, tiny_model.lip_head(motion), tiny_model.pose_head(motion),
                                     tiny_model.eye_head(motion), tiny_model.exp_head(motion))
        lip = tiny_model.audio_encoder(torch.rand(BATCH, *MEL_SHAPE))
        logits = tiny_model.discriminator(frame)[-1][-1]
    assert app.spatial.dtype == motion.dtype == lip.dtype == torch.bfloat16
    for image in (frame0, frame):
        assert image.shape == (BATCH, 3, size, size) and image.dtype == torch.bfloat16
        assert torch.isfinite(image.float()).all()
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_paper_appearance_trunk_is_resnext50_sized() -> None:
    params = sum(p.numel() for p in ResNeXtTrunk(64).parameters())
    assert 22.5e6 < params < 23.5e6  # ResNeXt-50 32x4d without its classifier: 22.98M


def test_paper_appearance_encoder_shapes(paper_cfg: ModelConfig) -> None:
    encoder = AppearanceEncoder(paper_cfg).eval()
    with torch.no_grad():
        app = encoder(_images(1, 1, 3, 224, 224))
    assert app.global_feat.shape == (1, 2048)
    assert app.spatial.shape == (1, 512, 7, 7)


def test_paper_motion_encoder_and_heads(paper_cfg: ModelConfig) -> None:
    encoder = MotionEncoder(paper_cfg).eval()
    assert encoder.fc.in_features == 28 * 28  # one-channel 28 x 28 map, as in the release
    with torch.no_grad():
        motion = encoder(_images(1, 3, 224, 224))
    assert motion.shape == (1, 512)
    for out_dim in (500, 6, 6, 30):
        assert motion_head(512, out_dim)(motion).shape == (1, out_dim)


def test_paper_audio_encoder(paper_cfg: ModelConfig) -> None:
    encoder = AudioEncoder(paper_cfg).eval()
    with torch.no_grad():
        assert encoder.embed(torch.rand(1, *MEL_SHAPE)).shape == (1, 512)
        assert encoder(torch.rand(1, *MEL_SHAPE)).shape == (1, 500)


def test_paper_generator_style_width(paper_cfg: ModelConfig) -> None:
    generator = Generator(paper_cfg)
    assert generator.decoder.style_dim == 2590
    assert generator.decoder.input_conv.conv.weight.shape[1] == 512  # reads the 512 x 7 x 7 map


def test_net_image_size_must_be_multiple_of_32() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        Generator(ModelConfig(net_image_size=100))


def test_appearance_features_iterate_without_copying(tiny_model: PDFGC, tiny_cfg: ModelConfig) -> None:
    size = tiny_cfg.net_image_size
    app = tiny_model.app_encoder(_images(1, 1, 3, size, size))
    repeated = type(app)(*(t.expand(3, *t.shape[1:]) for t in app))
    assert repeated.global_feat.shape[0] == 3 and repeated.spatial.shape[0] == 3
    assert next(iter(app)) is app.global_feat  # same tensor, graph kept


@pytest.mark.parametrize(("kernel", "demodulate"), [(3, True), (1, False)])
def test_modulated_conv_is_a_per_sample_modulated_weight(kernel: int, demodulate: bool) -> None:
    """Each sample's output is the conv with its own weight: w[o, i] * scale * m[i], divided by
    that weight's L2 norm over (i, k, k) when demodulating (StyleGAN2's definition)."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 4, kernel, style_dim=5, demodulate=demodulate)
    inputs, style = torch.randn(3, 6, 7, 7), torch.randn(3, 5)
    out = conv(inputs, style)
    for b in range(3):
        weight = conv.weight * conv.scale * conv.affine(style[b])[None, :, None, None]
        if demodulate:
            weight = weight / weight.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        expected = torch.nn.functional.conv2d(inputs[b : b + 1], weight, padding=kernel // 2)
        torch.testing.assert_close(out[b : b + 1], expected, atol=1e-5, rtol=1e-4)
