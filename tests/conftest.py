"""Shared fixtures: a tiny film project made from scratch for each test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.fakes import CALLS

TINY_FILM = """\
title: Tiny
size: [160, 96]
fps: 12
seed: 3
generators:
  room: {backend: image/swatch, params: {hue: 2}}
characters:
  ada:
    name: Ada
    voice: {backend: voice/tone, params: {pitch: 330}}
    face: {backend: image/swatch}
  bo:
    name: Bo
    voice: {backend: voice/tone, params: {pitch: 180}}
music:
  - id: theme
    generate: {backend: music/chord}
    start: one/a
    end: two/b
    length: 8
scenes:
  - scenes/*.yaml
"""

SCENE_ONE = """\
id: one
shots:
  - id: a
    layers:
      - generate: room
        move: {zoom: [1.0, 1.2]}
      - character: ada
      - text: "Tiny"
        size: 30
    lines:
      - ada: "Hello there."
      - bo: "Hi."
"""

SCENE_TWO = """\
id: two
shots:
  - id: b
    transition: crossfade
    layers:
      - color: "#203040"
      - generate: room
        opacity: 0.5
    lines:
      - bo: "Goodbye now."
"""


def write_project(root: Path, film: str = TINY_FILM, scenes: dict[str, str] | None = None) -> Path:
    """Write a film project into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "film.yaml").write_text(textwrap.dedent(film))
    (root / "scenes").mkdir(exist_ok=True)
    for name, text in (scenes or {"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO}).items():
        (root / "scenes" / name).write_text(text)
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    CALLS.clear()
    return write_project(tmp_path / "film")
