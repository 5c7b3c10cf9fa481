"""Planning faces made by models: datasets, training, walks, morphs, talking portraits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from filmkit.errors import SpecError, SpecErrors
from filmkit.generators.registry import Registry
from filmkit.project import Project
from tests.conftest import SCENE_ONE, TINY_FILM, write_project
from tests.fakes import fake_registry

REAL = {
    "image/face": "filmkit.generators.image.face:ProceduralFace",
    "image/gan": "filmkit.generators.gan.backends:GanImage",
    "model/gan": "filmkit.generators.gan.backends:GanTrainer",
    "dataset/faces": "filmkit.generators.image.dataset:FaceDataset",
}

FILM = (
    TINY_FILM.replace("end: two/b", "end: one/faces")
    .replace(
        "  room: {backend: image/swatch, params: {hue: 2}}",
        """\
  room: {backend: image/swatch, params: {hue: 2}}
  regulars: {backend: image/gan, params: {photos: photos, size: 32, steps: 40, width: 8}}
  theirs: {backend: image/gan, params: {weights: netG.pth, truncation: 0.7}}""",
    )
    .replace(
        "    face: {backend: image/swatch}\n  bo:",
        "    face: {backend: image/face}\n  bo:",
    )
    .replace(
        "    voice: {backend: voice/tone, params: {pitch: 180}}\n",
        "    voice: {backend: voice/tone, params: {pitch: 180}}\n    face: regulars\n",
    )
)

SCENE = (
    SCENE_ONE
    + """\
  - id: faces
    layers:
      - walk: regulars
        speed: 0.5
        follow: voice
      - walk: regulars
        stops: [{at: 0, seed: 3}, {at: 1, seed: 9, hold: 0.5}]
      - morph: [ada, bo]
        between: [0.2, 1.0]
    lines:
      - bo: "Which of us?"
"""
)


def registry() -> Registry:
    targets: dict[str, Any] = {i: fake_registry().get(i) for i in fake_registry().ids()}
    return Registry({**targets, **REAL})


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "film", FILM, {"01.yaml": SCENE})
    (root / "photos").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"not read while planning")
    (root / "netG.pth").write_bytes(b"not read while planning")
    return root


def test_photos_become_a_dataset_then_a_model_then_faces_and_walks(faces: Path) -> None:
    plan = Project(faces, registry()).plan()
    dataset, model = plan["dataset:regulars"], plan["model:regulars"]
    assert dataset.action == "dataset/faces" and [i.file for i in dataset.inputs] == ["photos"]
    assert dataset.params_value()["size"] == 32
    assert model.action == "model/gan" and model.deps == ("dataset:regulars",)
    assert model.params_value()["steps"] == 40 and "truncation" not in model.params_value()
    shot = plan["shot:one/faces"]
    walks = {i.name: i.step for i in shot.inputs if i.name.endswith(".model")}
    assert walks == {"layer0.model": "model:regulars", "layer1.model": "model:regulars"}
    first, second = shot.params_value()["layers"][:2]
    assert first["seed"] != second["seed"] and first["truncation"] == 1.0
    # One model, however many walks and faces use it.
    assert sum(step.action == "model/gan" for step in plan) == 1


def test_a_face_painted_as_one_picture_gets_a_talk_step_and_a_painted_face_does_not(
    faces: Path,
) -> None:
    plan = Project(faces, registry()).plan()
    talk = plan["talk:bo"]
    assert talk.action == "render/talk" and talk.deps == ("face:bo",)
    assert "talk:ada" not in plan
    shot = plan["shot:one/faces"]
    frames = {i.name: (i.step, i.output) for i in shot.inputs}
    assert frames["layer2.from"] == ("face:ada", "image")
    assert frames["layer2.to"] == ("face:bo", "image")
    bo = plan["shot:one/a"].inputs  # ada's face layer in the first shot: her own frames
    assert {(i.step, i.output) for i in bo if i.name.startswith("layer1.")} == {
        ("face:ada", "image"),
        ("face:ada", "mouth_open"),
        ("face:ada", "blink"),
    }


def test_changing_how_faces_are_sampled_never_retrains(faces: Path) -> None:
    before = Project(faces, registry()).plan()
    film = (faces / "film.yaml").read_text()
    (faces / "film.yaml").write_text(film.replace("width: 8}", "width: 8, truncation: 0.5}"))
    after = Project(faces, registry()).plan()
    assert after["model:regulars"] == before["model:regulars"]
    assert after["dataset:regulars"] == before["dataset:regulars"]
    assert after["face:bo"] != before["face:bo"]


def test_weights_the_user_has_are_walked_without_training(faces: Path) -> None:
    scene = SCENE.replace(
        "      - walk: regulars\n        speed", "      - walk: theirs\n        speed"
    )
    (faces / "scenes" / "01.yaml").write_text(scene)
    plan = Project(faces, registry()).plan()
    shot = plan["shot:one/faces"]
    model = next(i for i in shot.inputs if i.name == "layer0.model")
    assert model.file == "netG.pth" and "model:theirs" not in plan
    assert shot.params_value()["layers"][0]["truncation"] == 0.7


def _errors(root: Path) -> list[SpecError]:
    try:
        Project(root, registry()).plan()
    except SpecErrors as exc:
        return list(exc.errors)
    except SpecError as exc:
        return [exc]
    return []


def test_walking_a_generator_without_latents_is_a_located_error(faces: Path) -> None:
    scene = SCENE.replace(
        "      - walk: regulars\n        speed", "      - walk: room\n        speed"
    )
    (faces / "scenes" / "01.yaml").write_text(scene)
    (error,) = _errors(faces)
    assert "image/swatch has no latent space" in error.message and "image/gan" in error.hint
    assert error.location is not None and error.location.line == 15


def test_a_morph_needs_two_faces(faces: Path) -> None:
    scene = SCENE.replace("morph: [ada, bo]", "morph: [ada, nobody.png]")
    (faces / "scenes" / "01.yaml").write_text(scene)
    (error,) = _errors(faces)
    assert "'nobody.png' is neither a character with a face nor a picture file" in error.message
    assert "ada" in error.hint


def test_photos_and_weights_are_one_or_the_other(faces: Path) -> None:
    film = (faces / "film.yaml").read_text()
    (faces / "film.yaml").write_text(
        film.replace("{photos: photos, size", "{photos: photos, weights: netG.pth, size")
    )
    (error,) = _errors(faces)
    assert "image/gan" in error.message and "weights" in error.message


def test_a_driven_face_reads_its_video_and_takes_no_keys(faces: Path) -> None:
    (faces / "me.mp4").write_bytes(b"not read while planning")
    (faces / "wav2lip.pth").write_bytes(b"not read while planning")
    scene = SCENE.replace(
        "      - character: ada\n",
        "      - character: ada\n        drive: {video: me.mp4, motion: 0.5}\n"
        "        lipsync: wav2lip.pth\n",
    )
    (faces / "scenes" / "01.yaml").write_text(scene)
    plan = Project(faces, registry()).plan()
    files = {i.name: i.file for i in plan["shot:one/a"].inputs if i.file}
    assert files == {"layer1.drive": "me.mp4", "layer1.lipsync": "wav2lip.pth"}
    keyed = scene.replace("motion: 0.5}\n", "motion: 0.5}\n        keys: [{at: 0, scale: 1}]\n")
    (faces / "scenes" / "01.yaml").write_text(keyed)
    (error,) = _errors(faces)
    assert "takes no `keys:` or `move:`" in error.message and error.location is not None
