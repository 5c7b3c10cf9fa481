"""A shot as a moviepy composition of its layers. Builds clips; writes nothing.

Every layer becomes one moviepy clip placed by ``fit``/``scale``/``position``
/``anchor``; pictures with a ``move`` get a Ken Burns crop that eases from the
first zoom/centre to the second; faces switch between their neutral, talking
and blinking frames following the character's own voice in this shot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from filmkit.media import read_wav, wav_duration
from filmkit.render.timeline import shot_timing

TALK_THRESHOLD = 0.4
BLINK_SECONDS = 0.13


def default_font() -> Path:
    """The bundled title font (Noto Serif, OFL-1.1, from fontpkg-noto-serif)."""
    folder = Path(str(files("fontpkg_noto_serif").joinpath("files")))
    return next(p for p in sorted(folder.glob("*.ttf")) if "Italic" not in p.name)


def compose_shot(params: dict[str, Any], inputs: dict[str, Path]) -> Any:
    """The moviepy clip of one shot, at the film's size, of frame-exact length."""
    from moviepy import CompositeVideoClip

    lengths = [wav_duration(inputs[f"line{k}"]) for k in range(len(params["lines"]))]
    duration, offsets = shot_timing(params, lengths, params["fps"])
    frame = (params["size"][0], params["size"][1])
    clips: list[Any] = []
    if not params["layers"]:
        from moviepy import ColorClip

        clips.append(ColorClip(frame, color=(0, 0, 0)).with_duration(duration))
    for k, layer in enumerate(params["layers"]):
        clip = _layer_clip(k, layer, params, inputs, frame, duration, offsets, lengths)
        end = min(layer["end"] if layer["end"] is not None else duration, duration)
        clip = clip.with_start(layer["start"]).with_duration(max(end - layer["start"], 1e-3))
        clips.append(_with_fades(clip, layer))
    if "subtitles" in params:
        clips += _subtitle_clips(params, frame, duration, offsets, lengths)
    return CompositeVideoClip(clips, size=frame, bg_color=(0, 0, 0)).with_duration(duration)


def _layer_clip(
    k: int,
    layer: dict[str, Any],
    params: dict[str, Any],
    inputs: dict[str, Path],
    frame: tuple[int, int],
    duration: float,
    offsets: tuple[float, ...],
    lengths: list[float],
) -> Any:
    kind = layer["kind"]
    if kind == "color":
        from moviepy import ColorClip

        rgb = tuple(int(layer["color"][i : i + 2], 16) for i in (1, 3, 5))
        clip = ColorClip(frame, color=rgb)
        return clip.with_opacity(layer["opacity"]) if layer["opacity"] < 1 else clip
    if kind in ("image", "generate"):
        picture = np.asarray(Image.open(inputs[f"layer{k}"]).convert("RGBA"))
        return _picture_clip([picture], lambda t: 0, layer, frame, duration)
    if kind == "character":
        frames = [
            np.asarray(Image.open(inputs[f"layer{k}.{name}"]).convert("RGBA"))
            for name in ("image", "mouth_open", "blink")
        ]
        spoken = [
            (offsets[i], inputs[f"line{i}"])
            for i, line in enumerate(params["lines"])
            if line["who"] == layer["character"]
        ]
        chooser = _face_chooser(spoken, params["fps"], duration, layer["character"])
        return _picture_clip(frames, chooser, layer, frame, duration)
    if kind == "text":
        return _text_clip(layer, inputs.get(f"layer{k}.font"), frame)
    if kind == "video":
        return _video_clip(layer, inputs[f"layer{k}"], frame, duration)
    raise ValueError(f"unknown layer kind {kind!r}")


