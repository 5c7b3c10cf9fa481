"""A shot's frames, composited on demand from layers prepared once.

Every layer is placed by ``fit``/``scale``/``position``/``anchor``; pictures
and videos with a ``move`` get a Ken Burns crop that eases from the first
zoom/centre to the second, and layers with ``keys`` move, scale, turn and
fade by keyframes (:mod:`~filmkit.render.keyed`); a layer's ``blend`` mixes
it with those below; faces switch between their neutral, talking and blinking
frames following the character's own voice in this shot; latent walks and
morphs are sequences of pictures (:mod:`~filmkit.render.faces`), one shown per
frame. A layer is drawn
from ``start`` to ``end`` (default: the shot's end), its ``opacity`` times
its fades scaling its alpha over the layers below; subtitles go on top.

Everything that does not change from frame to frame is done in
:class:`ShotFrames`'s constructor: stills resized, text drawn, each layer's
opacity and face worked out for every frame. A frame is then a few C-speed
PIL pastes over each layer's own box on a black canvas; a frame whose layers
all look as in the frame before is not composited again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from filmkit.media import wav_duration
from filmkit.render.drive import driven_keys, head_poses
from filmkit.render.effects import FAR, CameraMoves, ShotStyle, depth_picture, depth_twin, masked
from filmkit.render.faces import (
    animated_pictures,
    face_of,
    lipsynced,
    morph_pictures,
    walk_pictures,
)
from filmkit.render.footage import video_layer
from filmkit.render.keyed import Keyed, keyed_pictures, keyed_video
from filmkit.render.layers import BLENDS, Layer, Moving, Still, Video, resized, scaled
from filmkit.render.layout import display_size, ease, face_frames, ken_burns, place, visibility
from filmkit.render.looks import Look
from filmkit.render.text import default_font, text_sprite
from filmkit.render.timeline import shot_timing

FACE_FRAMES = ("image", "mouth_open", "blink")
# A moving picture is resampled once to SUPERSAMPLE x (its largest zoom) times
# its size in the frame, capped at MAX_SUPERSAMPLED pixels; each frame then
# takes its Ken Burns crop from it by nearest sampling. That is within about
# 44 dB PSNR of a bilinear crop, placed to a quarter of a pixel either way,
# at a tenth of the cost of resampling the crop itself every frame.
SUPERSAMPLE = 2.0
MAX_SUPERSAMPLED = 12_000_000


class ShotFrames:
    """The frames of one shot, at the film's size, of frame-exact length."""

    def __init__(self, params: dict[str, Any], inputs: dict[str, Path]) -> None:
        self.fps: int = params["fps"]
        self.size: tuple[int, int] = (params["size"][0], params["size"][1])
        lengths = [wav_duration(inputs[f"line{k}"]) for k in range(len(params["lines"]))]
        duration, offsets = shot_timing(params, lengths, self.fps)
        self.count: int = round(duration * self.fps)
        times = np.arange(self.count) / self.fps
        scene = _Scene(params, inputs, self.size, duration, offsets, times)
        jobs = [partial(_make_layer, k, layer, scene) for k, layer in enumerate(params["layers"])]
        if "subtitles" in params:
            jobs.append(partial(_subtitles, scene, lengths))
        self._layers = _prepare(jobs)
        look = params.get("look")
        self._look = Look(look, inputs.get("look.grade"), self.size) if look else None
        camera = params.get("camera")
        self._camera = CameraMoves(camera, times, duration, self.size) if camera else None
        self._style = None
        if "style" in params:
            weights = [inputs[f"style{n}"] for n in range(params["style"]["models"])]
            self._style = ShotStyle(params["style"], weights, self.count)
        self._animated = any(
            part is not None and part.animated for part in (self._look, self._camera, self._style)
        )
        self._last: tuple[tuple[Hashable, ...], np.ndarray] | None = None

    def frame(self, i: int, *, rgbx: bool = False) -> np.ndarray:
        """Frame ``i`` as a read-only ``(height, width, 3)`` uint8 array.

        With ``rgbx``, it may come as ``(height, width, 4)``, RGB and a byte to
        ignore, as the compositor's canvas keeps it: what a frame writer takes
        without the canvas being packed into RGB first.
        """
        pixels = self._pixels(i)
        return pixels if rgbx else pixels[..., :3]

    def _pixels(self, i: int) -> np.ndarray:
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} is outside the shot's {self.count} frames")
        states = tuple(layer.key(i) for layer in self._layers)
        key = states
        if self._animated:
            key += (i,)  # grain, dust or the camera change every frame
        if self._style is not None:
            key += (int(self._style.picks[i]),)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        drawn = zip(self._layers, states, strict=True)
        shown = [layer for layer, state in drawn if state is not None]
        deep = [n for n, layer in enumerate(shown) if layer.depth is not None]
        if self._camera is not None and deep:
            # The camera sees the layers that have a depth; those above them stay sharp.
            behind, above = shown[: deep[-1] + 1], shown[deep[-1] + 1 :]
            pixels = self._camera.apply(self._composite(behind, i), self._depth(behind, i), i)
            if above:
                canvas = Image.fromarray(pixels)
                for layer in above:
                    layer.draw(canvas, i)
                pixels = np.asarray(canvas)
        else:
            # Kept as the canvas has it (RGBX) when nothing works on the pixels after.
            rgbx = self._style is None and self._look is None
            pixels = self._composite(shown, i, rgbx=rgbx)
        if self._style is not None:
            pixels = self._style.apply(pixels, i)
        if self._look is not None:
            pixels = self._look.apply(pixels, i)
        self._last = (key, pixels)
        return pixels

    def _composite(self, shown: list[Layer], i: int, *, rgbx: bool = False) -> np.ndarray:
        """Frame ``i`` of the ``shown`` layers, bottom to top, as a read-only array:
        ``(height, width, 3)``, or with ``rgbx`` ``(height, width, 4)``, RGB and a
        byte to ignore, as PIL keeps RGB in memory (a copy, where RGB is a packing)."""
        # The topmost layer that hides the whole frame starts the canvas: none below it shows.
        base = next((n for n in range(len(shown) - 1, -1, -1) if shown[n].covers(i)), None)
        canvas = Image.new("RGB", self.size) if base is None else shown[base].canvas(i)
        for layer in shown[0 if base is None else base + 1 :]:
            layer.draw(canvas, i)
        width, height = self.size
        mode = "RGBX" if rgbx else "RGB"
        return np.frombuffer(canvas.tobytes("raw", mode), np.uint8).reshape(height, width, -1)

    def _depth(self, shown: list[Layer], i: int) -> np.ndarray:
        """Frame ``i``'s depth map (0 near, 255 far) from the depth twins of ``shown``."""
        canvas = Image.new("RGB", self.size, (FAR, FAR, FAR))
        for layer in shown:
            if layer.depth is not None and layer.depth.key(i) is not None:
                layer.depth.draw(canvas, i)
        return np.asarray(canvas.getchannel("R"))

    def frames(
        self, first: int = 0, last: int | None = None, hold: int = 1, *, rgbx: bool = False
    ) -> Iterator[np.ndarray]:
        """Frames ``first`` (included) to ``last`` (excluded; default: the end), in order.

        With ``hold`` > 1, only every ``hold``-th frame from ``first`` is composited,
        and shown in its place and the ``hold - 1`` frames after it. ``rgbx`` is
        :meth:`frame`'s.
        """
        for i in range(first, self.count if last is None else last):
            yield self.frame(i - (i - first) % hold, rgbx=rgbx)

    def close(self) -> None:
        """Release the video files the layers read from."""
        for layer in self._layers:
            layer.close()

    def __enter__(self) -> ShotFrames:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _prepare(jobs: list[Callable[[], list[Layer]]]) -> list[Layer]:
    """The layers the jobs make, in order, made side by side.

    The set-up is mostly PIL decoding and resizing pictures, which lets go of
    the GIL: on two cores this halves it while ffmpeg has no frame to encode yet.
    """
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(job) for job in jobs]
    layers = [layer for future in futures if not future.exception() for layer in future.result()]
    failure = next((future.exception() for future in futures if future.exception()), None)
    if failure is not None:
        for layer in layers:
            layer.close()
        raise failure
    return layers


