"""A shot's layers, ready to be blended frame after frame onto a PIL canvas.

Each kind keeps what it needs, worked out once for the whole shot: its
pixels, its box in the frame, and per frame its level (opacity times fades,
0 to 255; 0 where it is not playing) and which alternate it shows. Blending
is PIL's ``paste`` with a mask (straight alpha), over the part of the layer's
box that is inside the frame and, for a picture with transparency, inside
the bounding box of what is not transparent. A layer with a blend mode first
mixes its pixels with what is under them (PIL's ``ImageChops``), then pastes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageChops

Box = tuple[int, int, int, int]
Blend = Callable[[Image.Image, Image.Image], Image.Image]

# Blend modes: what shows where a layer's pixels fall over those below (base, top).
BLENDS: dict[str, Blend] = {
    "multiply": ImageChops.multiply,
    "screen": ImageChops.screen,
    "overlay": ImageChops.overlay,
    "soft-light": ImageChops.soft_light,
    "hard-light": ImageChops.hard_light,
    "add": ImageChops.add,
    "lighten": ImageChops.lighter,
    "darken": ImageChops.darker,
    "difference": ImageChops.difference,
}


class Layer:
    """One layer's pixels over the frames of a shot.

    ``key(i)`` says what frame ``i`` shows of the layer (None: nothing), so
    equal keys mean equal pixels; ``draw`` blends frame ``i`` of the layer
    onto the canvas.
    """

    def __init__(self, shown: np.ndarray, box: Box, frame: tuple[int, int]) -> None:
        self.levels = np.rint(shown * 255).astype(np.int64)
        self.box = box
        self.frame = frame
        # Its twin of grey depth levels, laid out the same (see filmkit.render.effects).
        self.depth: Layer | None = None
        # How it mixes with the layers below (None: it covers them, as far as its alpha says).
        self.blend: Blend | None = None

    def key(self, i: int) -> Hashable:
        raise NotImplementedError

    def draw(self, canvas: Image.Image, i: int) -> None:
        raise NotImplementedError

    def covers(self, i: int) -> bool:
        """Whether frame ``i`` of the layer hides the whole frame (then :meth:`canvas` works)."""
        return False

    def canvas(self, i: int) -> Image.Image:
        """A new frame-sized RGB image of the layer alone, when it :meth:`covers` the frame."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the layer holds open."""

    def _paste(
        self,
        canvas: Image.Image,
        piece: Image.Image | tuple[int, int, int],
        corner: tuple[int, int],
        size: tuple[int, int],
        mask: Image.Image | None,
    ) -> None:
        """Paste ``piece`` (a picture of ``size``, or a colour) at ``corner``, blended."""
        box = (*corner, corner[0] + size[0], corner[1] + size[1])
        if self.blend is not None:
            top = Image.new("RGB", size, piece) if isinstance(piece, tuple) else piece
            piece = self.blend(canvas.crop(box), top if top.mode == "RGB" else top.convert("RGB"))
        canvas.paste(piece, box, mask)

    def _hides_frame(self, i: int, opaque: bool) -> bool:
        if self.blend is not None:
            return False  # what is under it shows through the blend
        x0, y0, x1, y1 = self.box
        inside = x0 <= 0 and y0 <= 0 and x1 >= self.frame[0] and y1 >= self.frame[1]
        return opaque and inside and self.levels[i] >= 255


def faded(alpha: Image.Image | None, level: int, size: tuple[int, int]) -> Image.Image | None:
    """The paste mask for ``alpha`` (None: opaque) scaled by ``level``/255; None when opaque."""
    if level >= 255:
        return alpha
    if alpha is None:
        return Image.new("L", size, level)
    return alpha.point(scaled(level))