def _display_size(
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


def _place(layer: dict[str, Any], size: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner that puts the layer's anchor at its position."""
    x = layer["position"][0] * frame[0] - layer["anchor"][0] * size[0]
    y = layer["position"][1] * frame[1] - layer["anchor"][1] * size[1]
    return round(x), round(y)


def _ease(p: float) -> float:
    p = min(max(p, 0.0), 1.0)
    return p * p * (3 - 2 * p)


def _picture_clip(
    pictures: list[np.ndarray],
    choose: Callable[[float], int],
    layer: dict[str, Any],
    frame: tuple[int, int],
    duration: float,
) -> Any:
    """An RGBA picture (or a set of alternates) with optional Ken Burns move."""
    from moviepy import VideoClip

    source_h, source_w = pictures[0].shape[:2]
    size = _display_size(layer, (source_w, source_h), frame)
    move = layer.get("move")
    opacity = layer["opacity"]
    # An opaque picture needs no mask: moviepy then pastes it instead of blending.
    opaque = opacity >= 1 and all(int(p[..., 3].min()) == 255 for p in pictures)
    images = [Image.fromarray(p[..., :3] if opaque else p) for p in pictures]
    still = [np.asarray(im.resize(size, Image.LANCZOS)) for im in images] if not move else []
    cache: dict[float, np.ndarray] = {}

    def rgba(t: float) -> np.ndarray:
        if t in cache:
            return cache[t]
        index = choose(t)
        if not move:
            out = still[index]
        else:
            p = _ease(t / duration if duration else 0.0)
            zoom = move["zoom"][0] + (move["zoom"][1] - move["zoom"][0]) * p
            cx = move["x"][0] + (move["x"][1] - move["x"][0]) * p
            cy = move["y"][0] + (move["y"][1] - move["y"][0]) * p
            w, h = source_w / zoom, source_h / zoom
            x0 = min(max(cx * source_w - w / 2, 0), source_w - w)
            y0 = min(max(cy * source_h - h / 2, 0), source_h - h)
            box = (x0, y0, x0 + w, y0 + h)
            out = np.asarray(images[index].resize(size, Image.BILINEAR, box=box))
        cache.clear()
        cache[t] = out
        return out

    clip = VideoClip(lambda t: rgba(t)[..., :3], duration=duration).with_position(
        _place(layer, size, frame)
    )
    if opaque:
        return clip
    mask = VideoClip(lambda t: rgba(t)[..., 3] * (opacity / 255.0), is_mask=True, duration=duration)
    return clip.with_mask(mask)


def _face_chooser(
    spoken: list[tuple[float, Path]], fps: int, duration: float, who: str
) -> Callable[[float], int]:
    """Frame index over time: 1 (mouth open) on loud speech, 2 (blink) now and then."""
    frames = math.ceil(duration * fps) + 1
    talking = np.zeros(frames, dtype=bool)
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
        level = rms / (np.percentile(rms, 95) + 1e-9)
        first = round(offset * fps)
        span = talking[first : first + count]
        span |= (level > TALK_THRESHOLD)[: len(span)]
    seed = int(hashlib.sha256(who.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    blinks = np.cumsum(rng.uniform(2.5, 5.0, size=int(duration / 2.5) + 2))

    def choose(t: float) -> int:
        i = min(int(t * fps + 1e-6), frames - 1)
        if talking[i]:
            return 1
        if np.any((t >= blinks) & (t < blinks + BLINK_SECONDS)):
            return 2
        return 0

    return choose


def _text_clip(layer: dict[str, Any], font: Path | None, frame: tuple[int, int]) -> Any:
    from moviepy import TextClip

    size = max(8, round(layer["size"] * frame[1] / 720 * layer["scale"]))
    # NOTE: TextClip crops descenders (g, y, p) unless it is given a margin.
    clip = TextClip(
        font=str(font or default_font()),
        text=layer["text"],
        font_size=size,
        color=layer["color"],
        margin=(size // 2, size // 2),
        method="label",
        text_align="center",
    )
    if layer["opacity"] < 1:
        clip = clip.with_opacity(layer["opacity"])
    return clip.with_position(_place(layer, clip.size, frame))


def _subtitle_clips(
    params: dict[str, Any],
    frame: tuple[int, int],
    duration: float,
    offsets: tuple[float, ...],
    lengths: list[float],
) -> list[Any]:
    """Burned-in subtitles: each line's text under the picture while it is spoken."""
    from moviepy import TextClip

    style = params["subtitles"]
    size = max(8, round(style["size"] * frame[1] / 720))
    clips = []
    for k, text in enumerate(style["text"]):
        start = offsets[k]
        hold = min(params["lines"][k]["pause"], 0.4)
        end = min(start + lengths[k] + hold, duration)
        clip = TextClip(
            font=str(default_font()),
            text=text,
            font_size=size,
            color="#ffffff",
            stroke_color="#000000",
            stroke_width=max(1, size // 12),
            method="caption",
            size=(round(frame[0] * 0.8), None),
            margin=(size // 2, size // 2),
            text_align="center",
        )
        x = (frame[0] - clip.size[0]) // 2
        y = frame[1] - clip.size[1] - round(frame[1] * 0.04)
        clips.append(clip.with_position((x, y)).with_start(start).with_duration(end - start))
    return clips


def _video_clip(layer: dict[str, Any], path: Path, frame: tuple[int, int], duration: float) -> Any:
    from moviepy import VideoFileClip, vfx

    clip = VideoFileClip(str(path), audio=False)
    if layer["trim"]:
        clip = clip.subclipped(layer["trim"][0], layer["trim"][1])
    if layer["loop"]:
        clip = clip.with_effects([vfx.Loop(duration=duration)])
    size = _display_size(layer, clip.size, frame)
    clip = clip.resized(new_size=size)
    if layer["opacity"] < 1:
        clip = clip.with_opacity(layer["opacity"])
    return clip.with_position(_place(layer, size, frame))


def _with_fades(clip: Any, layer: dict[str, Any]) -> Any:
    from moviepy import vfx

    effects = []
    if layer["fade_in"]:
        effects.append(vfx.CrossFadeIn(layer["fade_in"]))
    if layer["fade_out"]:
        effects.append(vfx.CrossFadeOut(layer["fade_out"]))
    return clip.with_effects(effects) if effects else clip
