"""Compositing: blend modes, keyframed transforms (position, scale, rotation, opacity,
easing) on pictures, text and video, and a video's Ken Burns move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filmkit.errors import SpecError
from filmkit.project import Project
from filmkit.render.encoder import write_video
from filmkit.render.frames import ShotFrames
from tests.test_effects import BIG, CAMERA, detail, effects_film, registry, texture
from tests.test_frames import FPS, LOSSLESS, SIZE, layer, shot, solid

BASE, TOP = (64, 128, 192), (192, 128, 64)


def expected_blend(mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The blend of top ``b`` over base ``a`` (0-255 floats), by the usual formulas."""
    overlay = np.where(a < 128, 2 * a * b / 255, 255 - 2 * (255 - a) * (255 - b) / 255)
    hard = np.where(b < 128, 2 * a * b / 255, 255 - 2 * (255 - a) * (255 - b) / 255)
    return {
        "multiply": a * b / 255,
        "screen": 255 - (255 - a) * (255 - b) / 255,
        "overlay": overlay,
        "hard-light": hard,
        "add": np.minimum(a + b, 255),
        "lighten": np.maximum(a, b),
        "darken": np.minimum(a, b),
        "difference": np.abs(a - b),
    }[mode]


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


@pytest.mark.parametrize(
    "mode",
    ["multiply", "screen", "overlay", "hard-light", "add", "lighten", "darken", "difference"],
)
@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_a_blend_mode_mixes_the_layer_with_what_is_below(mode: str, opacity: float) -> None:
    below = layer("color", color=hex_colour(BASE))
    top = layer("color", color=hex_colour(TOP), blend=mode, opacity=opacity)
    with ShotFrames(shot(below, top), {}) as frames:
        pixel = frames.frame(0)[5, 5].astype(float)
    a, b = np.array(BASE, float), np.array(TOP, float)
    expected = a * (1 - opacity) + expected_blend(mode, a, b) * opacity
    assert np.abs(pixel - expected).max() <= 1.5


