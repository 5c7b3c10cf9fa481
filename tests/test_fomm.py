"""First Order Motion Model: the published checkpoint layout, loading, and the motion maths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from filmkit.errors import GeneratorError
from filmkit.render.fomm import (
    Animator,
    FommConfig,
    build_fomm,
    hull_area,
    infer_config,
    load_fomm,
    normalize_kp,
)

# Tiny networks for 64x64 frames: both hourglasses see 16x16 (scale 0.25) and go 3 deep;
# every max_features binds, so the widths read back from the file give this very config.
TINY = replace(
    FommConfig().scaled(1 / 8, blocks=3),
    kp_block_expansion=8,
    kp_max_features=32,
    max_features=16,
    dm_max_features=32,
    num_bottleneck_blocks=2,
)

# Names and shapes in vox-cpk.pth.tar, worked out from the repository's modules with
# config/vox-256.yaml (K = 10 keypoints, C = 3 channels):
# the keypoint hourglass's decoder ends with 32 + 3 = 35 channels; the dense motion
# network's input is (K + 1) * (C + 1) = 44 channels and its decoder ends with 64 + 44 = 108;
# the anti-aliasing kernel for scale 1/4 has sigma 1.5 and size 2 * round(6) + 1 = 13.
PUBLISHED_KP = {
    "predictor.encoder.down_blocks.0.conv.weight": (64, 3, 3, 3),
    "predictor.encoder.down_blocks.4.conv.weight": (1024, 512, 3, 3),
    "predictor.encoder.down_blocks.4.norm.running_var": (1024,),
    "predictor.decoder.up_blocks.0.conv.weight": (512, 1024, 3, 3),
    "predictor.decoder.up_blocks.4.conv.weight": (32, 128, 3, 3),
    "kp.weight": (10, 35, 7, 7),
    "kp.bias": (10,),
    "jacobian.weight": (40, 35, 7, 7),
    "jacobian.bias": (40,),
    "down.weight": (3, 1, 13, 13),
}
PUBLISHED_GENERATOR = {
    "first.conv.weight": (64, 3, 7, 7),
    "first.norm.weight": (64,),
    "down_blocks.0.conv.weight": (128, 64, 3, 3),
    "down_blocks.1.conv.weight": (256, 128, 3, 3),
    "bottleneck.r0.conv1.weight": (256, 256, 3, 3),
    "bottleneck.r5.norm2.running_mean": (256,),
    "up_blocks.0.conv.weight": (128, 256, 3, 3),
    "up_blocks.1.conv.weight": (64, 128, 3, 3),
    "final.weight": (3, 64, 7, 7),
    "final.bias": (3,),
    "dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight": (128, 44, 3, 3),
    "dense_motion_network.hourglass.encoder.down_blocks.4.conv.weight": (1024, 1024, 3, 3),
    "dense_motion_network.hourglass.decoder.up_blocks.0.conv.weight": (1024, 1024, 3, 3),
    "dense_motion_network.hourglass.decoder.up_blocks.4.conv.weight": (64, 256, 3, 3),
    "dense_motion_network.mask.weight": (11, 108, 7, 7),
    "dense_motion_network.occlusion.weight": (1, 108, 7, 7),
    "dense_motion_network.down.weight": (3, 1, 13, 13),
}
# Trainable parameters of the vox-256 networks (buffers excluded).
KP_PARAMETERS = 14_215_368
GENERATOR_PARAMETERS = 45_575_391


def _conv(i: int, o: int, k: int) -> int:
    return o * i * k * k + o


def _hourglass(expansion: int, inputs: int, blocks: int, limit: int) -> int:
    """Parameters of an hourglass by hand: conv + batch norm (2 per channel) per block."""
    w = [min(limit, expansion * 2**i) for i in range(blocks + 1)]
    down = sum(_conv(inputs if i == 0 else w[i], w[i + 1], 3) + 2 * w[i + 1] for i in range(blocks))
    up = sum(
        _conv((1 if i == blocks - 1 else 2) * w[i + 1], w[i], 3) + 2 * w[i] for i in range(blocks)
    )
    return down + up


def test_full_size_build_has_the_published_keys_shapes_and_sizes() -> None:
    with torch.device("meta"):
        kp, gen = build_fomm(torch, FommConfig())
    kp_shapes = {k: tuple(v.shape) for k, v in kp.state_dict().items()}
    gen_shapes = {k: tuple(v.shape) for k, v in gen.state_dict().items()}
    for name, shape in PUBLISHED_KP.items():
        assert kp_shapes[name] == shape, name
    for name, shape in PUBLISHED_GENERATOR.items():
        assert gen_shapes[name] == shape, name
    # 5 + 5 hourglass blocks of 7 entries (conv 2, norm 5), kp and jacobian heads, down.
    assert len(kp_shapes) == 10 * 7 + 4 + 1
    # first 7, 2 down + 2 up 7 each, 6 res blocks 14 each, final 2; dense motion:
    # 10 hourglass blocks, mask and occlusion heads, down.
    assert len(gen_shapes) == 7 + 4 * 7 + 6 * 14 + 2 + 10 * 7 + 4 + 1
    assert not any(k.startswith("module.") for k in (*kp_shapes, *gen_shapes))

    kp_count = sum(p.numel() for p in kp.parameters())
    gen_count = sum(p.numel() for p in gen.parameters())
    assert kp_count == KP_PARAMETERS
    assert gen_count == GENERATOR_PARAMETERS
    # The same figures by hand from the architecture.
    assert _hourglass(32, 3, 5, 1024) + _conv(35, 10, 7) + _conv(35, 40, 7) == KP_PARAMETERS
    dense = _hourglass(64, 44, 5, 1024) + _conv(108, 11, 7) + _conv(108, 1, 7)
    own = (
        _conv(3, 64, 7)
        + 2 * 64
        + _conv(64, 128, 3)
        + 2 * 128
        + _conv(128, 256, 3)
        + 2 * 256
        + 6 * 2 * (_conv(256, 256, 3) + 2 * 256)
        + _conv(256, 128, 3)
        + 2 * 128
        + _conv(128, 64, 3)
        + 2 * 64
        + _conv(64, 3, 7)
    )
    assert dense + own == GENERATOR_PARAMETERS


def test_antialias_kernel_and_jacobian_head_start_as_published() -> None:
    kp, _ = build_fomm(torch, TINY)
    kernel = kp.state_dict()["down.weight"]
    assert kernel.shape == (3, 1, 13, 13)
    assert torch.allclose(kernel.sum(dim=(1, 2, 3)), torch.ones(3))
    assert torch.equal(kernel, kernel.flip(-1)) and torch.equal(kernel, kernel.transpose(-1, -2))
    assert kernel[0, 0, 6, 6] == kernel.max()
    # The Jacobian head starts at zero weights and identity biases.
    assert not kp.jacobian.weight.any()
    assert kp.jacobian.bias.tolist() == [1.0, 0.0, 0.0, 1.0] * TINY.num_kp


def _checkpoint(tmp_path: Path, name: str = "vox-cpk.pth.tar") -> tuple[Path, dict]:
    """Random tiny networks saved as the repository's Logger.save_cpk does, in the
    pre-1.6 (non-zip) format torch 1.0 wrote, with optimiser and scheduler state."""
    torch.manual_seed(3)
    kp, gen = build_fomm(torch, TINY)
    optimisers = {}
    for key, model in (("kp_detector", kp), ("generator", gen)):
        params = list(model.parameters())
        optimiser = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
        torch.optim.lr_scheduler.MultiStepLR(optimiser, [60, 90], gamma=0.1)
        for p in params:
            p.grad = torch.zeros_like(p)
        optimiser.step()
        optimisers[f"optimizer_{key}"] = optimiser.state_dict()
    for p in (*kp.parameters(), *gen.parameters()):
        p.grad = None
    saved = {"kp_detector": kp.state_dict(), "generator": gen.state_dict()}
    path = tmp_path / name
    torch.save({**saved, **optimisers, "epoch": 0}, path, _use_new_zipfile_serialization=False)
    return path, saved


def _frames(seed: int, n: int, h: int = 80, w: int = 72) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2) * (h, w)
        blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * (h / 5) ** 2))
        image = np.stack([blob * 220, blob * 160 + 30, 90 - blob * 60], axis=-1)
        out.append(image.clip(0, 255).astype(np.uint8))
    return out


def test_checkpoint_in_published_layout_loads_and_animates(tmp_path: Path) -> None:
    path, saved = _checkpoint(tmp_path)
    kp, gen = load_fomm(torch, path, "cpu")
    assert kp.fomm_config == TINY and gen.fomm_config == TINY
    for model, key in ((kp, "kp_detector"), (gen, "generator")):
        assert not model.training
        state = model.state_dict()
        assert state.keys() == saved[key].keys()
        assert all(torch.equal(state[k], v) for k, v in saved[key].items())

    animator = Animator(torch, kp, gen, "cpu", size=64, batch=2)
    source = _frames(1, 1)[0]
    driving = _frames(2, 3)
    frames = animator.animate(source, driving)
    assert len(frames) == 3
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    again = animator.animate(source, driving)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    absolute = animator.animate(source, driving[:2], relative=False, adapt_scale=False)
    assert [f.shape for f in absolute] == [(64, 64, 3)] * 2
    assert animator.animate(source, []) == []
    with pytest.raises(ValueError, match="multiple of"):
        Animator(torch, kp, gen, "cpu", size=48)


def test_explicit_config_must_match_the_shapes(tmp_path: Path) -> None:
    path, _ = _checkpoint(tmp_path)
    with pytest.raises(GeneratorError, match="not First Order Motion Model weights") as error:
        load_fomm(torch, path, "cpu", replace(TINY, num_kp=5))
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"state_dict": {"w": torch.zeros(2)}, "epoch": 0},
        {"kp_detector": {"w": torch.zeros(2)}, "generator": {}, "epoch": 0},
        [torch.zeros(2)],
    ],
)
def test_other_files_are_refused_naming_them(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "other.pth"
    torch.save(payload, path)
    with pytest.raises(GeneratorError, match="not First Order Motion Model weights") as error:
        load_fomm(torch, path, "cpu")
    assert str(path) in str(error.value)


def test_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "vox-cpk.pth.tar"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(GeneratorError, match="First Order Motion Model") as error:
        load_fomm(torch, path, "cpu")
    assert str(path) in str(error.value)


def _kp(seed: int, batch: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    value = torch.rand(1, 10, 2, generator=g) * 2 - 1
    jacobian = torch.eye(2) + 0.3 * torch.randn(1, 10, 2, 2, generator=g)
    return {"value": value.expand(batch, -1, -1), "jacobian": jacobian.expand(batch, -1, -1, -1)}


@pytest.mark.parametrize("adapt", [False, True])
def test_relative_motion_with_still_driving_keeps_the_source_keypoints(adapt: bool) -> None:
    source, initial = _kp(1), _kp(2)
    driving = _kp(2, batch=2)  # every driving frame is the first one
    norm = normalize_kp(
        torch,
        source,
        driving,
        initial,
        adapt_movement_scale=adapt,
        use_relative_movement=True,
        use_relative_jacobian=True,
    )
    assert norm["value"].shape == (2, 10, 2)
    assert torch.equal(norm["value"], source["value"].expand(2, -1, -1))
    assert torch.allclose(norm["jacobian"], source["jacobian"].expand(2, -1, -1, -1), atol=1e-5)
    # Absolute mode renders the driving keypoints as they are.
    assert normalize_kp(torch, source, driving, initial)["value"] is driving["value"]


def test_adapt_scale_is_the_ratio_of_hull_sides() -> None:
    square = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [0.0, 0.0]]])
    source = {"value": square}
    initial = {"value": square * 2}
    moved = {"value": square * 2 + 0.2}
    norm = normalize_kp(
        torch, source, moved, initial, adapt_movement_scale=True, use_relative_movement=True
    )
    # Source hull area 1, driving 4: the motion is halved.
    assert torch.allclose(norm["value"], square + 0.1)
    assert hull_area(square[0].numpy()) == pytest.approx(1.0)
    assert hull_area(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])) == 0.0


def test_still_keypoints_make_an_identity_warp() -> None:
    torch.manual_seed(0)
    kp, gen = build_fomm(torch, TINY)
    kp.eval()
    gen.eval()
    image = torch.from_numpy(np.stack(_frames(4, 1, 64, 64))).permute(0, 3, 1, 2) / 255.0
    with torch.no_grad():
        points = kp(image)
        out = gen(image, kp_driving=points, kp_source=points)
    h = w = 16
    x = torch.linspace(-1, 1, w).view(1, w).expand(h, w)
    y = torch.linspace(-1, 1, h).view(h, 1).expand(h, w)
    # Every keypoint's motion is the identity, so the blended warp is too, and sampling
    # with align_corners=True on it returns the pixels (the 64x64 source is 16x16 there).
    assert torch.allclose(out["deformation"][0], torch.stack((x, y), -1), atol=1e-5)
    assert out["prediction"].shape == (1, 3, 64, 64)
    sparse = out["sparse_deformed"][0, 0]
    down = gen.dense_motion_network.down(image)[0]
    assert torch.allclose(sparse, down, atol=1e-5)


def test_infer_config_reads_the_vox_sizes_from_shapes() -> None:
    with torch.device("meta"):
        kp, gen = build_fomm(torch, FommConfig())
    assert infer_config(kp.state_dict(), gen.state_dict()) == FommConfig()
