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
# Frames louder than this (of a line's loud syllables) are redrawn by Wav2Lip.
LIPSYNC_LEVEL = 0.05


def face_of(picture: np.ndarray, what: str) -> Any:
    """The face :func:`~filmkit.generators.image.landmarks.detect` finds in ``picture``;
    a BuildError naming ``what`` when there is none."""
    from filmkit.generators.image.landmarks import detect

    face = detect(picture)
    if face is None:
        raise BuildError(
            f"no face found in {what}: a frontal face, both eyes visible, is needed to "
            "animate or morph it"
        )
    return face


def talking_frames(image: Path, outputs: dict[str, Path]) -> dict[str, Any]:
    """Write the ``mouth_open`` and ``blink`` frames of the portrait in ``image``. A
    portrait without a face to find keeps still (both frames are the portrait), and the
    build warns."""
    from filmkit.generators.image.landmarks import detect
    from filmkit.render.talk import changed_box, talk_frames

    with Image.open(image) as opened:
        picture = np.asarray(opened.convert("RGBA"))
    face = detect(picture)
    if face is None:
        for name in ("mouth_open", "blink"):
            Image.fromarray(picture).save(outputs[name], format="PNG", compress_level=3)
        return {
            "warnings": [
                "no face found in the portrait (a frontal face, both eyes visible): it "
                "neither talks nor blinks"
            ]
        }
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
    from filmkit.render.morph import Morpher, silhouette_points

    pictures = []
    for path in sources:
        with Image.open(path) as opened:
            pictures.append(opened.convert("RGBA"))
    first, last = pictures
    if last.size != first.size:
        last = last.resize(first.size, Image.Resampling.LANCZOS)
    a, b = np.asarray(first), np.asarray(last)
    face_a = face_of(a, f"{layer['morph'][0]} (the morph's first face)")
    face_b = face_of(b, f"{layer['morph'][1]} (the morph's second face)")
    start, end = layer.get("between") or (layer["start"], layer.get("end") or duration)
    progress = np.clip((times - start) / max(end - start, 1e-6), 0.0, 1.0)
    alpha = EASINGS[layer.get("ease", "in-out")](progress)
    stages = np.rint(alpha * MORPH_STAGES).astype(np.int64)
    distinct, picks = np.unique(stages, return_inverse=True)
    centres = [tuple(np.mean([f.left_eye, f.right_eye], axis=0)) for f in (face_a, face_b)]
    outline_a, outline_b = silhouette_points(a[..., 3], centres[0], b[..., 3], centres[1])
    points_a = np.concatenate([face_a.points(), outline_a])
    points_b = np.concatenate([face_b.points(), outline_b])
    morpher = Morpher(a, points_a, b, points_b)
    frames = [Image.fromarray(morpher.frame(stage / MORPH_STAGES)) for stage in distinct]
    return frames, picks.reshape(-1).astype(np.int64)


def lipsynced(
    pictures: list[Image.Image],
    picks: np.ndarray,
    weights: Path,
    spoken: list[tuple[float, Path]],
    duration: float,
    fps: int,
    animated: bool = False,
) -> tuple[list[Image.Image], np.ndarray]:
    """The character's pictures with, for every frame where it speaks, the mouth redrawn
    by Wav2Lip from its own lines (the user's weights): on the neutral face, or on each
    frame's own picture when the face is ``animated`` (driven by a motion model)."""
    import torch

    from filmkit.generators.training import cpu_threads, pick_device
    from filmkit.render.wav2lip import LipSync, load_wav2lip, mel_chunks, mel_spectrogram

    speaking = np.flatnonzero(speech_level(spoken, fps, duration)[: len(picks)] > LIPSYNC_LEVEL)
    if not len(speaking):
        return pictures, picks
    rate = 16000
    chunks = mel_chunks(mel_spectrogram(_track(spoken, duration, rate), rate), fps, len(picks))
    bases = picks[speaking] if animated else np.zeros(len(speaking), np.int64)
    device = pick_device(torch, "auto")
    drawn: dict[int, np.ndarray] = {}
    with cpu_threads(torch, device):
        syncer = LipSync(torch, load_wav2lip(torch, weights, device), device)
        for base in np.unique(bases):
            frames = speaking[bases == base]
            portrait = np.asarray(pictures[int(base)])
            box = tuple(int(round(v)) for v in face_of(portrait, "the face to lip-sync").box)
            for i, pixels in zip(frames, syncer.frames(portrait, box, chunks[frames]), strict=True):
                drawn[int(i)] = pixels
    picks = picks.copy()
    picks[speaking] = len(pictures) + np.arange(len(speaking))
    return [*pictures, *(Image.fromarray(drawn[int(i)]) for i in speaking)], picks


def _track(spoken: list[tuple[float, Path]], duration: float, rate: int) -> np.ndarray:
    """The lines, mono at ``rate``, each at its time in a track as long as the shot."""
    from scipy.signal import resample_poly

    from filmkit.media import read_wav

    track = np.zeros(int((duration + 1) * rate), np.float32)
    for offset, path in spoken:
        audio, source_rate = read_wav(path)
        mono = audio.mean(axis=1)
        if source_rate != rate:
            mono = resample_poly(mono, rate, source_rate).astype(np.float32)
        start = round(offset * rate)
        piece = mono[: max(len(track) - start, 0)]
        track[start : start + len(piece)] += piece
    return track


def animated_pictures(
    portrait: Image.Image, video: Path, weights: Path, count: int, fps: int, size: int = 256
) -> tuple[list[Image.Image], np.ndarray]:
    """The portrait redrawn by a First Order Motion Model (the user's weights) with the
    expressions and head motion of the face in ``video``, one picture per frame."""
    import torch

    from filmkit.generators.training import cpu_threads, pick_device
    from filmkit.media import sampled_frames, video_info
    from filmkit.render.fomm import Animator, load_fomm

    width, height, _ = video_info(video)
    driving = []
    for pixels in sampled_frames(video, fps, (width, height)):
        if pixels is None or len(driving) == count:
            break
        driving.append(pixels)
    if not driving:
        raise BuildError(f"{video.name} has no frames to drive the face with")
    rgba = np.asarray(portrait.convert("RGBA"))
    alpha = rgba[..., 3:].astype(np.float32) / 255
    # The model sees the face on grey; its silhouette is the portrait's own.
    flat = (rgba[..., :3] * alpha + 128 * (1 - alpha)).astype(np.uint8)
    device = pick_device(torch, "auto")
    with cpu_threads(torch, device):
        kp_detector, generator = load_fomm(torch, weights, device)[:2]
        frames = Animator(torch, kp_detector, generator, device).animate(flat, driving)
    pictures = []
    for frame in frames:
        shown = Image.fromarray(frame).resize(portrait.size, Image.Resampling.LANCZOS)
        pictures.append(Image.fromarray(np.dstack([np.asarray(shown), rgba[..., 3]])))
    picks = np.minimum(np.arange(count), len(pictures) - 1)
    return pictures, picks
