"""Looks: a .cube grade, lo-fi, vignette, grain, dust and scratches, measured on pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filmkit.errors import MediaError, SpecError
from filmkit.project import Project
from filmkit.render.looks import GRAIN_LEVELS, Look, read_cube
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, write_project
from tests.fakes import fake_registry

SIZE = (96, 64)


def cube(path: Path, points: int, colour: Any, header: str = "") -> Path:
    """A .cube LUT of ``points`` per axis mapping (r, g, b) in 0..1 to ``colour(r, g, b)``."""
    axis = np.linspace(0, 1, points)
    rows = [colour(r, g, b) for b in axis for g in axis for r in axis]  # red fastest
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in rows)
    path.write_text(f'TITLE "test"\n# a comment\n{header}LUT_3D_SIZE {points}\n{body}\n')
    return path


def look(**fields: Any) -> dict[str, Any]:
    plain = {"grade_amount": 1.0, "vignette": 0.0, "grain": 0.0, "dust": 0.0, "scratches": 0.0}
    return {**plain, "lofi": 1, "seed": 5, **fields}


def photo() -> np.ndarray:
    """A smooth picture with every hue in it."""
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    channels = [x * 255 / SIZE[0], y * 255 / SIZE[1], (x + y) * 255 / sum(SIZE)]
    return np.stack(channels, -1).round().astype(np.uint8)


def test_an_identity_grade_leaves_colours_and_a_swap_grade_swaps_them(tmp_path: Path) -> None:
    frame = photo()
    same = Look(look(), cube(tmp_path / "id.cube", 17, lambda r, g, b: (r, g, b)), SIZE)
    assert np.abs(same.apply(frame, 0).astype(int) - frame).max() <= 1
    swap = Look(look(), cube(tmp_path / "swap.cube", 2, lambda r, g, b: (b, g, r)), SIZE)
    assert np.abs(swap.apply(frame, 0).astype(int) - frame[..., ::-1]).max() <= 1
    half = Look(look(grade_amount=0.5), tmp_path / "swap.cube", SIZE).apply(frame, 0)
    expected = (frame.astype(float) + frame[..., ::-1]) / 2
    assert np.abs(half - expected).max() <= 1


def test_a_grade_follows_the_luts_domain_and_curves_between_its_points(tmp_path: Path) -> None:
    # Domain 0..2: the LUT's last point is for an input of 2, so 255 sits half-way.
    path = cube(tmp_path / "dom.cube", 3, lambda r, g, b: (r**2, g, b), "DOMAIN_MAX 2 2 2\n")
    lut, low, high = read_cube(path)
    assert lut.shape == (3, 3, 3, 3) and lut[2, 0, 0, 0] == pytest.approx(1.0)
    assert list(low) == [0, 0, 0] and list(high) == [2, 2, 2]
    out = Look(look(), path, SIZE).apply(np.full((2, 2, 3), 255, np.uint8), 0)
    assert out[0, 0, 0] == round(0.25 * 255)  # between points 0.5 and 1 of r**2 on 0..1


def test_a_broken_cube_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_3D_SIZE 2\n0 0 0\n1 1 zero\n")
    with pytest.raises(MediaError, match=r"bad.cube:3: not a .cube LUT line"):
        read_cube(bad)
    bad.write_text("LUT_3D_SIZE 3\n0 0 0\n")
    with pytest.raises(MediaError, match="1 rows of r g b; LUT_3D_SIZE 3 needs 27"):
        read_cube(bad)


def test_the_vignette_darkens_the_corners_and_leaves_the_middle() -> None:
    grey = np.full((SIZE[1], SIZE[0], 3), 200, np.uint8)
    out = Look(look(vignette=0.5), None, SIZE).apply(grey, 0).astype(int)
    assert abs(out[SIZE[1] // 2, SIZE[0] // 2, 0] - 200) <= 1
    assert abs(out[0, 0, 0] - 100) <= 3  # half as bright at a corner
    assert out[0, SIZE[0] // 2, 0] > out[0, 0, 0]


def test_grain_keeps_the_level_changes_every_frame_and_repeats_with_the_seed() -> None:
    grey = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    grainy = Look(look(grain=0.25), None, SIZE)
    first, second = grainy.apply(grey, 0).astype(float), grainy.apply(grey, 1).astype(float)
    assert abs(first.mean() - 128) < 1.0
    assert first[..., 0].std() == pytest.approx(0.25 * GRAIN_LEVELS, rel=0.15)
    assert (first[..., 0] == first[..., 1]).all()  # grain is in the light, not in colour
    assert np.abs(first - second).mean() > 5
    again = Look(look(grain=0.25), None, SIZE).apply(grey, 1)
    assert (again == second).all() and grainy.animated
    other = Look(look(grain=0.25, seed=6), None, SIZE).apply(grey, 1)
    assert not (other == second).all()


def test_dust_and_scratches_mark_a_few_pixels_the_same_way_every_time() -> None:
    grey = np.full((SIZE[1] * 4, SIZE[0] * 4, 3), 128, np.uint8)
    size = (SIZE[0] * 4, SIZE[1] * 4)
    dirty = Look(look(dust=1.0, scratches=1.0), None, size)
    frames = [dirty.apply(grey, i) for i in range(8)]
    changed = [(f != 128).any(axis=2).mean() for f in frames]
    assert all(0 < c < 0.05 for c in changed)
    # A scratch (probability 1) runs down the whole frame.
    assert all(((f != 128).any(axis=2).any(axis=1)).mean() > 0.95 for f in frames)
    assert (Look(look(dust=1.0, scratches=1.0), None, size).apply(grey, 3) == frames[3]).all()


def test_every_part_of_a_look_works_after_a_grade(tmp_path: Path) -> None:
    grade = cube(tmp_path / "id.cube", 5, lambda r, g, b: (r, g, b))
    for part in ({"dust": 1.0}, {"scratches": 1.0}, {"lofi": 4}, {"grain": 0.2}):
        out = Look(look(**part), grade, SIZE).apply(photo(), 2)
        assert out.shape == (SIZE[1], SIZE[0], 3) and out.dtype == np.uint8
        assert np.abs(out.astype(int) - photo()).mean() > 0.05, part


def test_lofi_shows_the_picture_in_blocks() -> None:
    out = Look(look(lofi=8), None, SIZE).apply(photo(), 0)
    blocks = out.reshape(SIZE[1] // 8, 8, SIZE[0] // 8, 8, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()


# -- through the build ----------------------------------------------------------


def shot_statuses(root: Path) -> dict[str, str]:
    Project(root, fake_registry()).build()
    report = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step["status"] for step in report["steps"]}


def test_changing_one_shots_look_re_renders_that_shot_only(tmp_path: Path) -> None:
    film = TINY_FILM.replace("scenes:\n", "look: {vignette: 0.3, grain: 0.1}\nscenes:\n")
    root = write_project(tmp_path, film=film, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO})
    first = shot_statuses(root)
    assert first["shot:one/a"] == "ran"
    cube(root / "warm.cube", 5, lambda r, g, b: (min(1, r * 1.1), g, b * 0.9))
    scene = root / "scenes" / "02.yaml"
    scene.write_text(
        scene.read_text().replace("  - id: b\n", "  - id: b\n    look: {grade: warm.cube}\n")
    )
    after = shot_statuses(root)
    # The graded shot, the crossfade into it and the cut: no voice, no sound, no other shot.
    ran = sorted(step for step, status in after.items() if status == "ran")
    assert ran == ["cut", "reel:two", "shot:two/b", "transition:two/b"]


def test_a_grade_that_is_not_a_cube_file_is_reported_where_it_is_written(tmp_path: Path) -> None:
    film = TINY_FILM.replace("scenes:\n", "look: {grade: looks/warm.png}\nscenes:\n")
    root = write_project(tmp_path, film=film, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO})
    with pytest.raises(SpecError) as info:
        Project(root, fake_registry()).plan()
    message = info.value.render()
    assert message.startswith("film.yaml:") and "a grade is a .cube 3D LUT file" in message
    assert "hint: export the grade" in message
