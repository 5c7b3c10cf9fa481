"""Procedural image backends: determinism, variety, transparency, frame diffs, perspective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from filmkit.generators.base import Request
from filmkit.generators.image import face, room
from filmkit.generators.image.face import ProceduralFace
from filmkit.generators.image.room import ProceduralRoom

FACE_SIZE = (192, 192)
ROOM_SIZE = (320, 180)


def _make_face(tmp_path: Path, seed: int, size=FACE_SIZE, tag: str = "", **params):
    """Run the face backend; returns {output: Path} and its metadata."""
    gen = ProceduralFace()
    outputs = {name: tmp_path / f"{tag}{seed}-{name}.png" for name in gen.outputs}
    meta = gen.generate(
        Request(params=face.Params(**params), seed=seed, outputs=outputs, size=size)
    )
    return outputs, meta


def _make_room(tmp_path: Path, seed: int, size=ROOM_SIZE, tag: str = "", **params) -> Path:
    """Run the room backend; returns the PNG's path."""
    out = tmp_path / f"room-{tag}{seed}.png"
    ProceduralRoom().generate(
        Request(params=room.Params(**params), seed=seed, outputs={"image": out}, size=size)
    )
    return out


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img, np.int16)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """One seeded character, rendered once for several tests."""
    return _make_face(
        tmp_path_factory.mktemp("face"), 11, age="old", glasses=True, facial_hair="beard"
    )


def test_generators_declare_the_interface():
    assert ProceduralFace.id() == "image/face" and ProceduralRoom.id() == "image/room"
    assert set(ProceduralFace.outputs) == {"image", "mouth_open", "blink"}
    assert ProceduralRoom.outputs == {"image": ".png", "depth": ".png"}
    assert ProceduralFace.deterministic and ProceduralRoom.deterministic


def test_face_same_seed_same_bytes(tmp_path, portrait):
    outputs, meta = portrait
    again, meta_again = _make_face(tmp_path, 11, age="old", glasses=True, facial_hair="beard")
    assert meta == meta_again
    for name in outputs:
        assert outputs[name].read_bytes() == again[name].read_bytes()


def test_face_different_seeds_give_different_people(tmp_path):
    first, second = (
        _pixels(_make_face(tmp_path, seed, size=(128, 128))[0]["image"]) for seed in (1, 2)
    )
    assert np.abs(first - second).mean() > 8