@dataclass(frozen=True)
class _Scene:
    """What every layer of a shot is prepared from: its params, inputs and clock."""

    params: dict[str, Any]
    inputs: dict[str, Path]
    frame: tuple[int, int]
    duration: float
    offsets: tuple[float, ...]
    times: np.ndarray


def _make_layer(k: int, layer: dict[str, Any], scene: _Scene) -> list[Layer]:
    """Layer ``k`` of the shot, ready to draw (in a list, as the subtitles' job returns)."""
    made = _layer(k, layer, scene)
    made.blend = BLENDS.get(layer.get("blend", "normal"))
    return [made]


def _layer(k: int, layer: dict[str, Any], scene: _Scene) -> Layer:
    """Layer ``k`` of the shot, made as its kind says."""
    kind = layer["kind"]
    inputs = scene.inputs
    shown = visibility(layer, scene.times, scene.duration)
    if kind == "color":
        rgb = tuple(int(layer["color"][i : i + 2], 16) for i in (1, 3, 5))
        return _with_plane(Still([rgb], [None], (0, 0, *scene.frame), scene.frame, shown), layer)
    if kind in ("image", "generate"):
        return _picture([inputs[f"layer{k}"]], None, layer, scene, shown, k)
    if kind == "character":
        spoken = _spoken(scene, layer["character"])
        who, fps, local = layer["character"], scene.params["fps"], scene.times - layer["start"]
        picks = face_frames(spoken, fps, scene.duration, who, local)
        paths = [inputs[f"layer{k}.{name}"] for name in FACE_FRAMES]
        if layer.get("drive") or layer.get("lipsync"):
            return _driven_face(k, layer, paths, picks, scene, shown, spoken)
        return _picture(paths, picks, layer, scene, shown, k)
    if kind == "walk":
        fps = scene.params["fps"]
        model = inputs[f"layer{k}.model"]
        faces = walk_pictures(layer, model, scene.times, scene.duration, fps, _spoken(scene))
        return _pictures(*faces, layer, scene, shown, k)
    if kind == "morph":
        ends = (inputs[f"layer{k}.from"], inputs[f"layer{k}.to"])
        stages = morph_pictures(layer, ends, scene.times, scene.duration)
        return _pictures(*stages, layer, scene, shown, k)
    if kind == "text":
        size = max(8, round(layer["size"] * scene.frame[1] / 720 * layer["scale"]))
        font = inputs.get(f"layer{k}.font") or default_font()
        sprite = text_sprite(layer["text"], font, size, layer["color"])
        corner = place(layer, sprite.size, scene.frame)
        if layer.get("keys"):
            made: Layer = keyed_pictures(
                [sprite], None, layer, sprite.size, scene.frame, scene.times, shown
            )
        else:
            made = _sprite(sprite, corner, scene.frame, shown)
        if layer.get("depth") is not None:
            twin = depth_twin(sprite, depth_picture(layer["depth"], sprite, None))
            keyed = isinstance(made, Keyed)
            made.depth = made.twin([twin]) if keyed else _sprite(twin, corner, scene.frame, shown)
        return made
    if kind == "video":
        video: Layer = video_layer(
            k, layer, inputs, scene.frame, scene.times, scene.duration, shown
        )
        if layer.get("keys"):
            video = keyed_video(video, layer, scene.times, shown)
        return _with_plane(video, layer)
    raise ValueError(f"unknown layer kind {kind!r}")


