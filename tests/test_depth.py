"""Depth maps and the camera over them: focus blur, parallax, reading and inferring depth,
and the procedural room's own depth output."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from filmkit.generators.base import Request
from filmkit.generators.image import room
from filmkit.generators.image.room import ProceduralRoom
from filmkit.render.depth import focus_blur, model_depth, parallax, read_depth

H, W = 240, 320
BANDS = (slice(16, 64), slice(96, 144), slice(176, 224))  # rows of three depth bands, inset


def _noise(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _bands() -> np.ndarray:
    """Depth 0 over the top third, 128 over the middle, 255 over the bottom."""
    depth = np.full((H, W), 128, np.uint8)
    depth[: H // 3] = 0
    depth[2 * H // 3 :] = 255
    return depth


def _detail(pixels: np.ndarray) -> float:
    """High-frequency energy: variance of the Laplacian."""
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_focus_blur_keeps_the_focus_plane_sharp() -> None:
    pixels, depth = _noise(), _bands()
    out = focus_blur(pixels, depth, 0.0, 12.0)
    near, middle, far = (out[rows] for rows in BANDS)
    assert _diff(near, pixels[BANDS[0]]) < 1.0
    original = _detail(pixels[BANDS[1]])
    # Farther from focus, less detail: the middle band is 6 px out, the far band 12 px.
    assert _detail(far) < _detail(middle) < 0.3 * original


def test_focus_blur_follows_the_focus() -> None:
    pixels, depth = _noise(1), _bands()
    for focus, sharp in ((0.0, 0), (128 / 255, 1), (1.0, 2)):
        out = focus_blur(pixels, depth, focus, 12.0)
        for band, rows in enumerate(BANDS):
            if band == sharp:
                assert _diff(out[rows], pixels[rows]) < 1.5, (focus, band)
            else:
                assert _detail(out[rows]) < 0.3 * _detail(pixels[rows]), (focus, band)


def test_focus_blur_without_defocus_is_the_picture() -> None:
    pixels = _noise(2)
    flat = np.full((H, W), 100, np.uint8)
    assert np.array_equal(focus_blur(pixels, flat, 100 / 255, 20.0), pixels)
    assert np.array_equal(focus_blur(pixels, _bands(), 0.3, 0.0), pixels)
    with pytest.raises(ValueError):
        focus_blur(pixels, flat[:10], 0.5, 4.0)


def test_a_sharp_subject_does_not_smear_into_the_blurred_background() -> None:
    background = cv2.GaussianBlur(_noise(3), (0, 0), 1.0) // 4  # dark, textured
    pixels, depth = background.copy(), np.full((H, W), 255, np.uint8)
    pixels[80:160, 120:200] = 255  # a bright subject, in focus at the front
    depth[80:160, 120:200] = 0
    out = focus_blur(pixels, depth, 0.0, 16.0)
    assert np.array_equal(out[84:156, 124:196], pixels[84:156, 124:196])
    alone = focus_blur(background, np.full((H, W), 255, np.uint8), 0.0, 16.0)
    ring = np.zeros((H, W), bool)
    ring[72:168, 112:208] = True
    ring[80:160, 120:200] = False
    # Next to the subject the background is what it would be without the subject (a plain blur
    # would brighten it by tens of levels).
    assert _diff(out[ring], alone[ring]) < 1.5
    naive = cv2.GaussianBlur(pixels, (0, 0), 8.0)
    assert _diff(naive[ring], alone[ring]) > 20.0


def _square() -> tuple[np.ndarray, np.ndarray]:
    pixels = _noise(4, 120, 160)
    depth = np.full((120, 160), 255, np.uint8)
    pixels[40:80, 50:90] = (255, 0, 0)
    depth[40:80, 50:90] = 0
    return pixels, depth


def test_parallax_moves_the_near_square_and_not_the_far_plane() -> None:
    pixels, depth = _square()
    moved, moved_depth = parallax(pixels, depth, (10.0, 0.0))
    assert (moved[40:80, 60:100] == (255, 0, 0)).all()
    assert (moved_depth[40:80, 60:100] == 0).all()
    away = np.ones((120, 160), bool)
    away[37:83, 47:103] = False  # the square's old and new places, with a margin
    assert np.array_equal(moved[away], pixels[away])
    assert (moved_depth[away] == 255).all()
    # Where the square was, the hole is background (stretched from its edge), at its depth.
    hole = moved[45:75, 52:58].reshape(-1, 3)
    assert not (hole == (255, 0, 0)).all(axis=1).any()
    assert (moved_depth[40:80, 50:60] == 255).all()


def test_parallax_near_wins_where_surfaces_overlap() -> None:
    pixels, depth = _square()
    pixels[:, 95:100] = (0, 0, 255)  # a far blue stripe the square moves over
    moved, moved_depth = parallax(pixels, depth, (10.0, 0.0))
    assert (moved[40:80, 95:100] == (255, 0, 0)).all()
    assert (moved[:35, 95:100] == (0, 0, 255)).all()


def test_parallax_zero_move_and_far_plane_are_unchanged() -> None:
    pixels, depth = _square()
    same, same_depth = parallax(pixels, depth, (0.0, 0.0))
    assert np.array_equal(same, pixels) and np.array_equal(same_depth, depth)
    far = np.full(depth.shape, 255, np.uint8)
    pushed, pushed_depth = parallax(pixels, far, (6.0, -4.0), 1.3)
    assert np.array_equal(pushed, pixels) and np.array_equal(pushed_depth, far)


def test_parallax_zoom_scales_the_nearest_plane_about_the_centre() -> None:
    ys, xs = np.mgrid[0:121, 0:161].astype(np.float32)
    smooth = np.dstack([xs, ys, xs + ys]).astype(np.uint8)
    near = np.zeros((121, 161), np.uint8)
    zoomed, _ = parallax(smooth, near, (0.0, 0.0), 2.0)
    # The centre stays; a pixel 20 px right of it now shows what was 10 px right.
    assert np.array_equal(zoomed[60, 80], smooth[60, 80])
    assert np.abs(zoomed[60, 100].astype(int) - smooth[60, 90]).max() <= 1


def _write(path: Path, array: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), array)
    return path


def test_read_depth_8_and_16_bit_and_light_near(tmp_path: Path) -> None:
    ramp8 = np.tile(np.arange(256, dtype=np.uint8), (10, 1))
    ramp16 = ramp8.astype(np.uint16) * 257
    eight = read_depth(_write(tmp_path / "d8.png", ramp8), (256, 10))
    sixteen = read_depth(_write(tmp_path / "d16.png", ramp16), (256, 10))
    assert eight.dtype == np.uint8 and eight.shape == (10, 256)
    assert np.array_equal(eight, ramp8) and np.array_equal(sixteen, ramp8)
    light = read_depth(tmp_path / "d16.png", (256, 10), near="light")
    assert np.array_equal(light, 255 - ramp8)
    half = read_depth(tmp_path / "d16.png", (128, 5))
    assert half.shape == (5, 128) and abs(int(half[2, 64]) - 128) <= 1


def test_read_depth_of_a_colour_picture_is_its_luminance(tmp_path: Path) -> None:
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[:, :, 1] = 200  # green
    got = read_depth(_write(tmp_path / "c.png", bgr), (8, 8))
    assert np.all(np.abs(got.astype(int) - round(200 * 0.587)) <= 1)
    with pytest.raises(ValueError, match="missing.png"):
        read_depth(tmp_path / "missing.png", (8, 8))


def _export(module: object, path: Path, size: tuple[int, int]) -> Path:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.onnx's TorchScript exporter is deprecated
        torch.onnx.export(module, (torch.zeros(1, 3, size[1], size[0]),), str(path), dynamo=False)
    return path


def _red_model(path: Path, channels: int = 1) -> Path:
    """A 1x1 convolution whose output is the red channel: fixed weights, known answer."""
    import torch

    conv = torch.nn.Conv2d(3, channels, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0] = 1.0
        conv.bias.zero_()
    return _export(conv.eval(), path, (32, 24))


def test_model_depth_runs_an_onnx_model(tmp_path: Path) -> None:
    model = _red_model(tmp_path / "red.onnx")
    pixels = _noise(5, 48, 64)
    pixels[..., 0] = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    red = cv2.resize(pixels, (32, 24), interpolation=cv2.INTER_AREA)[..., 0].astype(np.float32)
    lo, hi = np.percentile(red, [2, 98])
    expected = cv2.resize(np.clip((red - lo) / (hi - lo), 0, 1), (64, 48)) * 255
    as_depth = model_depth(pixels, model, (32, 24), output="depth", normalise=False)
    assert as_depth.shape == (48, 64) and as_depth.dtype == np.uint8
    assert np.abs(as_depth - expected).max() <= 1.0
    # Inverse depth reads the other way; ImageNet standardising is affine, so it drops out.
    inverse = model_depth(pixels, model, (32, 24), output="inverse")
    assert np.abs(inverse - (255 - expected)).max() <= 1.0


def test_model_depth_errors_name_the_file(tmp_path: Path) -> None:
    pixels = _noise(6, 24, 32)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.onnx"):
        model_depth(pixels, bad)
    with pytest.raises(ValueError, match="absent.onnx"):
        model_depth(pixels, tmp_path / "absent.onnx")
    two = _red_model(tmp_path / "two.onnx", channels=2)
    with pytest.raises(ValueError, match=r"two.onnx.*\(1, 2, 24, 32\)"):
        model_depth(pixels, two, (32, 24))


def test_room_writes_its_depth(tmp_path: Path) -> None:
    params = room.Params(style="waiting_room", chairs=3, plant=True, door=True, window=True)
    outputs = {"image": tmp_path / "room.png", "depth": tmp_path / "depth.png"}
    meta = ProceduralRoom().generate(
        Request(params=params, seed=4, outputs=outputs, size=(320, 180))
    )
    with Image.open(outputs["depth"]) as img:
        assert img.size == (320, 180) and img.mode.startswith("I")
    grey = cv2.imread(str(outputs["depth"]), cv2.IMREAD_UNCHANGED)
    assert grey.dtype == np.uint16 and grey.shape == (180, 320)
    # The floor comes nearer toward the bottom of the frame; the back wall is far behind it.
    column = grey[130:, 160].astype(int)
    assert np.all(np.diff(column) <= 0) and column[0] - column[-1] > 10000
    assert grey[-3:].mean() < 3000 and grey[60:80, 140:180].mean() > 60000
    assert 0 < meta["depth_near"] < meta["depth_far"]
    assert read_depth(outputs["depth"], (160, 90)).shape == (90, 160)
    # The picture does not depend on whether its depth was asked for.
    alone = {"image": tmp_path / "alone.png"}
    ProceduralRoom().generate(Request(params=params, seed=4, outputs=alone, size=(320, 180)))
    assert alone["image"].read_bytes() == outputs["image"].read_bytes()
