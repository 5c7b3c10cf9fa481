"""RIFE interpolation from a user's weights file: loading, checks, and the warping maths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from filmkit.errors import GeneratorError
from filmkit.render.rife import RifeInterpolator, build_ifnet, load_rife

SMALL = (8, 8, 8, 8)


def _frames(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return a, rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "flownet.pkl") -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


def _random_weights(tmp_path: Path, prefix: str = "") -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    state = build_ifnet(torch, SMALL).state_dict()
    return _save(tmp_path, {prefix + k: v for k, v in state.items()}), state


def _constant_model(tmp_path: Path, flows: dict[int, float], mask: float) -> Path:
    """Weights that are all zero but for biases making block 0 output constant maps."""
    state = {k: torch.zeros_like(v) for k, v in build_ifnet(torch, SMALL).state_dict().items()}
    bias = state["block0.lastconv.0.bias"]
    # PixelShuffle(2) makes output channel c from channels 4c..4c+3.
    for channel, value in flows.items():
        bias[4 * channel : 4 * channel + 4] = value
    bias[16:20] = mask
    return _save(tmp_path, state, "constant.pkl")


def test_default_widths_have_the_published_keys_and_shapes() -> None:
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build_ifnet(torch).state_dict().items()}
    names = set()
    for i in range(4):
        names |= {f"block{i}.conv0.{j}.0.{p}" for j in (0, 1) for p in ("weight", "bias")}
        names |= {f"block{i}.convblock.{j}.{p}" for j in range(8) for p in ("beta", "conv.weight")}
        names |= {f"block{i}.convblock.{j}.conv.bias" for j in range(8)}
        names |= {f"block{i}.lastconv.0.{p}" for p in ("weight", "bias")}
    assert set(shapes) == names and len(names) == 120
    assert shapes["block0.conv0.0.0.weight"] == (96, 7, 3, 3)
    assert shapes["block0.conv0.1.0.weight"] == (192, 96, 3, 3)
    assert shapes["block1.conv0.0.0.weight"] == (64, 12, 3, 3)
    assert shapes["block2.convblock.7.beta"] == (1, 96, 1, 1)
    assert shapes["block3.lastconv.0.weight"] == (64, 24, 4, 4)
    assert shapes["block3.lastconv.0.bias"] == (24,)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loaded_weights_equal_the_saved_ones(tmp_path: Path, prefix: str) -> None:
    path, state = _random_weights(tmp_path, prefix)
    model = load_rife(path, "cpu", widths=SMALL)
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert load_rife(path, "cpu", widths=SMALL) is model  # cached while the file is unchanged
    os.utime(path, ns=(1, 1))
    assert load_rife(path, "cpu", widths=SMALL) is not model


@pytest.mark.parametrize("size", [(45, 70), (32, 64), (1, 1)])
def test_output_is_rgb_uint8_of_the_input_size(tmp_path: Path, size: tuple[int, int]) -> None:
    rife = RifeInterpolator(_random_weights(tmp_path)[0], "cpu", widths=SMALL)
    a, b = _frames(*size)
    out = rife(a, b, 0.5)
    assert out.shape == (*size, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out, rife.interpolate(a, b, 0.5, (None, None)))  # deterministic


def test_endpoints_are_copies_of_the_sources(tmp_path: Path) -> None:
    rife = RifeInterpolator(_random_weights(tmp_path)[0], "cpu", widths=SMALL)
    a, b = _frames(45, 70)
    start, end = rife(a, b, 0.0), rife(a, b, 1.0)
    assert np.array_equal(start, a) and start is not a
    assert np.array_equal(end, b) and end is not b


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = _random_weights(tmp_path)[0]
    rife = RifeInterpolator(path, "cpu", widths=SMALL)
    a, b = _frames(40, 40)
    with pytest.raises(ValueError, match="within"):
        rife(a, b, 1.5)
    with pytest.raises(ValueError, match="differ"):
        rife(a, b[:20], 0.5)
    with pytest.raises(GeneratorError, match="scale"):
        RifeInterpolator(path, "cpu", 0.3, widths=SMALL)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_zero_weights_give_a_crossfade(tmp_path: Path, scale: float) -> None:
    # No flow and a mask of sigmoid(0) = 0.5: any error in padding, cropping, the warp's
    # grid or the blend shows as a difference from the plain average.
    rife = RifeInterpolator(_constant_model(tmp_path, {}, 0.0), "cpu", scale, widths=SMALL)
    a, b = _frames(45, 70)
    out = rife(a, b, 0.3)
    average = (a.astype(np.int16) + b) / 2
    assert np.abs(out - average).max() <= 1.0


@pytest.mark.parametrize(("channel", "mask", "source"), [(0, 30.0, 0), (3, -30.0, 1)])
def test_flow_is_in_pixels_and_warps_backwards(
    tmp_path: Path, channel: int, mask: float, source: int
) -> None:
    # Block 0 works at 1/8 size, so a flow of 0.5 there is 4 pixels; a mask of +30 takes
    # frame a warped by flow channels 0-1, -30 frame b warped by channels 2-3.
    rife = RifeInterpolator(_constant_model(tmp_path, {channel: 0.5}, mask), "cpu", widths=SMALL)
    frames = _frames(64, 96)
    out = rife(*frames, 0.5)
    expected = frames[source]
    if channel % 2 == 0:  # x: the output at x shows the source at x + 4
        assert np.array_equal(out[:, :-4], expected[:, 4:])
    else:
        assert np.array_equal(out[:-4], expected[4:])


def test_a_missing_key_or_wrong_shape_names_the_file(tmp_path: Path) -> None:
    small, state = _random_weights(tmp_path)
    with pytest.raises(
        GeneratorError, match=r"conv0\.0\.0\.weight is \(4, 7, 3, 3\), expected \(96,"
    ):
        load_rife(small, "cpu")  # small widths where the real ones are expected
    del state["block2.lastconv.0.bias"]
    path = _save(tmp_path, state, "missing.pkl")
    with pytest.raises(GeneratorError, match=r"missing\.pkl: not RIFE 4\.6.*missing block2"):
        load_rife(path, "cpu", widths=SMALL)
    state["block2.lastconv.0.bias"] = torch.zeros(20)
    path = _save(tmp_path, state, "shape.pkl")
    with pytest.raises(GeneratorError, match=r"shape\.pkl.*lastconv\.0\.bias is \(20,\)"):
        load_rife(path, "cpu", widths=SMALL)
    state["block2.lastconv.0.bias"] = torch.zeros(24)
    state["encode.0.weight"] = torch.zeros(1)
    path = _save(tmp_path, state, "extra.pkl")
    with pytest.raises(GeneratorError, match=r"extra\.pkl.*unexpected encode\.0\.weight"):
        load_rife(path, "cpu", widths=SMALL)


def test_files_that_are_not_state_dicts_are_refused(tmp_path: Path) -> None:
    listed = _save(tmp_path, [torch.zeros(3)], "list.pkl")  # type: ignore[arg-type]
    with pytest.raises(GeneratorError, match=r"list\.pkl.*expected a state dict.*list"):
        load_rife(listed, "cpu")
    text = tmp_path / "notes.pkl"
    text.write_text("not a checkpoint")
    with pytest.raises(GeneratorError, match=r"notes\.pkl.*cannot load"):
        load_rife(text, "cpu")
    with pytest.raises(GeneratorError, match=r"absent\.pkl: cannot read"):
        RifeInterpolator(tmp_path / "absent.pkl", "cpu")


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, filmkit.render.rife; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