@lru_cache(maxsize=256)
def scaled(level: int) -> list[int]:
    """A lookup table scaling alpha by ``level``/255."""
    return [(v * level + 127) // 255 for v in range(256)]


class Still(Layer):
    """An unchanging picture, text or colour (or alternates of one, for a face).

    ``sources`` are RGB(A) images of the box's size, or one colour filling
    it; ``alphas`` their transparency (None: opaque). They are cut once to
    what can show: the frame, and the bounding box of their alpha.
    """

    def __init__(
        self,
        sources: list[Image.Image | tuple[int, int, int]],
        alphas: list[Image.Image | None],
        box: Box,
        frame: tuple[int, int],
        shown: np.ndarray,
        picks: np.ndarray | None = None,
    ) -> None:
        visible = _visible(alphas, box, frame)
        if visible is None:
            shown = np.zeros_like(shown)
            visible = box
        super().__init__(shown, visible, frame)
        cut = (visible[0] - box[0], visible[1] - box[1], visible[2] - box[0], visible[3] - box[1])
        self.sources = [s if isinstance(s, tuple) else s.crop(cut) for s in sources]
        self.alphas = [a if a is None else a.crop(cut) for a in alphas]
        self.picks = picks if picks is not None else np.zeros(len(shown), dtype=np.int64)
        self._mask: tuple[tuple[int, int], Image.Image | None] | None = None

    def key(self, i: int) -> Hashable:
        level = int(self.levels[i])
        return (int(self.picks[i]), level) if level > 0 else None

    def draw(self, canvas: Image.Image, i: int) -> None:
        state = (int(self.picks[i]), int(self.levels[i]))
        size = (self.box[2] - self.box[0], self.box[3] - self.box[1])
        if self._mask is None or self._mask[0] != state:
            self._mask = (state, faded(self.alphas[state[0]], state[1], size))
        self._paste(canvas, self.sources[state[0]], self.box[:2], size, self._mask[1])

    def covers(self, i: int) -> bool:
        return self._hides_frame(i, self.alphas[int(self.picks[i])] is None)

    def canvas(self, i: int) -> Image.Image:
        source = self.sources[int(self.picks[i])]
        if isinstance(source, tuple):
            return Image.new("RGB", self.frame, source)
        return source.copy()  # cut to the frame, which it covers


def _visible(alphas: list[Image.Image | None], box: Box, frame: tuple[int, int]) -> Box | None:
    """The part of ``box`` inside the frame where any alternate is not transparent."""
    x0, y0, x1, y1 = box
    area = (max(x0, 0), max(y0, 0), min(x1, frame[0]), min(y1, frame[1]))
    if all(alpha is not None for alpha in alphas):
        drawn = _union([alpha.getbbox() for alpha in alphas if alpha is not None])
        if drawn is None:
            return None
        left, top, right, bottom = drawn[0] + x0, drawn[1] + y0, drawn[2] + x0, drawn[3] + y0
        area = (max(area[0], left), max(area[1], top), min(area[2], right), min(area[3], bottom))
    return area if area[0] < area[2] and area[1] < area[3] else None


class Moving(Layer):
    """A picture (or a face's alternates) with a Ken Burns move, one crop a frame.

    ``sources`` are supersampled pictures, and ``maps[i]`` frame ``i``'s affine
    map from the layer's box into them, as PIL's ``transform`` takes it; each
    frame samples them (nearest) only over the part of the box that can show.
    """

    def __init__(
        self,
        sources: list[Image.Image],
        maps: np.ndarray,
        box: Box,
        frame: tuple[int, int],
        shown: np.ndarray,
        picks: np.ndarray,
    ) -> None:
        super().__init__(shown, box, frame)
        self.sources = sources
        self.maps = maps
        self.picks = picks
        self.opaque = sources[0].mode == "RGB"
        extent = _union([s.getchannel("A").getbbox() for s in sources]) if not self.opaque else None
        self.windows = _windows(maps, box, frame, extent or (0, 0, *sources[0].size))
        if extent is None and not self.opaque:
            self.levels[:] = 0

    def key(self, i: int) -> Hashable:
        u0, v0, u1, v1 = self.windows[i]
        return i if self.levels[i] > 0 and u0 < u1 and v0 < v1 else None

    def draw(self, canvas: Image.Image, i: int) -> None:
        u0, v0, u1, v1 = (int(n) for n in self.windows[i])
        a, _, c, _, e, f = self.maps[i]
        piece = self._sample(i, (u1 - u0, v1 - v0), (a, 0, c + a * u0, 0, e, f + e * v0))
        level = int(self.levels[i])
        if self.opaque:
            mask = faded(None, level, piece.size)
        else:
            mask = piece if level >= 255 else faded(piece.getchannel("A"), level, piece.size)
        self._paste(canvas, piece, (self.box[0] + u0, self.box[1] + v0), piece.size, mask)

    def covers(self, i: int) -> bool:
        return self._hides_frame(i, self.opaque)

    def canvas(self, i: int) -> Image.Image:
        a, _, c, _, e, f = self.maps[i]
        return self._sample(i, self.frame, (a, 0, c - a * self.box[0], 0, e, f - e * self.box[1]))

    def _sample(self, i: int, size: tuple[int, int], affine: tuple[float, ...]) -> Image.Image:
        source = self.sources[int(self.picks[i])]
        return source.transform(size, Image.Transform.AFFINE, affine, Image.Resampling.NEAREST)


def resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(height, width, channels)`` uint8 pixels resized to ``size`` (width, height):
    bilinear up, by pixel area down, with OpenCV's SIMD resize (several times PIL's
    speed at frame sizes); unchanged when already that size."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    shrinking = size[0] < pixels.shape[1] or size[1] < pixels.shape[0]
    how = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(pixels, size, interpolation=how)


