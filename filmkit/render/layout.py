"""Where a layer sits in the frame and what it shows when. Pure: numbers in, numbers out.

Sizes from ``fit``/``scale``, corners from ``position``/``anchor``, per-frame
opacity from ``start``/``end``/``opacity``/fades, the Ken Burns crop of every
frame, keyframed values eased between their keys, and which face frame (neutral,
mouth open, blink) a character shows.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.media import read_wav

TALK_THRESHOLD = 0.4
BLINK_SECONDS = 0.13


def display_size(
    layer: dict[str, Any], source: tuple[int, int], frame: tuple[int, int]
) -> tuple[int, int]:
    """Pixel size of a layer in the frame, from ``fit`` and ``scale``."""
    sw, sh = source
    fw, fh = frame
    if layer["fit"] == "cover":
        factor = max(fw / sw, fh / sh)
    elif layer["fit"] == "contain":
        factor = min(fw / sw, fh / sh)
    else:
        factor = fh / sh
    factor *= layer["scale"]
    return max(2, round(sw * factor)), max(2, round(sh * factor))


def place(layer: dict[str, Any], size: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner that puts the layer's anchor at its position."""
    x = layer["position"][0] * frame[0] - layer["anchor"][0] * size[0]
    y = layer["position"][1] * frame[1] - layer["anchor"][1] * size[1]
    return round(x), round(y)


def visibility(layer: dict[str, Any], times: np.ndarray, duration: float) -> np.ndarray:
    """Per frame time: the layer's opacity times its fades, 0 where it is not playing.

    A layer plays from ``start`` to ``end`` (at the latest the shot's end,
    and at least a millisecond); ``fade_in`` ramps it up from its start and
    ``fade_out`` down to its end, over the layers below it.
    """
    start = layer["start"]
    end = min(layer["end"] if layer["end"] is not None else duration, duration)
    length = max(end - start, 1e-3)
    local = times - start
    fade = np.ones_like(local)
    if layer["fade_in"]:
        fade = np.where(local < layer["fade_in"], local / layer["fade_in"], fade)
    if layer["fade_out"]:
        left = length - local
        fade = np.where(left < layer["fade_out"], fade * left / layer["fade_out"], fade)
    playing = (times >= start) & (times < start + length)
    return np.where(playing, layer["opacity"] * np.clip(fade, 0.0, 1.0), 0.0)


def ease(p: np.ndarray) -> np.ndarray:
    """Smoothstep: a move starts and ends gently."""
    p = np.clip(p, 0.0, 1.0)
    return p * p * (3 - 2 * p)


# How a keyed value gets from one key to the next, as the fraction of the way there.
EASINGS = {
    "linear": lambda p: p,
    "in": lambda p: p * p,
    "out": lambda p: 1 - (1 - p) ** 2,
    "in-out": ease,
    "hold": lambda p: np.where(p >= 1.0, 1.0, 0.0),
}


def keyframes(layer: dict[str, Any], times: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame time, a keyed layer's ``x``, ``y``, ``scale``, ``rotation`` and ``opacity``.

    A key's missing values are the key before's; before its first key a value is
    the layer's own (its position, scale 1, rotation 0, opacity 1); between two
    keys it eases as the later key says, and after the last key it stays.
    """
    current = {"x": layer["position"][0], "y": layer["position"][1]}
    current |= {"scale": 1.0, "rotation": 0.0, "opacity": 1.0}
    rows = []
    for key in layer["keys"]:
        if key["position"] is not None:
            current |= {"x": key["position"][0], "y": key["position"][1]}
        current |= {n: key[n] for n in ("scale", "rotation", "opacity") if key[n] is not None}
        rows.append(dict(current))
    at = np.array([key["at"] for key in layer["keys"]], dtype=np.float64)
    # Each frame starts at the last key at or before it (the first key before any).
    held = np.clip(np.searchsorted(at, times, side="right") - 1, 0, len(at) - 1)
    values = {name: np.array([row[name] for row in rows])[held] for name in current}
    for j in range(1, len(at)):
        span = (times > at[j - 1]) & (times < at[j])
        p = EASINGS[layer["keys"][j]["ease"]]((times[span] - at[j - 1]) / (at[j] - at[j - 1]))
        for name, value in values.items():
            value[span] = rows[j - 1][name] + (rows[j][name] - rows[j - 1][name]) * p
    return values


def ken_burns(move: dict[str, Any], progress: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Per frame, the crop ``(left, top, width, height)`` of a ``source``-sized picture.

    Zoom and centre go from the move's first values to its second as
    ``progress`` goes from 0 to 1; the crop never leaves the picture.
    """
    (z0, z1), (x0, x1), (y0, y1) = move["zoom"], move["x"], move["y"]
    zoom = z0 + (z1 - z0) * progress
    w, h = source[0] / zoom, source[1] / zoom
    left = np.clip((x0 + (x1 - x0) * progress) * source[0] - w / 2, 0, source[0] - w)
    top = np.clip((y0 + (y1 - y0) * progress) * source[1] - h / 2, 0, source[1] - h)
    return np.stack([left, top, w, h], axis=1)


def speech_level(spoken: list[tuple[float, Path]], fps: int, duration: float) -> np.ndarray:
    """How loud speech is on each frame of a shot (0 silent, 1 at a line's loud
    syllables): the RMS of each frame's audio over the line's 95th percentile.

    ``spoken`` is when (seconds into the shot) and from which WAV file lines are
    spoken; the array has one value per frame up to ``duration`` and one more.
    """
    level = np.zeros(math.ceil(duration * fps) + 1)
    for offset, path in spoken:
        audio, rate = read_wav(path)
        mono = audio.mean(axis=1)
        hop = rate / fps
        count = int(len(mono) / hop)
        if count == 0:
            continue
        bounds = (np.arange(count + 1) * hop).astype(int)
        energy = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
        rms = np.sqrt((energy[bounds[1:]] - energy[bounds[:-1]]) / np.diff(bounds))
        first = round(offset * fps)
        span = level[first : first + count]
        np.maximum(span, (rms / (np.percentile(rms, 95) + 1e-9))[: len(span)], out=span)
    return level


def face_frames(
    spoken: list[tuple[float, Path]], fps: int, duration: float, who: str, times: np.ndarray
) -> np.ndarray:
    """Per frame time: 1 (mouth open) on loud speech, 2 (blink) now and then, else 0.

    ``spoken`` is when (seconds into the shot) and from which WAV file the
    character speaks; blinks fall at the same times in every shot.
    """
    frames = math.ceil(duration * fps) + 1
    talking = speech_level(spoken, fps, duration) > TALK_THRESHOLD
    seed = int(hashlib.sha256(who.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    blinks = np.cumsum(rng.uniform(2.5, 5.0, size=int(duration / 2.5) + 2))
    index = np.clip((times * fps + 1e-6).astype(np.int64), 0, frames - 1)
    blinking = ((times[:, None] >= blinks) & (times[:, None] < blinks + BLINK_SECONDS)).any(axis=1)
    return np.where(talking[index], 1, np.where(blinking, 2, 0))