def _driven_face(
    k: int,
    layer: dict[str, Any],
    paths: list[Path],
    picks: np.ndarray,
    scene: _Scene,
    shown: np.ndarray,
    spoken: list[tuple[float, Path]],
) -> Layer:
    """A character's face driven by a video of a face: redrawn with its expressions by a
    First Order Motion Model (the drive's ``model``), or else moved as its head moves,
    placed by one key a frame (from landmarks); and with its mouth redrawn by Wav2Lip
    from its lines (``lipsync``)."""
    pictures = _opened(paths)
    fps = scene.params["fps"]
    drive = layer.get("drive")
    model = scene.inputs.get(f"layer{k}.drive_model")
    if model is not None:
        video, count = scene.inputs[f"layer{k}.drive"], len(scene.times)
        pictures, picks = animated_pictures(pictures[0], video, model, count, fps)
    if layer.get("lipsync"):
        weights = scene.inputs[f"layer{k}.lipsync"]
        pictures, picks = lipsynced(
            pictures, picks, weights, spoken, scene.duration, fps, animated=model is not None
        )
    if drive and model is None:
        poses = head_poses(scene.inputs[f"layer{k}.drive"], fps, len(scene.times))
        width, height = pictures[0].size
        ratio = display_size(layer, (width, height), scene.frame)[0] / width
        face = face_of(np.asarray(pictures[0]), f"the face of {layer['character']}")
        (lx, ly), (rx, ry) = face.left_eye, face.right_eye
        ax, ay = layer["anchor"]
        eyes = (((lx + rx) / 2 - ax * width) * ratio, ((ly + ry) / 2 - ay * height) * ratio)
        apart = face.interocular * ratio
        keys = driven_keys(layer, poses, scene.times, fps, eyes, apart, scene.frame)
        layer = {**layer, "keys": keys}
    return _pictures(pictures, picks, layer, scene, shown, k)


