"""Composite effects in shots: masks, depth and the camera, retimed video, styled frames.

The effects' own numerics are tested in test_masks, test_depth, test_retime and
test_style_transfer; here, that a shot's spec reaches them: pixels of composited
frames, the plan's inputs and training steps, located errors, and what an edit
re-renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from filmkit.errors import SpecError
from filmkit.generators.registry import Registry
from filmkit.project import Project
from filmkit.render.encoder import write_video
from filmkit.render.frames import ShotFrames
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, write_project
from tests.fakes import fake_registry
from tests.test_frames import FPS, LOSSLESS, SIZE, layer, picture, shot, solid

CAMERA = {"focus": [0.0, 0.0], "pull": None, "aperture": 0.0, "x": [0, 0], "y": [0, 0]}
CAMERA |= {"push": [1.0, 1.0]}
BIG = (256, 144)
# A mask as the planner passes it: the subject, cut out without a model.
SUBJECT = {"subject": True, "key": None, "tolerance": 0.15, "softness": 0.1}
SUBJECT |= {"model": None, "model_size": [256, 256], "invert": False}


def registry() -> Registry:
    """The test backends, with the real room (it draws depth) and the real style trainer."""
    targets = fake_registry().targets()
    targets["image/room"] = "filmkit.generators.image.room:ProceduralRoom"
    targets["model/style"] = "filmkit.generators.style.fast:StyleTrainer"
    return Registry(targets)


def texture(path: Path, size: tuple[int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    return picture(path, rng.integers(0, 256, size=(size[1], size[0], 3)))


def detail(pixels: np.ndarray) -> float:
    """How much fine detail a region has: the variance of its Laplacian."""
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var())


def two_planes(tmp_path: Path, **camera: object) -> tuple[np.ndarray, np.ndarray]:
    """Frame 0 of a near textured patch over a far textured wall, without and with a camera."""
    inputs = {
        "layer0": texture(tmp_path / "far.png", BIG, 1),
        "layer1": texture(tmp_path / "near.png", (64, 48), 2),
    }
    far = layer("image", depth=1.0)
    near = layer("image", depth=0.0, fit="contain", scale=48 / 144)
    with ShotFrames(shot(far, near, size=list(BIG)), inputs) as frames:
        plain = frames.frame(0).copy()
    with ShotFrames(shot(far, near, size=list(BIG), camera=CAMERA | camera), inputs) as frames:
        seen = frames.frame(0).copy()
    return plain, seen


def test_the_camera_keeps_the_depth_in_focus_sharp_and_blurs_the_rest(tmp_path: Path) -> None:
    plain, near_focus = two_planes(tmp_path, focus=[0.0, 0.0], aperture=30.0)
    middle, corner = (slice(56, 88), slice(100, 156)), (slice(0, 40), slice(0, 60))
    assert np.abs(near_focus[middle].astype(int) - plain[middle]).mean() < 2
    assert detail(near_focus[corner]) < detail(plain[corner]) / 4
    _, far_focus = two_planes(tmp_path, focus=[1.0, 1.0], aperture=30.0)
    assert np.abs(far_focus[corner].astype(int) - plain[corner]).mean() < 2
    assert detail(far_focus[middle]) < detail(plain[middle]) / 4


def test_a_camera_move_shifts_near_layers_and_leaves_the_far_wall(tmp_path: Path) -> None:
    wall = np.random.default_rng(1).integers(0, 150, size=(BIG[1], BIG[0], 3))  # nothing red
    inputs = {
        "layer0": picture(tmp_path / "far.png", wall),
        "layer1": solid(tmp_path / "red.png", (24, 24), (255, 0, 0, 255)),
    }
    far = layer("image", depth=1.0)
    near = layer("image", depth=0.0, fit="contain", scale=24 / 144)
    camera = CAMERA | {"x": [0.1, 0.1]}  # the nearest depth a tenth of the frame to the right
    with ShotFrames(shot(far, near, size=list(BIG)), inputs) as frames:
        plain = frames.frame(0).copy()
    with ShotFrames(shot(far, near, size=list(BIG), camera=camera), inputs) as frames:
        moved = frames.frame(0).copy()

    def red(pixels: np.ndarray) -> np.ndarray:
        return np.argwhere((pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60))

    shift = red(moved)[:, 1].mean() - red(plain)[:, 1].mean()
    assert shift == pytest.approx(0.1 * BIG[0], abs=1.0)
    assert len(red(moved)) == pytest.approx(len(red(plain)), rel=0.1)
    assert np.array_equal(moved[:, :80], plain[:, :80])  # the far wall, away from the patch


def test_titles_above_the_layers_with_a_depth_stay_sharp(tmp_path: Path) -> None:
    inputs = {"layer0": texture(tmp_path / "far.png", BIG, 1)}
    title = layer("text", text="AB", size=400, fit="contain", color="#ffffff")
    camera = CAMERA | {"focus": [0.0, 0.0], "aperture": 30.0}
    params = shot(layer("image", depth=1.0), title, size=list(BIG))
    with ShotFrames(params, inputs) as frames:
        plain = frames.frame(0).copy()
    with ShotFrames(params | {"camera": camera}, inputs) as frames:
        seen = frames.frame(0).copy()
    white = (plain == 255).all(axis=2)
    assert white.sum() > 200 and (seen[white] >= 247).all()  # an edge pixel may blend a level
    assert detail(seen[:30, :40]) < detail(plain[:30, :40]) / 4  # the wall behind is blurred


def test_a_keyed_picture_shows_the_layer_below_through_its_backdrop(tmp_path: Path) -> None:
    pixels = np.zeros((36, 64, 3), np.uint8)
    pixels[:] = (20, 190, 40)
    pixels[10:26, 24:40] = (220, 30, 30)
    inputs = {"layer1": picture(tmp_path / "green.png", pixels)}
    mask = {"subject": False, "key": "#14be28", "tolerance": 0.15, "softness": 0.1}
    mask |= {"model": None, "model_size": [256, 256], "invert": False}
    keyed = layer("image", mask=mask)
    with ShotFrames(shot(layer("color", color="#0000ff"), keyed), inputs) as frames:
        frame = frames.frame(0)
    assert tuple(frame[2, 2]) == (0, 0, 255)
    assert frame[18, 32, 0] > 200 and frame[18, 32, 2] < 60


@pytest.mark.parametrize("how", ["nearest", "blend", "flow"])
def test_a_retimed_video_plays_slower_with_in_between_frames(tmp_path: Path, how: str) -> None:
    clip = tmp_path / "greys.mp4"
    greys = [np.full((36, 64, 3), 30 * n, dtype=np.uint8) for n in range(6)]
    write_video(greys, clip, 6, SIZE, 6, preset="ultrafast", codec_args=LOSSLESS)
    retime = {"speed": 0.5, "duration": None, "frames": how}
    params = shot(layer("video", trim=None, loop=False, retime=retime), duration=1.0)
    with ShotFrames(params, {"layer0": clip}) as frames:
        shown = np.array([float(np.median(frames.frame(i))) for i in range(frames.count)])
    # At 12 fps and half speed, a 6 fps clip moves a quarter of a frame each frame.
    position = np.arange(FPS) * 0.25
    expected = 30 * (np.floor(position + 0.5) if how == "nearest" else position)  # halves: up
    assert np.abs(shown - expected).max() <= 3


def effects_film(tmp_path: Path, shot_b: str) -> Path:
    scene = SCENE_TWO.replace("      - generate: room\n        opacity: 0.5\n", shot_b)
    return write_project(tmp_path, film=TINY_FILM, scenes={"01.yaml": SCENE_ONE, "02.yaml": scene})


def statuses(root: Path) -> dict[str, str]:
    Project(root, registry()).build()
    report = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step["status"] for step in report["steps"]}


@pytest.mark.slow
def test_changing_one_shots_camera_re_renders_that_shot_only(tmp_path: Path) -> None:
    root = effects_film(
        tmp_path,
        "      - generate: {backend: image/room, params: {style: corridor}}\n"
        "        depth: generated\n"
        "      - character: ada\n"
        "        depth: 0.1\n"
        "    camera: {focus: [1, 0.1], aperture: 4, x: [0, 0.03]}\n",
    )
    first = statuses(root)
    assert first["shot:two/b"] == "ran"
    scene = root / "scenes" / "02.yaml"
    scene.write_text(scene.read_text().replace("aperture: 4", "aperture: 6"))
    after = statuses(root)
    ran = sorted(step for step, status in after.items() if status == "ran")
    assert ran == ["cut", "reel:two", "shot:two/b", "transition:two/b"]


def test_a_styled_shot_trains_its_networks_each_with_its_own_seed(tmp_path: Path) -> None:
    texture(tmp_path / "sketch.png", (32, 32), 5)
    root = effects_film(
        tmp_path,
        "      - generate: room\n    style: {image: sketch.png, models: 3, every: 2}\n",
    )
    plan = Project(root, registry()).plan()
    models = [s for s in plan if s.id.startswith("model:style/two/b/")]
    assert len(models) == 3 and len({s.seed for s in models}) == 3
    assert len({s.params for s in models}) == 1
    shot_b = plan["shot:two/b"]
    names = {i.name: i for i in shot_b.inputs}
    assert [names[f"style{n}"].step for n in range(3)] == [s.id for s in models]
    trained_on = {i.name: i.step for i in models[0].inputs}
    assert trained_on["content0"] == names["layer1"].step  # the room, not the colour
    # How often a network changes is the shot's business; the networks stay trained.
    scene = root / "scenes" / "02.yaml"
    scene.write_text(scene.read_text().replace("every: 2", "every: 3"))
    again = Project(root, registry()).plan()
    assert [again[s.id].params for s in models] == [s.params for s in models]
    assert again["shot:two/b"].params != shot_b.params


@pytest.mark.parametrize(
    ("layer_text", "message"),
    [
        (
            "      - image: photo.png\n        mask: {model: seg.pt}\n",
            "expected a .onnx file, not 'seg.pt'",
        ),
        ("      - image: photo.png\n        depth: generated\n", "only a generated layer has"),
        ("      - generate: room\n        depth: generated\n", "image/swatch makes no depth map"),
        ("      - image: photo.png\n        depth: {file: nowhere.png}\n", "not found: nowhere"),
        ("      - video: clip.mp4\n        retime: {speed: 0.5, duration: 2}\n", "exactly one"),
        ("      - video: clip.mp4\n        depth: {file: photo.png}\n", "needs a picture layer"),
        ('      - text: "Hi"\n        depth: {model: seg.onnx}\n', "needs a picture layer"),
        ("      - image: photo.png\n    camera: {aperture: 5}\n", "no layer with a depth"),
        (
            "      - video: clip.mp4\n        retime: {speed: 0.5, model: rife.pkl}\n",
            "not found: rife.pkl",
        ),
        (
            "      - video: clip.mp4\n        retime: {speed: 0.5, model: a.pkl, frames: blend}\n",
            "leave `frames:` out",
        ),
    ],
)
def test_effect_mistakes_are_reported_where_they_are_written(
    tmp_path: Path, layer_text: str, message: str
) -> None:
    root = effects_film(tmp_path, layer_text)
    solid(root / "photo.png", (8, 8), (1, 2, 3))
    (root / "seg.pt").write_bytes(b"")
    (root / "seg.onnx").write_bytes(b"")
    (root / "clip.mp4").write_bytes(b"")
    with pytest.raises(SpecError) as info:
        Project(root, registry()).plan()
    rendered = info.value.render()
    assert rendered.startswith("scenes/02.yaml:") and message in rendered


def styled_wall(tmp_path: Path) -> dict[str, Path]:
    """A textured wall and two style networks trained with different seeds, as shot inputs."""
    from tests.test_style_transfer import _train

    weights = [_train(tmp_path, seed, "net")[0] for seed in (1, 2)]
    inputs = {"layer0": texture(tmp_path / "wall.png", (96, 64), 3)}
    return inputs | {f"style{n}": path for n, path in enumerate(weights)}


def test_a_styled_shot_draws_each_frame_with_its_picked_network(tmp_path: Path) -> None:
    inputs = styled_wall(tmp_path)
    style = {"models": 2, "every": 3, "strength": 1.0, "seed": 11}
    params = shot(layer("image"), size=[96, 64], style=style)
    with ShotFrames(params, inputs) as frames:
        drawn = [frames.frame(i).copy() for i in range(7)]
    with ShotFrames(params | {"style": style | {"strength": 0.0}}, inputs) as frames:
        plain = frames.frame(0).copy()
    # A still picture, yet a new drawing every 3 frames: the two networks take turns.
    assert np.array_equal(drawn[0], drawn[2]) and not np.array_equal(drawn[2], drawn[3])
    assert np.array_equal(drawn[0], drawn[6]) and not np.array_equal(drawn[0], plain)


def test_a_video_at_a_depth_is_blurred_out_of_focus(tmp_path: Path) -> None:
    clip = tmp_path / "noise.mp4"
    rng = np.random.default_rng(4)
    noise = [rng.integers(0, 256, size=(BIG[1], BIG[0], 3)).astype(np.uint8) for _ in range(3)]
    write_video(noise, clip, 3, BIG, FPS, preset="ultrafast", codec_args=LOSSLESS)
    video = layer("video", trim=None, loop=False, depth=1.0)
    params = shot(video, size=list(BIG))
    with ShotFrames(params, {"layer0": clip}) as frames:
        plain = frames.frame(0).copy()
    camera = CAMERA | {"focus": [0.0, 0.0], "aperture": 30.0}
    with ShotFrames(params | {"camera": camera}, {"layer0": clip}) as frames:
        blurred = frames.frame(0).copy()
    assert detail(blurred) < detail(plain) / 4
    in_focus = CAMERA | {"focus": [1.0, 1.0], "aperture": 30.0}
    with ShotFrames(params | {"camera": in_focus}, {"layer0": clip}) as frames:
        assert np.abs(frames.frame(0).astype(int) - plain).mean() < 2


def test_a_steadied_style_boils_less_and_starts_from_the_plain_drawing(tmp_path: Path) -> None:
    inputs = styled_wall(tmp_path)
    style = {"models": 2, "every": 1, "strength": 1.0, "seed": 11}
    params = shot(layer("image"), size=[96, 64], style=style)

    def drawn(**more: float) -> list[np.ndarray]:
        with ShotFrames(params | {"style": style | more}, inputs) as frames:
            return [frames.frame(i).astype(int) for i in range(6)]

    def boil(frames: list[np.ndarray]) -> float:
        return float(
            np.mean([np.abs(b - a).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)])
        )

    plain, steady = drawn(), drawn(steady=0.8)
    assert np.array_equal(plain[0], steady[0])
    assert boil(steady) < 0.5 * boil(plain)


def test_a_retimed_video_takes_its_in_betweens_from_a_rife_network(tmp_path: Path) -> None:
    import torch

    from filmkit.render.rife import build_ifnet

    # A RIFE network with every weight zero: no motion and a half-and-half mask, so each
    # in-between frame is an even mix of its two neighbours (the network: test_rife).
    weights = tmp_path / "flownet.pkl"
    net = build_ifnet(torch)
    torch.save({k: torch.zeros_like(v) for k, v in net.state_dict().items()}, weights)
    clip = tmp_path / "greys.mp4"
    greys = [np.full((36, 64, 3), 40 * n, dtype=np.uint8) for n in range(6)]
    write_video(greys, clip, 6, SIZE, 6, preset="ultrafast", codec_args=LOSSLESS)
    retime = {"speed": 0.5, "duration": None, "frames": "flow", "model": "flownet.pkl"}
    params = shot(layer("video", trim=None, loop=False, retime=retime), duration=0.5)
    with ShotFrames(params, {"layer0": clip, "layer0.retime": weights}) as frames:
        shown = np.array([float(np.median(frames.frame(i))) for i in range(frames.count)])
    position = np.arange(frames.count) * 0.25
    whole = position == np.floor(position)
    expected = 40 * np.where(whole, position, np.floor(position) + 0.5)
    assert np.abs(shown - expected).max() <= 3


def test_a_videos_subject_is_cut_out_of_every_frame(tmp_path: Path) -> None:
    from tests.test_subject_video import clip as moving_figure
    from tests.test_subject_video import iou

    pictures, covers = moving_figure(6, 0.35, 5.0)
    height, width = pictures[0].shape[:2]
    path = tmp_path / "figure.mp4"
    write_video(pictures, path, 6, (width, height), FPS, preset="ultrafast", codec_args=LOSSLESS)
    video = layer("video", trim=None, loop=False, mask=SUBJECT)
    params = shot(layer("color", color="#0000ff"), video, size=[width, height], duration=0.5)
    with ShotFrames(params, {"layer1": path}) as frames:
        for i in range(frames.count):
            frame = frames.frame(i).astype(int)
            # Where the backdrop was, the blue layer below shows.
            backdrop = (frame[..., 2] > 200) & (frame[..., 0] < 40) & (frame[..., 1] < 40)
            assert iou(np.where(backdrop, 0, 255), covers[i]) >= 0.9


def test_a_cut_out_videos_depth_is_its_subject_not_its_box(tmp_path: Path) -> None:
    """Around a video's cut-out subject, the wall behind is out of focus (the video's box
    covers the whole frame, so a depth over its box would keep the wall sharp)."""
    from tests.test_subject_video import clip as moving_figure

    pictures, covers = moving_figure(3, 0.5, 0.0)
    height, width = pictures[0].shape[:2]
    path = tmp_path / "figure.mp4"
    write_video(pictures, path, 3, (width, height), FPS, preset="ultrafast", codec_args=LOSSLESS)
    video = layer("video", trim=None, loop=True, mask=SUBJECT, depth=0.0)
    inputs = {"layer0": texture(tmp_path / "wall.png", (width, height), 5), "layer1": path}
    params = shot(layer("image", depth=1.0), video, size=[width, height], duration=0.25)
    with ShotFrames(params, inputs) as frames:
        plain = frames.frame(0).copy()
    camera = CAMERA | {"focus": [0.0, 0.0], "aperture": 30.0}
    with ShotFrames(params | {"camera": camera}, inputs) as frames:
        seen = frames.frame(0).copy()
    wall = (slice(0, height), slice(0, width // 6))  # the figure stands in the middle
    assert covers[0][wall].max() < 0.01
    assert detail(seen[wall]) < detail(plain[wall]) / 4
