"""Layers moved, scaled, turned and faded by keyframes: one affine warp a frame.

A keyed layer's picture is resampled once, large enough for its biggest
scale, and kept premultiplied (PIL's ``RGBa``) so that bilinear sampling at
its turned edges fades to transparent rather than to black. Each frame maps
the frame's pixels back into it: the anchor sits at the keyed position, the
picture turns about its anchor and scales from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PIL import Image

from filmkit.render.layers import Layer, faded
from filmkit.render.layout import keyframes

# The largest a keyed picture is kept, in pixels (a 4K frame, twice over).
MAX_DETAIL = 16_000_000


class Keyed(Layer):
    """A picture (or a video's frames) placed each frame by its keyframes.

    ``source(i)`` gives frame ``i``'s picture, premultiplied ``RGBa`` of size
    ``detail``, and ``source_key(i)`` what it shows (equal keys: equal pictures);
    ``maps[i]`` is frame ``i``'s affine map from the frame into that picture (as
    PIL's ``transform`` takes it) and ``boxes[i]`` the part of the frame it covers.
    """

    def __init__(
        self,
        source: Callable[[int], Image.Image],
        source_key: Callable[[int], Hashable],
        detail: tuple[int, int],
        maps: np.ndarray,
        boxes: np.ndarray,
        frame: tuple[int, int],
        shown: np.ndarray,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(shown, (0, 0, *frame), frame)
        self.source = source
        self.source_key = source_key
        self.detail = detail
        self.maps = maps
        self.boxes = boxes
        self.on_close = on_close

    def key(self, i: int) -> Hashable:
        x0, y0, x1, y1 = self.boxes[i]
        if self.levels[i] <= 0 or x0 >= x1 or y0 >= y1:
            return None
        return (self.source_key(i), int(self.levels[i]), self.maps[i].tobytes())

    def draw(self, canvas: Image.Image, i: int) -> None:
        x0, y0, x1, y1 = (int(n) for n in self.boxes[i])
        a, b, c, d, e, f = self.maps[i]
        shifted = (a, b, c + a * x0 + b * y0, d, e, f + d * x0 + e * y0)
        size = (x1 - x0, y1 - y0)
        piece = self.source(i).transform(
            size, Image.Transform.AFFINE, shifted, Image.Resampling.BILINEAR
        )
        piece = piece.convert("RGBA")
        mask = faded(piece.getchannel("A"), int(self.levels[i]), size)
        self._paste(canvas, piece.convert("RGB"), (x0, y0), size, mask)

    def twin(self, pictures: list[Image.Image], picks: np.ndarray | None = None) -> Keyed:
        """A layer of other pictures (one, or alternates by ``picks``) placed as this one is."""
        sources = [
            p.resize(self.detail, Image.Resampling.BILINEAR).convert("RGBa") for p in pictures
        ]
        chosen = picks if picks is not None else np.zeros(len(self.levels), np.int64)
        return Keyed(
            lambda i: sources[int(chosen[i])],
            lambda i: int(chosen[i]),
            self.detail,
            self.maps,
            self.boxes,
            self.frame,
            self.levels / 255,
        )

    def silhouette(self, grey: int) -> Keyed:
        """Its depth twin: ``grey`` wherever each frame's picture is not transparent."""

        def source(i: int) -> Image.Image:
            alpha = self.source(i).getchannel("A")
            return Image.merge("RGBA", (Image.new("L", alpha.size, grey),) * 3 + (alpha,))

        return Keyed(
            lambda i: source(i).convert("RGBa"),
            self.source_key,
            self.detail,
            self.maps,
            self.boxes,
            self.frame,
            self.levels / 255,
        )

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()


def detail_size(layer: dict[str, Any], size: tuple[int, int]) -> tuple[int, int]:
    """How large to keep a keyed picture shown at ``size``: enough for its largest scale."""
    largest = max(key["scale"] or 1.0 for key in layer["keys"])
    factor = min(max(largest, 1.0), math.sqrt(MAX_DETAIL / (size[0] * size[1])))
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def placements(
    layer: dict[str, Any],
    size: tuple[int, int],
    detail: tuple[int, int],
    frame: tuple[int, int],
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the affine map from the frame into the ``detail``-sized picture, the
    box ``(x0, y0, x1, y1)`` of the frame it covers, and its keyed opacity.

    ``size`` is the layer's size in the frame at scale 1 (from ``fit`` and ``scale``).
    """
    keyed = keyframes(layer, times)
    px, py = keyed["x"] * frame[0], keyed["y"] * frame[1]
    scale = keyed["scale"]
    turn = np.radians(keyed["rotation"])
    cos, sin = np.cos(turn), np.sin(turn)
    ax, ay = layer["anchor"][0] * size[0], layer["anchor"][1] * size[1]
    kx, ky = detail[0] / size[0], detail[1] / size[1]
    # Frame point F = P + scale * R * (u - A), R turning clockwise on screen (y down);
    # so u = A + R^T (F - P) / scale, and the picture's pixel is u times k.
    a, b = kx * cos / scale, kx * sin / scale
    d, e = -ky * sin / scale, ky * cos / scale
    c = kx * ax - a * px - b * py
    f = ky * ay - d * px - e * py
    maps = np.stack([a, b, c, d, e, f], axis=1)
    corners_u = np.array([0.0, size[0], size[0], 0.0]) - ax
    corners_v = np.array([0.0, 0.0, size[1], size[1]]) - ay
    xs = px[:, None] + scale[:, None] * (cos[:, None] * corners_u - sin[:, None] * corners_v)
    ys = py[:, None] + scale[:, None] * (sin[:, None] * corners_u + cos[:, None] * corners_v)
    boxes = np.stack(
        [
            np.clip(np.floor(xs.min(axis=1)) - 1, 0, frame[0]),
            np.clip(np.floor(ys.min(axis=1)) - 1, 0, frame[1]),
            np.clip(np.ceil(xs.max(axis=1)) + 1, 0, frame[0]),
            np.clip(np.ceil(ys.max(axis=1)) + 1, 0, frame[1]),
        ],
        axis=1,
    ).astype(np.int64)
    return maps, boxes, keyed["opacity"]


def keyed_pictures(
    pictures: list[Image.Image],
    picks: np.ndarray | None,
    layer: dict[str, Any],
    size: tuple[int, int],
    frame: tuple[int, int],
    times: np.ndarray,
    shown: np.ndarray,
) -> Keyed:
    """RGBA pictures (or alternates chosen per frame by ``picks``) shown at ``size``,
    placed by the layer's keys."""
    detail = detail_size(layer, size)
    sources = [p.resize(detail, Image.Resampling.LANCZOS).convert("RGBa") for p in pictures]
    chosen = picks if picks is not None else np.zeros(len(times), np.int64)
    maps, boxes, opacity = placements(layer, size, detail, frame, times)
    return Keyed(
        lambda i: sources[int(chosen[i])],
        lambda i: int(chosen[i]),
        detail,
        maps,
        boxes,
        frame,
        shown * opacity,
    )


def keyed_video(video: Any, layer: dict[str, Any], times: np.ndarray, shown: np.ndarray) -> Keyed:
    """A video layer's frames placed by the layer's keys (``video``: a layers.Video)."""
    detail = detail_size(layer, video.size)
    maps, boxes, opacity = placements(layer, video.size, detail, video.frame, times)

    def source(i: int) -> Image.Image:
        return video.picture(i, detail).convert("RGBa")

    return Keyed(
        source, lambda i: i, detail, maps, boxes, video.frame, shown * opacity, video.close
    )