def _union(boxes: list[Box | None]) -> Box | None:
    """The smallest box holding all the boxes given (None ones: empty)."""
    found = [b for b in boxes if b is not None]
    if not found:
        return None
    return (
        min(b[0] for b in found),
        min(b[1] for b in found),
        max(b[2] for b in found),
        max(b[3] for b in found),
    )


def _windows(maps: np.ndarray, box: Box, frame: tuple[int, int], extent: Box) -> np.ndarray:
    """Per frame, the part ``(u0, v0, u1, v1)`` of the box worth sampling, box-relative.

    Inside the frame, and where the samples fall in ``extent`` of the
    supersampled picture (a pixel more each side, against rounding).
    """
    a, c, e, f = maps[:, 0], maps[:, 2], maps[:, 4], maps[:, 5]
    width, height = box[2] - box[0], box[3] - box[1]
    u0 = np.maximum(np.floor((extent[0] - c) / a - 0.5) - 1, max(0, -box[0]))
    u1 = np.minimum(np.ceil((extent[2] - c) / a - 0.5) + 1, min(width, frame[0] - box[0]))
    v0 = np.maximum(np.floor((extent[1] - f) / e - 0.5) - 1, max(0, -box[1]))
    v1 = np.minimum(np.ceil((extent[3] - f) / e - 0.5) + 1, min(height, frame[1] - box[1]))
    return np.stack([u0, v0, u1, v1], axis=1).astype(np.int64)


