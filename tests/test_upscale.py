"""Enlarging pictures: Lanczos, and RRDBNet (ESRGAN / Real-ESRGAN) weights the user supplies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from filmkit.errors import GeneratorError
from filmkit.render.upscale import load_upscaler, upscale

FEAT, GROW = 8, 4


def _pattern(w: int, h: int) -> np.ndarray:
    """A smooth RGB picture: slow sines and a ramp."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127.5 + 100 * np.sin(x / 13.0 + 0.5 * np.cos(y / 17.0))
    g = 127.5 + 100 * np.cos(y / 11.0 - x / 29.0)
    b = 255 * (0.6 * x / w + 0.4 * y / h)
    return np.clip(np.rint(np.dstack([r, g, b])), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _noise(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)


def _state(
    blocks: int = 1, inputs: int = 3, seed: int = 0, feat: int = FEAT, grow: int = GROW
) -> dict[str, torch.Tensor]:
    """Random weights with BasicSR's RRDBNet names and shapes, written out independently."""
    g = torch.Generator().manual_seed(seed)
    convs = {"conv_first": (feat, inputs)}
    for i in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                convs[f"body.{i}.rdb{r}.conv{c}"] = (
                    feat if c == 5 else grow,
                    feat + (c - 1) * grow,
                )
    convs.update({n: (feat, feat) for n in ("conv_body", "conv_up1", "conv_up2", "conv_hr")})
    convs["conv_last"] = (3, feat)
    state = {}
    for name, (out, inp) in convs.items():
        bound = (inp * 9) ** -0.5
        state[f"{name}.weight"] = (torch.rand(out, inp, 3, 3, generator=g) * 2 - 1) * bound
        state[f"{name}.bias"] = (torch.rand(out, generator=g) * 2 - 1) * bound
    return state


def _save(tmp_path: Path, name: str, payload: object) -> Path:
    path = tmp_path / name
    torch.save(payload, path)
    return path


def test_importing_does_not_import_torch() -> None:
    code = "import sys, filmkit.render.upscale; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lanczos_enlarges_a_smooth_picture_close_to_the_truth() -> None:
    truth = _pattern(256, 192)
    small = cv2.resize(truth, (64, 48), interpolation=cv2.INTER_AREA)
    big = upscale(small, (256, 192))
    nearest = cv2.resize(small, (256, 192), interpolation=cv2.INTER_NEAREST)
    assert big.shape == truth.shape and big.dtype == np.uint8
    assert _psnr(big, truth) > 42.0  # measured 48.9 dB
    assert _psnr(big, truth) > _psnr(nearest, truth) + 10.0  # nearest: 32.9 dB


@pytest.mark.parametrize(("src", "size"), [((37, 23), (101, 59)), ((37, 23), (13, 7))])
def test_lanczos_gives_the_exact_size(src: tuple[int, int], size: tuple[int, int]) -> None:
    out = upscale(_noise(src[1], src[0]), size)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8


def test_lanczos_keeps_alpha() -> None:
    rgba = _noise(21, 17, 4, seed=1)
    out = upscale(rgba, (68, 84))
    assert out.shape == (84, 68, 4)
    np.testing.assert_array_equal(out[:, :, :3], upscale(rgba[:, :, :3].copy(), (68, 84)))
    alpha = cv2.resize(rgba[:, :, 3].copy(), (68, 84), interpolation=cv2.INTER_LANCZOS4)
    np.testing.assert_array_equal(out[:, :, 3], alpha)


def test_bad_pixels_or_size_are_refused() -> None:
    with pytest.raises(GeneratorError, match="uint8"):
        upscale(np.zeros((4, 4, 3), np.float32), (8, 8))
    with pytest.raises(GeneratorError, match="positive"):
        upscale(np.zeros((4, 4, 3), np.uint8), (0, 8))


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_checkpoint_loads_plain_or_wrapped(tmp_path: Path, wrapped: bool) -> None:
    state = _state()
    decoy = _state(seed=9)
    payload = {"params_ema": state, "params": decoy} if wrapped else state
    net = load_upscaler(_save(tmp_path, "net.pth", payload), "cpu")
    assert (net.scale, net.num_feat, net.num_block, net.num_grow_ch) == (4, FEAT, 1, GROW)
    assert net.weights.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(net.weights[key], value), key


def test_params_alone_and_old_esrgan_names_load(tmp_path: Path) -> None:
    state = _state(blocks=2)
    old = {}
    for key, value in state.items():
        for a, b in (("body.", "RRDB_trunk."), ("conv_body", "trunk_conv"), ("conv_hr", "HRconv")):
            key = key.replace(a, b) if key.startswith(a) else key
        old[key.replace(".rdb", ".RDB").replace("conv_up", "upconv")] = value
    for name, payload in (("params.pth", {"params": state}), ("old.pth", old)):
        net = load_upscaler(_save(tmp_path, name, payload), "cpu")
        assert net.num_block == 2
        assert all(torch.equal(net.weights[k], v) for k, v in state.items())


def test_loading_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = _save(tmp_path, "net.pth", _state())
    first = load_upscaler(path, "cpu")
    assert load_upscaler(str(path), "cpu") is first
    torch.save(_state(seed=3), path)
    again = load_upscaler(path, "cpu")
    assert again is not first
    assert torch.equal(again.weights["conv_last.bias"], _state(seed=3)["conv_last.bias"])


@pytest.mark.parametrize(("size", "passes"), [((80, 56), 1), ((71, 43), 1), ((101, 60), 2)])
def test_model_output_has_the_exact_size(
    tmp_path: Path, size: tuple[int, int], passes: int
) -> None:
    path = _save(tmp_path, "net.pth", _state())
    rgba = _noise(14, 20, 4, seed=2)
    out = upscale(rgba, size, path, "cpu")
    assert out.shape == (size[1], size[0], 4) and out.dtype == np.uint8
    alpha = cv2.resize(rgba[:, :, 3].copy(), size, interpolation=cv2.INTER_LANCZOS4)
    np.testing.assert_array_equal(out[:, :, 3], alpha)
    # What the network made, passes times over, then area-averaged down to size.
    x = torch.from_numpy(rgba[:, :, :3].astype(np.float32) / 255).permute(2, 0, 1)[None]
    net = load_upscaler(path, "cpu")
    for _ in range(passes):
        x = net.run(x, tile=0).clamp(0, 1)
    expected = cv2.resize(x[0].permute(1, 2, 0).numpy(), size, interpolation=cv2.INTER_AREA)
    expected = np.clip(np.rint(expected * 255), 0, 255).astype(np.uint8)
    assert np.abs(out[:, :, :3].astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("inputs", "scale"), [(3, 4), (12, 2)])
def test_tiled_inference_equals_untiled(tmp_path: Path, inputs: int, scale: int) -> None:
    net = load_upscaler(_save(tmp_path, "net.pth", _state(inputs=inputs, seed=4)), "cpu")
    assert net.scale == scale
    x = torch.rand(1, 3, 45, 39, generator=torch.Generator().manual_seed(5))
    whole = net.run(x, tile=0)
    assert whole.shape == (1, 3, 45 * scale, 39 * scale)
    tiled = net.run(x, tile=12, margin=net.reach)  # 4 x 4 tiles
    assert torch.allclose(tiled, whole, atol=1e-5, rtol=0)
    seams = net.run(x, tile=12, margin=0)  # without context the seams show
    assert (seams - whole).abs().max() > 1e-3


def test_tiled_upscale_matches_untiled_pixels(tmp_path: Path) -> None:
    path = _save(tmp_path, "net.pth", _state(seed=6))
    pixels = _noise(33, 27, seed=3)
    reach = load_upscaler(path, "cpu").reach
    tiled = upscale(pixels, (108, 132), path, "cpu", tile=10, margin=reach)
    whole = upscale(pixels, (108, 132), path, "cpu", tile=0)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def _identity_like(inputs: int = 3, pick: int = 0) -> dict[str, torch.Tensor]:
    """Weights whose network gives nearest-neighbour x4 of its (unshuffled) input channels
    ``c * inputs // 3 + pick``, through every residual scaling and a negative LeakyReLU."""
    state = {k: torch.zeros_like(v) for k, v in _state(inputs=inputs).items()}

    def copy(name: str, gain: float = 1.0, bias: float = 0.0, step: int = 1, at: int = 0) -> None:
        for c in range(3):
            state[f"{name}.weight"][c, c * step + at, 1, 1] = gain
            state[f"{name}.bias"][c] = bias

    copy("conv_first", step=inputs // 3, at=pick)
    for r in (1, 2, 3):
        copy(f"body.0.rdb{r}.conv5")  # each dense block gives x + 0.2 x
    copy("conv_body")  # the trunk: feat + (0.2 * 1.2**3 + 1) feat
    total = 1 + 0.2 * 1.2**3 + 1
    copy("conv_up1", bias=-total)  # below zero: LeakyReLU keeps 0.2 of it
    copy("conv_up2", gain=5.0, bias=total)
    copy("conv_hr")
    copy("conv_last", gain=1 / total)
    return state


def test_a_known_network_gives_the_known_picture(tmp_path: Path) -> None:
    path = _save(tmp_path, "net.pth", {"params_ema": _identity_like()})
    pixels = _noise(9, 7, seed=4)
    expected = pixels.repeat(4, axis=0).repeat(4, axis=1)
    np.testing.assert_array_equal(upscale(pixels, (28, 36), path, "cpu"), expected)
    np.testing.assert_array_equal(upscale(pixels, (28, 36), path, "cpu", tile=3), expected)


def test_the_x2_network_unshuffles_its_input_as_basicsr_does(tmp_path: Path) -> None:
    # Unshuffled channel 4 c + 1 holds colour c of the pixels at even rows and odd columns.
    path = _save(tmp_path, "net.pth", _identity_like(inputs=12, pick=1))
    pixels = _noise(10, 14, seed=5)
    assert load_upscaler(path, "cpu").scale == 2
    expected = pixels[0::2, 1::2].repeat(4, axis=0).repeat(4, axis=1)
    np.testing.assert_array_equal(upscale(pixels, (28, 20), path, "cpu"), expected)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("missing", "missing body.0.rdb2.conv3.weight"),
        ("shape", "conv_hr.weight is (8, 7, 3, 3)"),
        ("extra", "unexpected conv_up3.weight"),
        ("first", "no conv_first.weight"),
        ("gray", "conv_first taking 3, 12 or 48"),
    ],
)
def test_a_wrong_checkpoint_names_the_file_and_the_fault(
    tmp_path: Path, change: str, named: str
) -> None:
    state = _state()
    if change == "missing":
        del state["body.0.rdb2.conv3.weight"]
    elif change == "shape":
        state["conv_hr.weight"] = state["conv_hr.weight"][:, :7]
    elif change == "extra":
        state["conv_up3.weight"] = state["conv_up2.weight"]
    elif change == "first":
        del state["conv_first.weight"]
    else:
        state["conv_first.weight"] = state["conv_first.weight"][:, :1]
    path = _save(tmp_path, f"{change}.pth", {"params_ema": state})
    with pytest.raises(GeneratorError) as caught:
        load_upscaler(path, "cpu")
    assert str(path) in str(caught.value) and named in str(caught.value)


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(GeneratorError, match="notes.pth: cannot read torch weights"):
        load_upscaler(text, "cpu")
    listing = _save(tmp_path, "list.pth", [torch.zeros(3)])
    with pytest.raises(GeneratorError, match="list.pth: expected an RRDBNet"):
        load_upscaler(listing, "cpu")
    with pytest.raises(GeneratorError, match="absent.pth: cannot read"):
        upscale(_noise(4, 4), (16, 16), tmp_path / "absent.pth", "cpu")
