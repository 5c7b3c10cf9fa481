"""Talk and blink frames made from a single portrait (filmkit.render.talk)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from filmkit.generators.base import Request
from filmkit.generators.image.face import Params, ProceduralFace, resolve
from filmkit.generators.image.head import Layout
from filmkit.generators.image.paint import SUPERSAMPLE
from filmkit.render.talk import changed_box, talk_frames

SIZE = 512
SEED = 3


def _luma(pixels: np.ndarray) -> np.ndarray:
    rgb = pixels[..., :3].astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A procedural RGBA portrait, with where its eyes, mouth and chin truly are."""
    folder: Path = tmp_path_factory.mktemp("face")
    outputs = {name: folder / f"{name}.png" for name in ("image", "mouth_open", "blink")}
    meta = ProceduralFace().generate(
        Request(params=Params(), seed=SEED, outputs=outputs, size=(SIZE, SIZE))
    )
    json.dumps(meta)
    image = np.asarray(Image.open(outputs["image"]).convert("RGBA")).copy()
    blink = np.asarray(Image.open(outputs["blink"]).convert("RGBA"))
    lay = Layout.of(resolve(Params(), SEED), SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE)
    k = 1 / SUPERSAMPLE
    left = ((lay.cx - lay.eye_dx) * k, lay.eye_y * k)
    right = ((lay.cx + lay.eye_dx) * k, lay.eye_y * k)
    mouth = (lay.cx * k, (lay.mouth_y + 0.07 * lay.lip_h) * k)  # the line between the lips
    # The geometry agrees with the boxes the generator reports.
    for (x, y), box in zip((left, right), meta["eye_boxes"], strict=True):
        assert box[0] < x < box[2] and box[1] < y < box[3]
    mouth_box = meta["mouth_box"]
    assert mouth_box[0] < mouth[0] < mouth_box[2] and mouth_box[1] < mouth[1] < mouth_box[3]
    return {
        "image": image,
        "blink": blink,
        "left": left,
        "right": right,
        "mouth": mouth,
        "width": 2 * lay.mouth_w * k,
        "chin": (lay.cy + lay.b) * k,
        "eye_boxes": meta["eye_boxes"],
        "mouth_box": mouth_box,
    }


def _frames(face: dict[str, Any], image: np.ndarray | None = None, openness: float = 1.0):
    pixels = face["image"] if image is None else image
    return talk_frames(
        pixels, face["left"], face["right"], face["mouth"], face["width"], openness=openness
    )


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


def test_openness_zero_gives_the_input(face: dict[str, Any]) -> None:
    image = face["image"]
    before = image.copy()
    opened, blink = _frames(face, openness=0.0)
    assert opened.shape == image.shape and opened.dtype == np.uint8
    assert blink.shape == image.shape and blink.dtype == np.uint8
    assert np.array_equal(opened, image)
    assert opened is not image
    assert changed_box(image, opened) is None
    assert np.array_equal(image, before)  # the input is never written to


def test_mouth_open_changes_only_mouth_and_chin(face: dict[str, Any]) -> None:
    image = face["image"]
    opened, _ = _frames(face)
    assert np.array_equal(opened[..., 3], image[..., 3])
    changed = _changed(opened, image)
    assert changed.sum() > 500
    ys, xs = np.nonzero(changed)
    mx, my = face["mouth"]
    width = face["width"]
    # Nothing above the lips' line (let alone the eyes) and nothing beyond the chin.
    assert ys.min() >= my - 2
    assert ys.min() > face["left"][1] + 0.1 * SIZE
    assert ys.max() <= face["chin"] + 0.02 * SIZE
    # Nothing to the sides of the jaw: within the mouth's corners and a little more.
    assert xs.min() >= mx - 0.75 * width and xs.max() <= mx + 0.75 * width
    # Only inside the portrait, never where it is transparent.
    assert image[..., 3][changed].min() > 0
    box = changed_box(image, opened)
    assert box is not None
    assert box[1] >= my - 5 and box[3] <= face["chin"] + 0.03 * SIZE


def test_mouth_interior_is_dark(face: dict[str, Any]) -> None:
    image = face["image"]
    opened, _ = _frames(face)
    mx, my = face["mouth"]
    width = face["width"]
    gap = np.s_[int(my + 0.12 * width) : int(my + 0.26 * width), int(mx - 0.15 * width) :]
    gap = gap[0], slice(gap[1].start, int(mx + 0.15 * width))
    before, after = _luma(image[gap]).mean(), _luma(opened[gap]).mean()
    assert after < 0.6 * before
    # Upper teeth: a light band just under the upper lip.
    band = np.s_[int(my) : int(my + 0.1 * width), int(mx - 0.1 * width) : int(mx + 0.1 * width)]
    brightest = _luma(opened[band]).mean(axis=1).max()
    assert brightest > max(_luma(image[band]).mean(axis=1).max() + 30, 140)
    # Lip colour survives: the lower lip moved down, it did not vanish into the dark.
    red = opened[..., 0].astype(int) - opened[..., 2].astype(int)
    column = red[int(my) : int(face["chin"]), int(mx)]
    assert column.max() > 20


def test_jaw_drop_grows_with_openness(face: dict[str, Any]) -> None:
    image = face["image"]
    x0, y0, x1, y1 = face["mouth_box"]
    base = _luma(image[y0:y1, x0:x1])
    dark = []
    for openness in (0.3, 0.6, 1.0):
        opened, _ = _frames(face, openness=openness)
        after = _luma(opened[y0:y1, x0:x1])
        dark.append(int(((after < 0.5 * base) & (after < 60)).sum()))
    assert 0 < dark[0] < dark[1] < dark[2]
    assert dark[2] > 2 * dark[0]