def test_face_frames_are_transparent_busts(portrait):
    outputs, _ = portrait
    for path in outputs.values():
        with Image.open(path) as img:
            assert img.mode == "RGBA" and img.size == FACE_SIZE
            alpha = np.asarray(img)[..., 3]
        w, h = FACE_SIZE
        assert alpha[0, 0] == alpha[0, -1] == 0
        assert alpha[h // 2, w // 2] == 255
        # Shoulders reach the bottom edge; the figure covers a good part of the frame.
        assert alpha[-1, w // 2] == 255
        assert 0.3 < (alpha > 128).mean() < 0.8


def _outside(diff: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    """``diff`` with every box zeroed."""
    rest = diff.copy()
    for x0, y0, x1, y1 in boxes:
        rest[y0:y1, x0:x1] = 0
    return rest


def test_face_frames_differ_only_at_mouth_and_eyes(portrait):
    outputs, meta = portrait
    base = _pixels(outputs["image"])
    talk = np.abs(_pixels(outputs["mouth_open"]) - base).sum(axis=2)
    blink = np.abs(_pixels(outputs["blink"]) - base).sum(axis=2)
    mouth, eyes = meta["mouth_box"], meta["eye_boxes"]
    assert len(eyes) == 2 and eyes[0][2] <= eyes[1][0]
    assert not _outside(talk, [mouth]).any()
    assert not _outside(blink, eyes).any()
    x0, y0, x1, y1 = mouth
    assert talk[y0:y1, x0:x1].sum() > 0
    for x0, y0, x1, y1 in eyes:
        assert blink[y0:y1, x0:x1].sum() > 0
    # Boxes are tight around their features, in the right places.
    area = FACE_SIZE[0] * FACE_SIZE[1]
    for x0, y0, x1, y1 in [mouth, *eyes]:
        assert 0 < (x1 - x0) * (y1 - y0) < 0.06 * area
    assert eyes[0][3] < mouth[1]


@pytest.mark.parametrize("style", face.HAIR_STYLES)
def test_face_every_hair_style_paints(tmp_path, style):
    outputs, _ = _make_face(tmp_path, 4, size=(128, 128), hair_style=style, clothing_style="jacket")
    alpha = _pixels(outputs["image"])[..., 3]
    assert alpha[0, 0] == 0 and alpha[64, 64] == 255


def test_face_params_are_validated():
    with pytest.raises(ValidationError):
        face.Params(hat=True)
    with pytest.raises(ValidationError):
        face.Params(skin="green-ish")
    with pytest.raises(ValidationError):
        face.Params(hair_style="mohawk")
    assert face.Params(skin="#aa8866", hair_colour="grey", clothing="navy").skin == "#aa8866"


def test_face_traits_follow_params_not_seed():
    a = face.resolve(face.Params(hair_style="bob", glasses=True, age="young"), 1)
    b = face.resolve(face.Params(hair_style="bob", glasses=True, age="young"), 2)
    assert a.hair_style == b.hair_style == "bob" and a.glasses and b.glasses
    # Fixing one trait leaves the rest of the seeded person alone.
    plain, spectacled = face.resolve(face.Params(), 9), face.resolve(face.Params(glasses=True), 9)
    assert spectacled.glasses and plain.hair_style == spectacled.hair_style
    assert np.array_equal(plain.skin, spectacled.skin) and plain.nose_width == spectacled.nose_width
    people = {
        (p.hair_style, p.clothing_style, tuple(p.skin))
        for p in (face.resolve(face.Params(), s) for s in range(12))
    }
    assert len(people) > 6


def test_room_same_seed_same_bytes(tmp_path):
    first = _make_room(tmp_path, 3, tag="a")
    second = _make_room(tmp_path, 3, tag="b")
    assert first.read_bytes() == second.read_bytes()


def test_room_default_size_and_variety(tmp_path):
    out = tmp_path / "room.png"
    ProceduralRoom().generate(Request(params=room.Params(), seed=1, outputs={"image": out}))
    with Image.open(out) as img:
        assert img.mode == "RGB" and img.size == (1280, 720)
    other = _pixels(_make_room(tmp_path, 2))
    small = _pixels(_make_room(tmp_path, 1))
    assert np.abs(other - small).mean() > 5


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., :3] @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("style", room.STYLES)
def test_room_has_perspective_and_light(tmp_path, style):
    pixels = _pixels(_make_room(tmp_path, 5, style=style))
    assert pixels.shape == (ROOM_SIZE[1], ROOM_SIZE[0], 3)
    luma = _luma(pixels)
    assert luma.std() > 8
    h, w = luma.shape
    top, bottom = pixels[: h // 8, w // 3 : 2 * w // 3], pixels[-h // 8 :, w // 3 : 2 * w // 3]
    assert np.abs(top.mean(axis=(0, 1)) - bottom.mean(axis=(0, 1))).sum() > 10
    if style != "void":
        # Side walls frame the back wall: the edges differ from the middle of the frame.
        middle = pixels[h // 3 : h // 2, 2 * w // 5 : 3 * w // 5].mean(axis=(0, 1))
        for edge in (pixels[h // 3 : h // 2, : w // 20], pixels[h // 3 : h // 2, -w // 20 :]):
            assert np.abs(edge.mean(axis=(0, 1)) - middle).sum() > 6


def test_room_camera_moves_the_vanishing_point(tmp_path):
    from filmkit.generators.image.stage import stage

    centres = [
        stage(room.resolve(room.Params(camera=c), 1), *ROOM_SIZE)[0].px for c in (-1.0, 0.0, 1.0)
    ]
    assert centres[0] < centres[1] == ROOM_SIZE[0] / 2 < centres[2]
    left = _pixels(_make_room(tmp_path, 6, tag="l", camera=-1.0))
    right = _pixels(_make_room(tmp_path, 6, tag="r", camera=1.0))
    assert np.abs(left - right).mean() > 5


def test_room_params_are_validated():
    with pytest.raises(ValidationError):
        room.Params(sofa=True)
    with pytest.raises(ValidationError):
        room.Params(chairs=-1)
    with pytest.raises(ValidationError):
        room.Params(camera=2.0)
    with pytest.raises(ValidationError):
        room.Params(wall_colour="mauve-ish")
    assert room.Params(wall_colour="#ccbbaa", chairs=0).chairs == 0