def _spoken(scene: _Scene, who: str | None = None) -> list[tuple[float, Path]]:
    """When (seconds into the shot) and from which WAV file ``who`` (default: anyone) speaks."""
    lines = scene.params["lines"]
    return [
        (scene.offsets[i], scene.inputs[f"line{i}"])
        for i, line in enumerate(lines)
        if who is None or line["who"] == who
    ]


def _with_plane(made: Layer, layer: dict[str, Any]) -> Layer:
    """``made`` with the twin of its one ``depth`` (a flat plane over its box), if it has one."""
    if layer.get("depth") is not None:
        grey = round(float(layer["depth"]) * 255)
        if isinstance(made, Keyed | Video):
            made.depth = made.silhouette(grey)  # follows a video's keys and mask
        else:
            made.depth = Still([(grey,) * 3], [None], made.box, made.frame, made.levels / 255)
    return made


def _sprite(
    sprite: Image.Image, corner: tuple[int, int], frame: tuple[int, int], shown: np.ndarray
) -> Still:
    """An RGBA sprite with its top-left corner at ``corner``."""
    box = (*corner, corner[0] + sprite.width, corner[1] + sprite.height)
    return Still([sprite], [sprite.getchannel("A")], box, frame, shown)


def _picture(
    paths: list[Path],
    picks: np.ndarray | None,
    layer: dict[str, Any],
    scene: _Scene,
    shown: np.ndarray,
    k: int,
) -> Layer:
    """A picture layer (or alternates of one chosen per frame by ``picks``), masked as
    its ``mask`` says, with the twin of its ``depth``."""
    return _pictures(_opened(paths), picks, layer, scene, shown, k)


def _opened(paths: list[Path]) -> list[Image.Image]:
    """The pictures in ``paths``, RGBA."""
    pictures = []
    for path in paths:
        with Image.open(path) as image:
            pictures.append(image.convert("RGBA"))
    return pictures


def _pictures(
    pictures: list[Image.Image],
    picks: np.ndarray | None,
    layer: dict[str, Any],
    scene: _Scene,
    shown: np.ndarray,
    k: int,
) -> Layer:
    """What :func:`_picture` makes, from pictures already at hand."""
    pictures = [p if p.mode == "RGBA" else p.convert("RGBA") for p in pictures]
    if layer.get("mask"):
        model = scene.inputs.get(f"layer{k}.mask")
        pictures = [masked(p, layer["mask"], model) for p in pictures]
    made = _laid_out(pictures, picks, layer, scene, shown)
    if layer.get("depth") is not None:
        source = scene.inputs.get(f"layer{k}.depth")
        twins = [depth_twin(p, depth_picture(layer["depth"], p, source)) for p in pictures]
        made.depth = _laid_out(twins, picks, layer, scene, shown)
    return made


