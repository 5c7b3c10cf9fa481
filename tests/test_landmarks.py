"""Offline face geometry: detection on painted faces, the landmark template, alignment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from filmkit.generators.base import Request
from filmkit.generators.image.face import Params, ProceduralFace, resolve
from filmkit.generators.image.head import Layout
from filmkit.generators.image.landmarks import (
    TEMPLATE_NAMES,
    Face,
    align,
    align_matrix,
    detect,
    template_eyes,
)
from filmkit.generators.image.paint import SUPERSAMPLE

FACES = [(256, seed) for seed in range(6)] + [(512, 0), (512, 3)]


def paint(size: int, seed: int, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A procedural portrait (RGBA) and its true left eye, right eye and mouth (3 x 2)."""
    outputs = {name: folder / f"{size}_{seed}_{name}.png" for name in ProceduralFace.outputs}
    request = Request(params=Params(), seed=seed, outputs=outputs, size=(size, size))
    ProceduralFace().generate(request)
    lay = Layout.of(resolve(Params(), seed), size * SUPERSAMPLE, size * SUPERSAMPLE)
    truth = np.array(
        [
            (lay.cx - lay.eye_dx, lay.eye_y),
            (lay.cx + lay.eye_dx, lay.eye_y),
            (lay.cx, lay.mouth_y),
        ]
    )
    return np.asarray(Image.open(outputs["image"])), truth / SUPERSAMPLE


@pytest.fixture(scope="module")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], tuple]:
    folder = tmp_path_factory.mktemp("faces")
    return {key: paint(*key, folder) for key in FACES}


@pytest.mark.parametrize("key", FACES, ids=[f"{s}px-seed{n}" for s, n in FACES])
def test_detect_finds_the_eyes_and_mouth_of_painted_faces(
    portraits: dict[tuple[int, int], tuple], key: tuple[int, int]
) -> None:
    image, truth = portraits[key]
    face = detect(image)
    assert face is not None
    width = face.box[2] - face.box[0]
    assert 0.25 * key[0] < width < 0.6 * key[0]
    assert math.dist(face.left_eye, truth[0]) < 0.06 * width
    assert math.dist(face.right_eye, truth[1]) < 0.06 * width
    assert math.dist(face.mouth, truth[2]) < 0.1 * width
    assert face.left_eye[0] < face.mouth[0] < face.right_eye[0]
    assert detect(image) == face, "deterministic"


def test_detect_takes_rgb_and_finds_a_face_off_centre(
    portraits: dict[tuple[int, int], tuple],
) -> None:
    image, truth = portraits[(256, 1)]
    alpha = image[:, :, 3:].astype(np.float32) / 255
    rgb = (image[:, :, :3] * alpha + np.array([40, 90, 60]) * (1 - alpha)).astype(np.uint8)
    canvas = np.full((300, 420, 3), (40, 90, 60), np.uint8)
    canvas[30:286, 150:406] = rgb
    face = detect(canvas)
    assert face is not None
    width = face.box[2] - face.box[0]
    assert math.dist(face.left_eye, truth[0] + (150, 30)) < 0.06 * width
    assert math.dist(face.right_eye, truth[1] + (150, 30)) < 0.06 * width


def test_no_face_in_noise_or_flat_colour() -> None:
    rng = np.random.default_rng(3)
    assert detect(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) is None
    assert detect(np.full((200, 200, 3), (90, 140, 200), np.uint8)) is None
    assert detect(np.zeros((200, 200, 4), np.uint8)) is None  # all transparent
    assert detect(np.zeros((10, 10, 3), np.uint8)) is None
    with pytest.raises(ValueError, match="uint8"):
        detect(np.zeros((64, 64, 3), np.float32))


