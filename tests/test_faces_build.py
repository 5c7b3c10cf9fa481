"""Faces made by models, built end to end: photos to a dataset to a trained GAN to a walk;
a morph between two characters; a portrait painted as one picture that talks anyway."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from filmkit.generators.base import Generator, Request
from filmkit.generators.image.face import Params as FaceParams
from filmkit.generators.image.face import ProceduralFace
from filmkit.generators.registry import Registry
from filmkit.media import ffmpeg_exe
from filmkit.project import Project
from filmkit.store.lockfile import read_lock
from tests.conftest import TINY_FILM, write_project
from tests.fakes import fake_registry

pytestmark = pytest.mark.slow


class OnePictureFace(Generator):
    """A face backend that paints one picture only, as image models and GANs do."""

    kind = "image"
    name = "portrait"
    version = "1"
    Params = FaceParams
    outputs = {"image": ".png"}

    def generate(self, request: Request) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            frames = {n: Path(scratch) / f"{n}.png" for n in ("image", "mouth_open", "blink")}
            ProceduralFace().generate(
                Request(params=request.params, seed=request.seed, outputs=frames, size=request.size)
            )
            request.outputs["image"].write_bytes(frames["image"].read_bytes())


def registry() -> Registry:
    targets: dict[str, Any] = {i: fake_registry().get(i) for i in fake_registry().ids()}
    return Registry(
        {
            **targets,
            "image/face": ProceduralFace,
            "image/portrait": OnePictureFace,
            "image/gan": "filmkit.generators.gan.backends:GanImage",
            "model/gan": "filmkit.generators.gan.backends:GanTrainer",
            "dataset/faces": "filmkit.generators.image.dataset:FaceDataset",
        }
    )


FILM = (
    TINY_FILM.replace("end: two/b", "end: one/faces")
    .replace(
        "  room: {backend: image/swatch, params: {hue: 2}}",
        "  room: {backend: image/swatch, params: {hue: 2}}\n"
        "  regulars: {backend: image/gan, params: {photos: photos, size: 32, width: 8, nz: 16,"
        " batch: 8, steps: 30}}",
    )
    .replace("    face: {backend: image/swatch}\n  bo:", "    face: {backend: image/face}\n  bo:")
    .replace(
        "    voice: {backend: voice/tone, params: {pitch: 180}}\n",
        "    voice: {backend: voice/tone, params: {pitch: 180}}\n"
        "    face: {backend: image/portrait, params: {glasses: false}}\n",
    )
)

SCENE = """\
id: one
shots:
  - id: a
    layers:
      - color: "#203040"
      - character: bo
    lines:
      - bo: "Hello there, how are you today?"
  - id: faces
    duration: 2
    layers:
      - color: "#101010"
      - walk: regulars
        seed: 5
        speed: 2
        scale: 0.5
        position: [0.25, 0.5]
      - morph: [ada, bo]
        between: [0.5, 1.5]
        ease: linear
        scale: 0.5
        position: [0.75, 0.75]
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    root = write_project(tmp_path_factory.mktemp("faces") / "film", FILM, {"01.yaml": SCENE})
    photos = root / "photos"
    photos.mkdir()
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(6):
            frames = {n: Path(scratch) / f"{n}.png" for n in ("image", "mouth_open", "blink")}
            ProceduralFace().generate(
                Request(params=FaceParams(), seed=seed, outputs=frames, size=(192, 192))
            )
            with Image.open(frames["image"]) as face:
                backdrop = Image.new("RGB", face.size, (205, 210, 215))
                backdrop.paste(face, (0, 0), face)
                backdrop.save(photos / f"p{seed}.jpg", quality=92)
    project = Project(root, registry())
    project.build()
    return project, root


def read_video_frames(film: Path, size: tuple[int, int] = (160, 96)) -> list[np.ndarray]:
    """Every frame of ``film`` as RGB arrays."""
    args = [ffmpeg_exe(), "-loglevel", "error", "-i", str(film), "-map", "0:v"]
    raw = subprocess.run(
        [*args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)
    return list(frames)


def _object(project: Project, step: str, output: str) -> Path:
    return project.store.object_path(read_lock(project.lock_path)[step].outputs[output])


def test_two_spec_entries_make_a_dataset_a_trained_generator_and_a_walk(
    built: tuple[Project, Path],
) -> None:
    project, root = built
    with np.load(_object(project, "dataset:regulars", "dataset")) as data:
        assert data["faces"].shape == (6, 32, 32, 3)
    with Image.open(_object(project, "model:regulars", "samples")) as samples:
        assert samples.size[0] == samples.size[1] >= 8 * 32
    # What it trained is published, to look at or to take elsewhere.
    published = root / "build" / "models" / "regulars"
    assert sorted(p.name for p in published.iterdir()) == [
        "dataset.npz",
        "samples.png",
        "sheet.png",
        "weights.pt",
    ]
    frames = read_video_frames(root / "build" / "film.mp4")
    fps = 12
    start = len(frames) - 2 * fps  # the faces shot is the last two seconds
    walk = [f[24:72, 8:72].astype(float) for f in frames[start : start + 2 * fps]]
    # The walk moves: the picture in its box changes through the shot.
    assert np.abs(walk[-1] - walk[0]).mean() > 3


def test_a_portrait_painted_as_one_picture_talks_with_its_line(
    built: tuple[Project, Path],
) -> None:
    project, _ = built
    with Image.open(_object(project, "face:bo", "image")) as neutral:
        still = np.asarray(neutral.convert("RGBA")).astype(int)
    with Image.open(_object(project, "talk:bo", "mouth_open")) as talking:
        open_mouth = np.asarray(talking.convert("RGBA")).astype(int)
    changed = np.abs(open_mouth - still).sum(axis=2) > 30
    rows = np.nonzero(changed.any(axis=1))[0]
    # Only the lower face changes, and it changes visibly.
    assert changed.sum() > 200 and rows.min() > still.shape[0] * 0.35


def test_a_morph_goes_from_one_face_to_the_other(built: tuple[Project, Path]) -> None:
    project, root = built
    frames = read_video_frames(root / "build" / "film.mp4")
    start = len(frames) - 24
    box = (slice(48, 96), slice(100, 150))
    first, middle, last = (frames[start + i][box].astype(float) for i in (0, 12, 23))
    # Before the change it is one face, after it the other, in between neither.
    assert np.abs(last - first).mean() > 4
    assert np.abs(middle - first).mean() > 1 and np.abs(middle - last).mean() > 1


def test_a_portrait_without_a_face_keeps_still_and_the_build_says_so(tmp_path: Path) -> None:
    from filmkit.render.faces import talking_frames

    wall = tmp_path / "wall.png"
    Image.new("RGBA", (96, 96), (120, 130, 140, 255)).save(wall)
    outputs = {name: tmp_path / f"{name}.png" for name in ("mouth_open", "blink")}
    meta = talking_frames(wall, outputs)
    assert "no face found" in meta["warnings"][0]
    for path in outputs.values():
        assert path.read_bytes() and np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(wall))
        )