def _laid_out(
    pictures: list[Image.Image],
    picks: np.ndarray | None,
    layer: dict[str, Any],
    scene: _Scene,
    shown: np.ndarray,
) -> Layer:
    """RGBA pictures placed, faded and moved as the layer says; RGB when opaque."""
    pictures = [p.copy() for p in pictures]
    if all(p.getchannel("A").getextrema()[0] == 255 for p in pictures):
        pictures = [p.convert("RGB") for p in pictures]
    elif 0 < layer["opacity"] < 1:
        # A translucent picture's opacity goes into its alpha once, not into every frame.
        for p in pictures:
            p.putalpha(p.getchannel("A").point(scaled(round(layer["opacity"] * 255))))
        shown = shown / layer["opacity"]
    size = display_size(layer, pictures[0].size, scene.frame)
    if layer.get("keys"):
        return keyed_pictures(pictures, picks, layer, size, scene.frame, scene.times, shown)
    corner = place(layer, size, scene.frame)
    box = (*corner, corner[0] + size[0], corner[1] + size[1])
    move = layer.get("move")
    if not move:
        stills = [p.resize(size, Image.Resampling.LANCZOS) for p in pictures]
        alphas = [s.getchannel("A") if s.mode == "RGBA" else None for s in stills]
        return Still(list(stills), alphas, box, scene.frame, shown, picks)
    if picks is None:
        picks = np.zeros(len(scene.times), dtype=np.int64)
    return _moving(pictures, move, box, layer["start"], scene, shown, picks)


def _moving(
    pictures: list[Image.Image],
    move: dict[str, Any],
    box: tuple[int, int, int, int],
    start: float,
    scene: _Scene,
    shown: np.ndarray,
    picks: np.ndarray,
) -> Moving:
    """Pictures with a Ken Burns move: supersampled once, and each frame's map into them."""
    source = pictures[0].size
    size = (box[2] - box[0], box[3] - box[1])
    factor = min(
        SUPERSAMPLE * max(move["zoom"]) * size[0] / source[0],
        math.sqrt(MAX_SUPERSAMPLED / (source[0] * source[1])),
    )
    detailed = (max(1, round(source[0] * factor)), max(1, round(source[1] * factor)))
    sources = [_resampled(p, detailed) for p in pictures]
    progress = ease((scene.times - start) / scene.duration)
    left, top, w, h = ken_burns(move, progress, source).T
    sx, sy = detailed[0] / source[0], detailed[1] / source[1]
    zero = np.zeros_like(left)
    maps = np.stack([w * sx / size[0], zero, left * sx, zero, h * sy / size[1], top * sy], 1)
    return Moving(sources, maps, box, scene.frame, shown, picks)


def _resampled(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``picture`` resized to ``size`` (same mode, straight alpha; see :func:`resized`)."""
    return Image.fromarray(resized(np.asarray(picture), size))  # 3 channels RGB, 4 RGBA


def _subtitles(scene: _Scene, lengths: list[float]) -> list[Layer]:
    """Burned-in subtitles: each line's text under the picture while it is spoken.

    White with a black outline, wrapped to 80 % of the frame's width, 4 % of
    its height above the bottom edge.
    """
    style = scene.params["subtitles"]
    width, height = scene.frame
    size = max(8, round(style["size"] * height / 720))
    layers: list[Layer] = []
    for k, text in enumerate(style["text"]):
        start = scene.offsets[k]
        hold = min(scene.params["lines"][k]["pause"], 0.4)
        end = min(start + lengths[k] + hold, scene.duration)
        outline = ("#000000", max(1, size // 12))
        sprite = text_sprite(
            text, default_font(), size, "#ffffff", stroke=outline, width=round(width * 0.8)
        )
        corner = ((width - sprite.width) // 2, height - sprite.height - round(height * 0.04))
        shown = ((scene.times >= start) & (scene.times < end)).astype(np.float64)
        layers.append(_sprite(sprite, corner, scene.frame, shown))
    return layers