def test_a_multiplied_picture_darkens_only_where_it_is_dark(tmp_path: Path) -> None:
    pixels = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    pixels[:, : SIZE[0] // 2] = 0
    from tests.test_frames import picture

    inputs = {"layer1": picture(tmp_path / "half.png", pixels)}
    params = shot(layer("color", color=hex_colour(BASE)), layer("image", blend="multiply"))
    with ShotFrames(params, inputs) as frames:
        frame = frames.frame(0)
    assert tuple(frame[5, 5]) == (0, 0, 0) and tuple(frame[5, -5]) == BASE


def key(at: float, **values: Any) -> dict[str, Any]:
    """A keyframe as the planner passes it."""
    fields = {"position": None, "scale": None, "rotation": None, "opacity": None}
    return {"at": at, "ease": "linear", **fields, **values}


def red_pixels(frame: np.ndarray) -> np.ndarray:
    """(row, column) of the strongly red pixels."""
    return np.argwhere((frame[..., 0] > 160) & (frame[..., 1] < 90) & (frame[..., 2] < 90))


def keyed_square(tmp_path: Path, keys: list[dict[str, Any]], size: tuple[int, int] = (8, 8)):
    """Frames of a red picture keyed over black, as a generator of frames by index."""
    inputs = {"layer0": solid(tmp_path / "red.png", size, (255, 0, 0, 255))}
    red = layer("image", fit="height", scale=size[1] / SIZE[1], keys=keys)
    return ShotFrames(shot(red, size=list(SIZE)), inputs)


def test_keys_move_a_picture_between_positions(tmp_path: Path) -> None:
    keys = [key(0.0, position=[0.25, 0.5]), key(1.0, position=[0.75, 0.5])]
    with keyed_square(tmp_path, keys) as frames:
        first, middle = red_pixels(frames.frame(0)), red_pixels(frames.frame(6))
    assert first[:, 1].mean() == pytest.approx(0.25 * SIZE[0] - 0.5, abs=0.5)
    assert middle[:, 1].mean() == pytest.approx(0.5 * SIZE[0] - 0.5, abs=0.5)
    assert middle[:, 0].mean() == pytest.approx(SIZE[1] / 2 - 0.5, abs=0.5)
    assert len(first) == pytest.approx(64, abs=8)


def test_an_eased_key_starts_slow(tmp_path: Path) -> None:
    keys = [key(0.0, position=[0.25, 0.5]), key(1.0, position=[0.75, 0.5], ease="in")]
    with keyed_square(tmp_path, keys) as frames:
        middle = red_pixels(frames.frame(6))
    # Ease in: a quarter of the way at half the time.
    assert middle[:, 1].mean() == pytest.approx((0.25 + 0.5 * 0.25) * SIZE[0] - 0.5, abs=0.5)


def test_keys_scale_and_turn_a_picture_about_its_anchor(tmp_path: Path) -> None:
    keys = [key(0.0), key(0.5, scale=2.0, rotation=90.0)]
    with keyed_square(tmp_path, keys, size=(16, 4)) as frames:
        flat, turned = red_pixels(frames.frame(0)), red_pixels(frames.frame(6))
    width = np.ptp(flat[:, 1]) + 1, np.ptp(flat[:, 0]) + 1
    assert width == pytest.approx((16, 4), abs=1)
    # Twice as big and on its side, about the centre (the anchor).
    assert (np.ptp(turned[:, 1]) + 1, np.ptp(turned[:, 0]) + 1) == pytest.approx((8, 32), abs=2)
    assert turned.mean(axis=0) == pytest.approx(flat.mean(axis=0), abs=0.6)


def test_a_held_opacity_key_switches_the_layer_on_at_its_time(tmp_path: Path) -> None:
    keys = [key(0.0, opacity=0.0), key(0.5, opacity=1.0, ease="hold")]
    with keyed_square(tmp_path, keys) as frames:
        shown = [len(red_pixels(frames.frame(i))) for i in range(frames.count)]
    assert shown[:6] == [0] * 6 and min(shown[6:]) > 50


def test_keyed_text_turns(tmp_path: Path) -> None:
    title = layer("text", text="IIII", size=40, color="#ff0000", keys=[key(0.0, rotation=90.0)])
    flat = layer("text", text="IIII", size=40, color="#ff0000")
    with ShotFrames(shot(flat, size=list(BIG)), {}) as frames:
        plain = red_pixels(frames.frame(0))
    with ShotFrames(shot(title, size=list(BIG)), {}) as frames:
        turned = red_pixels(frames.frame(0))
    assert np.ptp(plain[:, 1]) > np.ptp(plain[:, 0])  # wider than tall
    assert np.ptp(turned[:, 0]) > np.ptp(turned[:, 1])  # taller than wide


def quadrants_clip(tmp_path: Path) -> Path:
    """A video of four coloured quadrants, still."""
    pixels = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    h, w = SIZE[1] // 2, SIZE[0] // 2
    pixels[:h, :w], pixels[:h, w:] = (255, 0, 0), (0, 255, 0)
    pixels[h:, :w], pixels[h:, w:] = (0, 0, 255), (255, 255, 255)
    clip = tmp_path / "quadrants.mp4"
    write_video([pixels] * FPS, clip, FPS, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS)
    return clip


def test_a_video_moves_like_a_picture(tmp_path: Path) -> None:
    move = {"zoom": [2.0, 2.0], "x": [0.25, 0.25], "y": [0.25, 0.25]}
    video = layer("video", trim=None, loop=False, move=move)
    with ShotFrames(shot(video), {"layer0": quadrants_clip(tmp_path)}) as frames:
        frame = frames.frame(3).astype(int)
    # Zoomed into the top-left quadrant: all red, but for a pixel of filtering at the edges.
    inside = frame[1:-1, 1:-1]
    assert (inside[..., 0] > 240).mean() > 0.97 and (inside[..., 1:] < 15).mean() > 0.97


def test_keys_move_a_video_too(tmp_path: Path) -> None:
    keys = [key(0.0, position=[0.0, 0.5]), key(1.0, position=[1.0, 0.5])]
    video = layer("video", trim=None, loop=False, fit="contain", scale=0.25, keys=keys)
    with ShotFrames(shot(video), {"layer0": quadrants_clip(tmp_path)}) as frames:
        first, middle = frames.frame(0).astype(int), frames.frame(6).astype(int)
    lit = np.argwhere(first.sum(axis=2) > 200)[:, 1]
    assert lit.max() < SIZE[0] * 0.2  # centred on the left edge, half off the frame
    lit = np.argwhere(middle.sum(axis=2) > 200)[:, 1]
    assert lit.mean() == pytest.approx(SIZE[0] / 2, abs=1.5)


def test_a_keyed_layers_depth_follows_it(tmp_path: Path) -> None:
    """A keyed near patch stays sharp where it has moved; the far wall behind is blurred."""
    inputs = {
        "layer0": texture(tmp_path / "far.png", BIG, 1),
        "layer1": texture(tmp_path / "near.png", (48, 48), 2),
    }
    keys = [key(0.0, position=[0.75, 0.5])]
    near = layer("image", depth=0.0, fit="contain", scale=48 / 144, keys=keys)
    params = shot(layer("image", depth=1.0), near, size=list(BIG))
    with ShotFrames(params, inputs) as frames:
        plain = frames.frame(0).copy()
    camera = CAMERA | {"focus": [0.0, 0.0], "aperture": 30.0}
    with ShotFrames(params | {"camera": camera}, inputs) as frames:
        seen = frames.frame(0).copy()
    patch = (slice(56, 88), slice(176, 208))  # inside the patch at three quarters across
    assert np.abs(seen[patch].astype(int) - plain[patch]).mean() < 2
    assert detail(seen[:, :100]) < detail(plain[:, :100]) / 4


@pytest.mark.parametrize(
    ("layer_text", "message"),
    [
        ("      - color: '#102030'\n        keys: [{at: 0, scale: 2}]\n", "nothing to move"),
        (
            "      - image: photo.png\n        move: {zoom: [1, 2]}\n"
            "        keys: [{at: 0, scale: 2}]\n",
            "not both",
        ),
        ("      - image: photo.png\n        keys: [{at: 1}, {at: 0.5}]\n", "time order"),
        ("      - image: photo.png\n        blend: burn\n", "multiply"),
        ("      - image: photo.png\n        keys: [{at: 0, ease: bounce}]\n", "in-out"),
        ("      - image: photo.png\n        upscale: esrgan.pth\n", "not found: esrgan.pth"),
    ],
)
def test_compositing_mistakes_are_reported_where_they_are_written(
    tmp_path: Path, layer_text: str, message: str
) -> None:
    root = effects_film(tmp_path, layer_text)
    solid(root / "photo.png", (8, 8), (1, 2, 3))
    with pytest.raises(SpecError) as info:
        Project(root, registry()).plan()
    rendered = info.value.render()
    assert rendered.startswith("scenes/02.yaml:") and message in rendered


def test_layers_without_keys_or_a_blend_keep_their_params(tmp_path: Path) -> None:
    root = effects_film(tmp_path, "      - image: photo.png\n        blend: screen\n")
    solid(root / "photo.png", (8, 8), (1, 2, 3))
    plan = Project(root, registry()).plan()
    layers = [step.params_value()["layers"] for step in plan.steps if step.id.startswith("shot:")]
    flat = [entry for shot_layers in layers for entry in shot_layers]
    assert {entry.get("blend") for entry in flat} == {None, "screen"}
    assert all("keys" not in entry for entry in flat)


def test_an_upscaled_picture_is_enlarged_once_by_its_network(tmp_path: Path) -> None:
    import torch

    from tests.test_upscale import _identity_like

    root = effects_film(tmp_path, "      - image: photo.png\n        upscale: x4.pth\n")
    torch.save({"params_ema": _identity_like()}, root / "x4.pth")  # nearest-neighbour x4
    solid(root / "photo.png", (10, 6), (200, 40, 90))
    first = statuses_and_meta(root)
    assert first["upscale:two/b/2"][0] == "ran"
    assert first["upscale:two/b/2"][1]["size"] == [40, 24]
    scene = root / "scenes" / "02.yaml"
    scene.write_text(scene.read_text().replace("Goodbye now.", "Goodbye, then."))
    again = statuses_and_meta(root)
    assert again["upscale:two/b/2"][0] == "cached" and again["shot:two/b"][0] == "ran"


def statuses_and_meta(root: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    import json

    Project(root, registry()).build()
    report = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: (step["status"], step.get("meta", {})) for step in report["steps"]}


def test_a_retiming_networks_weights_are_an_input_of_its_shot(tmp_path: Path) -> None:
    root = effects_film(
        tmp_path, "      - video: clip.mp4\n        retime: {speed: 0.5, model: rife.pkl}\n"
    )
    (root / "clip.mp4").write_bytes(b"")
    (root / "rife.pkl").write_bytes(b"weights")
    plan = Project(root, registry()).plan()
    inputs = {item.name: item.file for item in plan["shot:two/b"].inputs}
    assert inputs["layer1.retime"] == "rife.pkl" and inputs["layer1"] == "clip.mp4"