class Video(Layer):
    """A video file's frames, read through a moviepy clip (trimmed, looped) or a retimer
    over it, cropped by a Ken Burns move if ``crops`` are given, masked if ``masking``
    is, resized to ``size`` as they are drawn."""

    def __init__(
        self,
        clip: Any,
        size: tuple[int, int],
        box: Box,
        frame: tuple[int, int],
        local: np.ndarray,
        shown: np.ndarray,
        retimed: tuple[Any, np.ndarray] | None = None,
        masking: Callable[[Image.Image], Image.Image] | None = None,
        crops: np.ndarray | None = None,
    ) -> None:
        super().__init__(shown, box, frame)
        self.clip = clip
        self.size = size
        self.local = local
        self.retimed = retimed
        self.masking = masking
        self.crops = crops
        self._readers = _keep_readers(clip)
        self._last: tuple[tuple[int, tuple[int, int]], Image.Image] | None = None

    def key(self, i: int) -> Hashable:
        return i if self.levels[i] > 0 else None

    def picture(self, i: int, size: tuple[int, int] | None = None) -> Image.Image:
        """Frame ``i`` of the video at ``size`` (default: its own): RGB, or RGBA if masked.

        The last one is kept: the layer's depth twin draws the same frame's silhouette."""
        size = size or self.size
        if self._last is not None and self._last[0] == (i, size):
            return self._last[1]
        self._last = ((i, size), self._picture(i, size))
        return self._last[1]

    def _picture(self, i: int, size: tuple[int, int]) -> Image.Image:
        if self.retimed is not None:
            frames, positions = self.retimed
            pixels = frames.frame(float(positions[i]))
        else:
            pixels = self.clip.get_frame(self.local[i])
        if self.crops is None:
            pixels = resized(pixels, size)
        else:
            # The crop (left, top, width, height) sampled to size; pixel centres line up.
            left, top, width, height = self.crops[i]
            sx, sy = width / size[0], height / size[1]
            to_source = np.float32([[sx, 0, left + sx / 2 - 0.5], [0, sy, top + sy / 2 - 0.5]])
            how = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            pixels = cv2.warpAffine(
                pixels, to_source, size, flags=how, borderMode=cv2.BORDER_REPLICATE
            )
        picture = Image.fromarray(pixels)
        return picture if self.masking is None else self.masking(picture.convert("RGBA"))

    def draw(self, canvas: Image.Image, i: int) -> None:
        picture = self.picture(i)
        alpha = picture.getchannel("A") if picture.mode == "RGBA" else None
        mask = faded(alpha, int(self.levels[i]), picture.size)
        rgb = picture if alpha is None else picture.convert("RGB")
        self._paste(canvas, rgb, self.box[:2], picture.size, mask)

    def silhouette(self, grey: int) -> Layer:
        """Its depth twin: ``grey`` over the box, or over what each masked frame keeps."""
        if self.masking is None:
            return Still([(grey,) * 3], [None], self.box, self.frame, self.levels / 255)
        return _Silhouette(self, grey)

    def close(self) -> None:
        for proc in self._readers:
            _close_pipes(proc)
        release(self.clip)


class _Silhouette(Layer):
    """A masked video's depth twin: one grey over what the mask keeps of each frame."""

    def __init__(self, video: Video, grey: int) -> None:
        super().__init__(video.levels / 255, video.box, video.frame)
        self.video = video
        self.grey = grey

    def key(self, i: int) -> Hashable:
        return self.video.key(i)

    def draw(self, canvas: Image.Image, i: int) -> None:
        alpha = self.video.picture(i).getchannel("A")
        mask = faded(alpha, int(self.levels[i]), alpha.size)
        self._paste(canvas, (self.grey,) * 3, self.box[:2], alpha.size, mask)


def _keep_readers(clip: Any) -> list[Any]:
    """The ffmpeg processes a clip's reader leaves behind as it seeks, kept to be closed.

    NOTE: moviepy 2.1 starts a new ffmpeg whenever its reader seeks back (a
    looped video does at every loop) and drops the old one with its pipes
    unclosed if it has already finished (see :func:`release`).
    """
    reader = clip.reader
    left: list[Any] = []
    restart = reader.initialize

    def initialize(start_time: float = 0) -> None:
        if reader.proc is not None:
            left.append(reader.proc)
        restart(start_time)

    reader.initialize = initialize
    return left


def release(clip: Any) -> None:
    """Close a file-backed moviepy clip and its ffmpeg pipes.

    NOTE: moviepy 2.2 closes a reader's pipes only if ffmpeg is still running;
    when it has already exited the pipes leak, one pair per clip.
    """
    for owner in (clip, getattr(clip, "audio", None)):
        proc = getattr(getattr(owner, "reader", None), "proc", None)
        if proc is not None:
            _close_pipes(proc)
    clip.close()


def _close_pipes(proc: Any) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