def test_blink_covers_only_the_eyes(face: dict[str, Any]) -> None:
    image = face["image"]
    _, blink = _frames(face)
    assert np.array_equal(blink[..., 3], image[..., 3])
    changed = _changed(blink, image)
    pad = 0.03 * SIZE
    allowed = np.zeros_like(changed)
    for x0, y0, x1, y1 in face["eye_boxes"]:
        allowed[
            max(int(y0 - pad), 0) : int(y1 + pad), max(int(x0 - 1.5 * pad), 0) : int(x1 + 1.5 * pad)
        ] = True
    assert changed.sum() > 500
    assert not (changed & ~allowed).any()
    for x0, y0, x1, y1 in face["eye_boxes"]:
        assert changed[y0:y1, x0:x1].mean() > 0.4
        before, after = image[y0:y1, x0:x1, :3].astype(int), blink[y0:y1, x0:x1, :3].astype(int)
        # The whites: the brightest pixels of the open eye (where the generator's own
        # blink frame differs from its neutral one).
        eye = np.abs(face["blink"][y0:y1, x0:x1, :3].astype(int) - before).sum(axis=2) > 60
        luma = _luma(before)
        sclera = eye & (luma >= np.percentile(luma[eye], 90)) & (luma > 150)
        assert sclera.sum() >= 10
        # Covered: every one changed, on average a lot, none lighter, and skin-tinted
        # (redder than blue, unlike the whites) rather than white.
        moved = np.abs(after - before).max(axis=2)[sclera]
        assert moved.min() >= 8 and moved.mean() > 40
        assert (_luma(after)[sclera] <= luma[sclera] + 10).all()
        warmth = (after[..., 0] - after[..., 2] - before[..., 0] + before[..., 2])[sclera]
        assert warmth.mean() > 10
    # The lids are skin-coloured: near the cheek just under the eye in brightness and hue.
    for x0, y0, x1, y1 in face["eye_boxes"]:
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        lid = blink[cy - 4 : cy, cx - 4 : cx + 4, :3].reshape(-1, 3).astype(float).mean(axis=0)
        cheek = image[y1 + 2 : y1 + 8, cx - 4 : cx + 4, :3].reshape(-1, 3).astype(float)
        cheek = cheek.mean(axis=0)
        assert 0.7 < _luma(lid) / _luma(cheek) < 1.3
        assert lid[0] > lid[1] > lid[2]


def test_rgb_matches_rgba_inside_the_face(face: dict[str, Any]) -> None:
    image = face["image"]
    rgb = np.ascontiguousarray(image[..., :3])
    opened, blink = _frames(face, rgb)
    assert opened.shape == rgb.shape and blink.shape == rgb.shape
    assert opened.dtype == np.uint8 and blink.dtype == np.uint8
    with_alpha = _frames(face)
    for frame, reference, box in (
        (opened, with_alpha[0], face["mouth_box"]),
        (blink, with_alpha[1], face["eye_boxes"][0]),
        (blink, with_alpha[1], face["eye_boxes"][1]),
    ):
        x0, y0, x1, y1 = box
        assert np.array_equal(frame[y0:y1, x0:x1], reference[y0:y1, x0:x1, :3])
    assert changed_box(rgb, opened) is not None


def test_deterministic_and_eye_order_free(face: dict[str, Any]) -> None:
    first = _frames(face)
    second = _frames(face)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    swapped = talk_frames(face["image"], face["right"], face["left"], face["mouth"], face["width"])
    assert all(np.array_equal(a, b) for a, b in zip(first, swapped, strict=True))


def test_tilted_head(face: dict[str, Any]) -> None:
    turn = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 12, 1.0)
    image = cv2.warpAffine(face["image"], turn, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    points = np.array([face["left"], face["right"], face["mouth"]], float)
    left, right, mouth = (np.c_[points, np.ones(3)] @ turn.T).tolist()
    opened, blink = talk_frames(image, tuple(left), tuple(right), tuple(mouth), face["width"])
    ys, xs = np.nonzero(_changed(opened, image))
    # Everything that moved is below the lips' line, measured square to the eye line.
    axis = np.subtract(right, left) / np.hypot(*np.subtract(right, left))
    down = np.array([-axis[1], axis[0]])
    assert ((xs - mouth[0]) * down[0] + (ys - mouth[1]) * down[1]).min() >= -2
    for x, y in (left, right):
        assert _changed(blink, image)[int(y), int(x)]


def test_changed_box() -> None:
    a = np.zeros((400, 600, 4), np.uint8)
    assert changed_box(a, a.copy()) is None
    b = a.copy()
    b[100, 200, 1] = 7
    b[150:160, 300:320, 3] = 9
    assert changed_box(a, b) == [200 - 3, 100 - 3, 320 + 3, 160 + 3]
    c = a.copy()
    c[0, 599] = 1
    assert changed_box(a, c) == [596, 0, 600, 4]
    with pytest.raises(ValueError):
        changed_box(a, a[:, :, :3])


def test_rejects_bad_input(face: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _frames(face, face["image"].astype(np.float32))
    with pytest.raises(ValueError):
        talk_frames(face["image"], (10, 10), (10, 10), face["mouth"], face["width"])


def test_fast_at_720(face: dict[str, Any]) -> None:
    scale = 720 / SIZE
    image = cv2.resize(face["image"], (720, 720), interpolation=cv2.INTER_LINEAR)
    args = [(x * scale, y * scale) for x, y in (face["left"], face["right"], face["mouth"])]
    talk_frames(image, *args, face["width"] * scale)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        talk_frames(image, *args, face["width"] * scale)
        best = min(best, time.perf_counter() - start)
    assert best < 0.1  # typically about 10 ms; generous for a busy test machine
