"""Faces made by models: talking frames for any portrait, latent walks, morphs.

* :func:`talking_frames` is the ``talk:<character>`` step: a face backend that
  paints one picture (an image model, a GAN, a photo) gets its talking and
  blinking frames from where :func:`~filmkit.generators.image.landmarks.detect`
  finds the eyes and mouth.
* :func:`walk_pictures` renders a ``walk:`` layer: one picture per distinct
  latent on the layer's path through its generator (a free seeded walk, a loop,
  or stops at chosen faces), the free walk hurrying while someone speaks when
  it ``follow``\\ s the voice.
* :func:`morph_pictures` renders a ``morph:`` layer: one picture per distinct
  stage of the change from one face to the other (a triangulated warp along
  matching points, and a dissolve).

Each returns pictures and, per frame of the shot, which one shows; the shot
then lays them out like any other picture layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from filmkit.errors import BuildError
from filmkit.render.layout import EASINGS, speech_level

# Distinct stages a morph is drawn at, at most: finer than a frame at 24 fps over 4 s.
MORPH_STAGES = 120


def _face(picture: np.ndarray, what: str) -> Any:
    from filmkit.generators.image.landmarks import detect

    face = detect(picture)
    if face is None:
        raise BuildError(
            f"no face found in {what}: a frontal face, both eyes visible, is needed to "
            "animate or morph it"
        )
    return face


def talking_frames(image: Path, outputs: dict[str, Path]) -> dict[str, Any]:
    """Write the ``mouth_open`` and ``blink`` frames of the portrait in ``image``."""
    from filmkit.render.talk import changed_box, talk_frames

    with Image.open(image) as opened:
        picture = np.asarray(opened.convert("RGBA"))
    face = _face(picture, "the portrait")
    mouth_open, blink = talk_frames(
        picture, face.left_eye, face.right_eye, face.mouth, face.mouth_width
    )
    for name, pixels in (("mouth_open", mouth_open), ("blink", blink)):
        Image.fromarray(pixels).save(outputs[name], format="PNG", compress_level=3)
    return {
        "face": face.to_json(),
        "mouth_box": changed_box(picture, mouth_open),
        "eye_box": changed_box(picture, blink),
    }


def walk_pictures(
    layer: dict[str, Any],
    model: Path,
    times: np.ndarray,
    duration: float,
    fps: int,
    spoken: list[tuple[float, Path]],
    device: str = "auto",
) -> tuple[list[Image.Image], np.ndarray]:
    """The generator's pictures along the layer's path, and per frame which one shows."""
    import torch

    from filmkit.generators.gan.backends import render_latents
    from filmkit.generators.gan.networks import load_generator
    from filmkit.generators.gan.walk import walk
    from filmkit.generators.training import cpu_threads, pick_device

    target = pick_device(torch, device)
    generator, config = load_generator(torch, model, target)
    nz = int(config["nz"])
    if layer.get("stops"):
        # Stops are at times in the shot; the walk passes through each stop's face.
        keys = [(stop["at"], stop["seed"], stop["hold"]) for stop in layer["stops"]]
        path = walk(nz, times, layer["seed"], speed=layer["speed"], keys=keys)
    else:
        drive = None
        if layer.get("follow") == "voice":
            level = speech_level(spoken, fps, duration)
            index = np.clip(np.rint(times * fps).astype(np.int64), 0, len(level) - 1)
            drive = np.clip(level[index], 0.0, 1.0)
        local = np.maximum(times - layer["start"], 0.0)
        path = walk(nz, local, layer["seed"], layer["speed"], layer.get("loop"), drive=drive)
    path = path * float(layer.get("truncation", 1.0))
    distinct, picks = np.unique(path.astype(np.float32), axis=0, return_inverse=True)
    with cpu_threads(torch, target):
        faces = render_latents(torch, generator, distinct, target)
    return [Image.fromarray(face) for face in faces], picks.reshape(-1).astype(np.int64)


def morph_pictures(
    layer: dict[str, Any], sources: tuple[Path, Path], times: np.ndarray, duration: float
) -> tuple[list[Image.Image], np.ndarray]:
    """The stages of one face turning into the other, and per frame which one shows."""
    from filmkit.render.morph import Morpher

    pictures = []
    for path in sources:
        with Image.open(path) as opened:
            pictures.append(opened.convert("RGBA"))
    first, last = pictures
    if last.size != first.size:
        last = last.resize(first.size, Image.Resampling.LANCZOS)
    a, b = np.asarray(first), np.asarray(last)
    face_a = _face(a, f"{layer['morph'][0]} (the morph's first face)")
    face_b = _face(b, f"{layer['morph'][1]} (the morph's second face)")
    start, end = layer.get("between") or (layer["start"], layer.get("end") or duration)
    progress = np.clip((times - start) / max(end - start, 1e-6), 0.0, 1.0)
    alpha = EASINGS[layer.get("ease", "in-out")](progress)
    stages = np.rint(alpha * MORPH_STAGES).astype(np.int64)
    distinct, picks = np.unique(stages, return_inverse=True)
    morpher = Morpher(a, face_a.points(), b, face_b.points())
    frames = [Image.fromarray(morpher.frame(stage / MORPH_STAGES)) for stage in distinct]
    return frames, picks.reshape(-1).astype(np.int64)