def test_points_follow_the_face() -> None:
    face = Face((0, 0, 100, 100), (40.0, 50.0), (60.0, 50.0), (50.0, 71.0), 17.0)
    pts = face.points()
    assert pts.shape == (len(TEMPLATE_NAMES), 2)
    assert 25 <= len(pts) <= 40
    named = dict(zip(TEMPLATE_NAMES, pts, strict=True))
    assert np.allclose(named["left_eye"], face.left_eye)
    assert np.allclose(named["right_eye"], face.right_eye)
    assert np.allclose((named["mouth_left"] + named["mouth_right"]) / 2, face.mouth)
    assert math.dist(named["mouth_left"], named["mouth_right"]) == pytest.approx(17.0)
    assert named["jaw_5"][1] > named["lower_lip"][1] > named["nose_tip"][1] > 50
    assert named["left_brow_mid"][1] < 50 and named["jaw_0"][0] < 40 < 60 < named["jaw_10"][0]

    # The same face turned by 90 degrees and moved: every point turns with it.
    def turn(p: tuple[float, float]) -> tuple[float, float]:
        return 300 - p[1], p[0] + 7

    turned = Face(
        (0, 0, 1, 1),
        turn(face.left_eye),
        turn(face.right_eye),
        turn(face.mouth),
        face.mouth_width,
    )
    expected = np.array([turn((float(x), float(y))) for x, y in pts])
    assert np.allclose(turned.points(), expected)


def test_face_json_round_trip() -> None:
    face = Face((10.5, 20.0, 110.25, 120.0), (40.0, 60.5), (80.0, 61.0), (60.0, 100.0), 35.5)
    data = face.to_json()
    assert json.loads(json.dumps(data)) == data
    assert Face.from_json(data) == face
    assert Face.from_json(json.dumps(data)) == face


def test_align_puts_the_eyes_on_the_template() -> None:
    # Two coloured dots as eyes, the pair turned 25 degrees, on a textured picture.
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (400, 500, 3), dtype=np.uint8)
    centre, half, turn = np.array([260.0, 210.0]), 45.0, math.radians(25)
    axis = np.array([math.cos(turn), math.sin(turn)]) * half
    left, right = centre - axis, centre + axis
    yy, xx = np.mgrid[0:400, 0:500]
    for (x, y), colour in ((left, (255, 0, 0)), (right, (0, 0, 255))):
        image[(xx - x) ** 2 + (yy - y) ** 2 <= 36] = colour
    face = Face((150, 120, 370, 340), tuple(left), tuple(right), tuple(centre + (20, 90)), 60)
    size = 128
    out = align(image, face, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    want = template_eyes(size)
    assert want[0][1] == want[1][1], "eyes level"
    for channel, target in ((0, want[0]), (2, want[1])):
        others = [c for c in range(3) if c != channel]
        dot = (out[:, :, channel] > 180) & (out[:, :, others].max(axis=2) < 90)
        ys, xs = np.nonzero(dot)
        assert len(xs) > 3
        assert math.dist((xs.mean(), ys.mean()), target) < 2.0
    m = align_matrix(face, size)
    assert np.allclose(m[:, :2] @ left + m[:, 2], want[0])
    assert np.allclose(m[:, :2] @ right + m[:, 2], want[1])
    # More margin: the eyes come closer together, still level about the middle.
    wide = template_eyes(size, margin=2.0)
    assert wide[1][0] - wide[0][0] < want[1][0] - want[0][0]


def test_align_crops_a_painted_face_upright(portraits: dict[tuple[int, int], tuple]) -> None:
    image, truth = portraits[(512, 3)]
    face = detect(image)
    assert face is not None
    size = 256
    crop = align(image, face, size)
    m = align_matrix(face, size)
    eyes = truth[:2] @ m[:, :2].T + m[:, 2]
    want = np.array(template_eyes(size))
    interocular = want[1, 0] - want[0, 0]
    assert np.abs(eyes - want).max() < 0.12 * interocular
    again = detect(crop)  # the crop is a face, eyes where the template says
    assert again is not None
    assert math.dist(again.left_eye, want[0]) < 0.15 * interocular
    assert math.dist(again.right_eye, want[1]) < 0.15 * interocular
