"""Shared painting helpers for the procedural image backends.

Everything works on float32 arrays in [0, 1] in sRGB. A :class:`Canvas`
holds *premultiplied* RGB plus alpha, so soft layers composite correctly and
transparent PNGs get clean edges. Shapes are drawn with Pillow into
:class:`Mask` patches that only cover their own bounding box, which keeps a
blurred shadow cheap however large the canvas is. Backends draw at
``SUPERSAMPLE`` times the final size and downscale once with LANCZOS.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from PIL import Image, ImageDraw, ImageFilter

from filmkit.lazy import numpy as np

SUPERSAMPLE = 2

Colour: TypeAlias = "np.ndarray"  # a string, so numpy loads only when painting
Draw = Callable[[ImageDraw.ImageDraw], None]

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def stream(seed: int, *salt: str | int) -> np.random.Generator:
    """A random stream derived from ``seed`` and labels, stable across runs."""
    words = [seed % 2**63]
    for part in salt:
        words.append(zlib.crc32(part.encode()) if isinstance(part, str) else int(part) % 2**32)
    return np.random.default_rng(words)


def is_colour(value: str, palette: Mapping[str, str]) -> bool:
    """Whether ``value`` is a palette name or a ``#rrggbb`` hex string."""
    return value.lower() in palette or bool(_HEX.match(value))


def colour(
    value: str | Sequence[float] | np.ndarray, palette: Mapping[str, str] | None = None
) -> Colour:
    """Parse a palette name, ``#rrggbb`` or float triple into a float32 RGB vector."""
    if isinstance(value, str):
        value = (palette or {}).get(value.lower(), value)
        match = _HEX.match(value)
        if not match:
            raise ValueError(f"not a colour: {value!r}")
        digits = match.group(1)
        return np.array([int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)], np.float32)
    return np.asarray(value, np.float32)


def mix(a: Colour, b: Colour, t: float | np.ndarray) -> Colour:
    """Linear blend from ``a`` to ``b``; ``t`` may be a per-pixel array."""
    t = np.asarray(t, np.float32)
    if t.ndim:
        t = t[..., None]
    return (a + (b - a) * t).astype(np.float32)


def scale(c: Colour, factor: float) -> Colour:
    """Darken (factor < 1) or lighten (factor > 1) a colour, clipped to [0, 1]."""
    return np.clip(np.asarray(c, np.float32) * factor, 0, 1)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite ramp from 0 at ``edge0`` to 1 at ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def noise(
    rng: np.random.Generator, height: int, width: int, cell: float, octaves: int = 1
) -> np.ndarray:
    """Smooth value noise in [0, 1]; ``cell`` is the feature size in pixels."""
    total = np.zeros((height, width), np.float32)
    weight = 0.0
    for octave in range(octaves):
        size = max(cell / 2**octave, 1.0)
        grid = rng.random((int(height / size) + 3, int(width / size) + 3), dtype=np.float32)
        big = Image.fromarray(np.ascontiguousarray(grid, np.float32)).resize(
            (int(grid.shape[1] * size), int(grid.shape[0] * size)), Image.Resampling.BICUBIC
        )
        amp = 0.5**octave
        total += amp * np.asarray(big, np.float32)[:height, :width]
        weight += amp
    return np.clip(total / weight, 0, 1)


def blur(values: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] float array (through 8 bits, ample for masks)."""
    if radius <= 0:
        return values
    img = Image.fromarray(np.round(np.clip(values, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255


@dataclass
class Mask:
    """A coverage patch in [0, 1] placed at ``(x0, y0)`` on a canvas."""

    values: np.ndarray
    x0: int = 0
    y0: int = 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Canvas box ``(x0, y0, x1, y1)`` the patch covers."""
        h, w = self.values.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index into a full-canvas array for this patch."""
        x0, y0, x1, y1 = self.box
        return slice(y0, y1), slice(x0, x1)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Canvas x and y coordinates of the patch's pixels (broadcastable)."""
        x0, y0, x1, y1 = self.box
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        return xs, ys

    def times(self, other: Mask | float) -> Mask:
        """Intersection with another mask, or scaled by a constant."""
        if isinstance(other, Mask):
            return Mask(self.values * other.over(self), self.x0, self.y0)
        return Mask((self.values * other).astype(np.float32), self.x0, self.y0)

    def weighted(self, weights: np.ndarray) -> Mask:
        """Scaled pixel by pixel by an array laid over (or broadcast across) the patch."""
        return Mask(
            np.broadcast_to(self.values * weights, self.values.shape).astype(np.float32),
            self.x0,
            self.y0,
        )

    def minus(self, other: Mask) -> Mask:
        """This mask with ``other`` cut out of it."""
        return Mask(self.values * (1 - other.over(self)), self.x0, self.y0)

    def over(self, target: Mask) -> np.ndarray:
        """This mask's values resampled onto ``target``'s patch (0 outside)."""
        out = np.zeros_like(target.values)
        ax0, ay0, ax1, ay1 = self.box
        bx0, by0, bx1, by1 = target.box
        x0, y0, x1, y1 = max(ax0, bx0), max(ay0, by0), min(ax1, bx1), min(ay1, by1)
        if x0 < x1 and y0 < y1:
            out[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] = self.values[
                y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0
            ]
        return out

    def soft(self, radius: float) -> Mask:
        """A blurred copy, grown so the blur is not clipped."""
        pad = int(math.ceil(radius * 3)) + 1
        grown = np.pad(self.values, pad)
        return Mask(blur(grown, radius), self.x0 - pad, self.y0 - pad)


def linear(mask: Mask, start: Sequence[float], end: Sequence[float]) -> np.ndarray:
    """0 at ``start`` to 1 at ``end`` along their axis, over the mask's patch."""
    xs, ys = mask.grid()
    dx, dy = end[0] - start[0], end[1] - start[1]
    t = ((xs - start[0]) * dx + (ys - start[1]) * dy) / max(dx * dx + dy * dy, 1e-6)
    return np.clip(t, 0, 1).astype(np.float32)


def radial(mask: Mask, centre: Sequence[float], rx: float, ry: float | None = None) -> np.ndarray:
    """1 at ``centre`` falling smoothly to 0 at the (elliptic) radius."""
    xs, ys = mask.grid()
    d = np.sqrt(((xs - centre[0]) / rx) ** 2 + ((ys - centre[1]) / (ry or rx)) ** 2)
    return (1 - smoothstep(0.0, 1.0, d)).astype(np.float32)


def curve(points: Sequence[Sequence[float]], n: int = 24) -> list[tuple[float, float]]:
    """Sample a Bezier curve of any degree through its control points."""
    pts = np.asarray(points, np.float64)
    degree = len(pts) - 1
    t = np.linspace(0, 1, n)[:, None]
    k = np.arange(degree + 1)[None, :]
    weights = (
        np.array([math.comb(degree, i) for i in range(degree + 1)]) * t**k * (1 - t) ** (degree - k)
    )
    return list(map(tuple, (weights @ pts).tolist()))


def spline(points: Sequence[Sequence[float]], per_segment: int = 8) -> list[tuple[float, float]]:
    """A smooth Catmull-Rom curve passing through every point."""
    pts = np.asarray(points, np.float64)
    padded = np.concatenate([pts[:1] * 2 - pts[1:2], pts, pts[-1:] * 2 - pts[-2:-1]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        seg = 0.5 * (
            2 * p1
            + (p2 - p0) * t
            + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
            + (3 * p1 - p0 - 3 * p2 + p3) * t**3
        )
        out.extend(map(tuple, seg.tolist()))
    out.append(tuple(pts[-1].tolist()))
    return out


def tapered(
    path: Sequence[tuple[float, float]], widths: Sequence[float]
) -> list[tuple[float, float]]:
    """Polygon outlining a stroke along ``path`` whose width varies per point."""
    pts = np.asarray(path, np.float64)
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) * (np.asarray(widths)[:, None] / 2)
    side = np.concatenate([pts + normal, (pts - normal)[::-1]])
    return [(float(x), float(y)) for x, y in side]


class Canvas:
    """A float RGBA painting surface with premultiplied colour."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.alpha = np.zeros((height, width), np.float32)

    @classmethod
    def opaque(cls, rgb: np.ndarray) -> Canvas:
        """A fully covered canvas holding the image ``rgb`` (height, width, 3)."""
        canvas = cls(rgb.shape[1], rgb.shape[0])
        canvas.rgb = np.ascontiguousarray(rgb, np.float32)
        canvas.alpha = np.ones(rgb.shape[:2], np.float32)
        return canvas

    def copy(self) -> Canvas:
        """An independent copy (to branch variants off a shared base)."""
        twin = Canvas(self.width, self.height)
        twin.rgb, twin.alpha = self.rgb.copy(), self.alpha.copy()
        return twin

    def place(self, points: Sequence[Sequence[float]] | None) -> None:
        """Where in a 3D scene the next fills lie; a flat canvas ignores it (stage.DepthCanvas)."""

    def mask(self, draw: Draw, blur_radius: float = 0.0) -> Mask:
        """Rasterise ``draw`` (Pillow calls in canvas pixels) into a mask patch."""
        img = Image.new("L", (self.width, self.height), 0)
        draw(ImageDraw.Draw(img))
        bbox = img.getbbox()
        if bbox is None:
            return Mask(np.zeros((1, 1), np.float32))
        pad = int(math.ceil(blur_radius * 3)) + 1
        x0, y0 = max(bbox[0] - pad, 0), max(bbox[1] - pad, 0)
        x1, y1 = min(bbox[2] + pad, self.width), min(bbox[3] + pad, self.height)
        patch = np.asarray(img.crop((x0, y0, x1, y1)), np.float32) / 255
        return Mask(blur(patch, blur_radius), x0, y0)

    def _shape(
        self,
        points: Sequence[tuple[float, float]],
        reach: float,
        blur_radius: float,
        render: Callable[[ImageDraw.ImageDraw, list[tuple[float, float]], int], None],
    ) -> Mask:
        """Rasterise a shape lying within ``reach`` of ``points`` into a patch just big enough."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        pad = reach + math.ceil(blur_radius * 3) + 2
        x0, y0 = (
            max(math.floor(pts[:, 0].min() - pad), 0),
            max(math.floor(pts[:, 1].min() - pad), 0),
        )
        x1 = min(math.ceil(pts[:, 0].max() + pad), self.width)
        y1 = min(math.ceil(pts[:, 1].max() + pad), self.height)
        if x1 <= x0 or y1 <= y0:
            return Mask(np.zeros((1, 1), np.float32))
        # Very soft shapes are drawn small, blurred small and enlarged: same look, far cheaper.
        k = min(max(int(blur_radius / 6), 1), 8)
        w, h = x1 - x0, y1 - y0
        img = Image.new("L", (math.ceil(w / k), math.ceil(h / k)), 0)
        render(ImageDraw.Draw(img), [((float(x) - x0) / k, (float(y) - y0) / k) for x, y in pts], k)
        if blur_radius > 0:
            img = img.filter(ImageFilter.GaussianBlur(blur_radius / k))
        if k > 1:
            img = img.resize((w, h), Image.Resampling.BILINEAR, box=(0, 0, w / k, h / k))
        return Mask(np.asarray(img, np.float32) / 255, x0, y0)

    def polygon(self, points: Sequence[tuple[float, float]], blur_radius: float = 0.0) -> Mask:
        """Mask of a filled polygon."""
        return self._shape(points, 1, blur_radius, lambda d, pts, k: d.polygon(pts, fill=255))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, blur_radius: float = 0.0) -> Mask:
        """Mask of a filled ellipse."""
        corners = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        return self._shape(
            corners, 1, blur_radius, lambda d, pts, k: d.ellipse([*pts[0], *pts[1]], fill=255)
        )

    def line(
        self, points: Sequence[tuple[float, float]], width: float, blur_radius: float = 0.0
    ) -> Mask:
        """Mask of a polyline with round joints."""
        w = max(int(round(width)), 1)
        return self._shape(
            points,
            w,
            blur_radius,
            lambda d, pts, k: d.line(pts, fill=255, width=max(round(w / k), 1), joint="curve"),
        )

    def _region(self, mask: Mask) -> tuple[tuple[slice, slice], np.ndarray, tuple[slice, slice]]:
        """Clip a mask to the canvas: canvas slices, values, patch slices."""
        x0, y0, x1, y1 = mask.box
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x1, self.width), min(y1, self.height)
        inner = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        return (slice(cy0, cy1), slice(cx0, cx1)), mask.values[inner], inner

    @staticmethod
    def _pick(value: Colour | np.ndarray, inner: tuple[slice, slice]) -> np.ndarray:
        value = np.asarray(value, np.float32)
        return value[inner] if value.ndim == 3 else value

    def fill(self, mask: Mask, paint: Colour | np.ndarray, opacity: float = 1.0) -> None:
        """Paint ``paint`` (a colour or a patch-sized image) over the canvas through ``mask``."""
        region, m, inner = self._region(mask)
        m = (m * opacity)[..., None]
        self.rgb[region] = self._pick(paint, inner) * m + self.rgb[region] * (1 - m)
        self.alpha[region] = m[..., 0] + self.alpha[region] * (1 - m[..., 0])

    def shade(
        self, mask: Mask, paint: Colour | np.ndarray, opacity: float = 1.0, mode: str = "normal"
    ) -> None:
        """Recolour what is already painted, leaving coverage unchanged (shading, make-up)."""
        region, m, inner = self._region(mask)
        m = (m * opacity)[..., None]
        c = self._pick(paint, inner)
        a = self.alpha[region][..., None]
        rgb = self.rgb[region]
        if mode == "multiply":
            self.rgb[region] = rgb * (1 - m + c * m)
        elif mode == "screen":
            self.rgb[region] = rgb + (a - rgb) * c * m
        else:
            self.rgb[region] = rgb * (1 - m) + c * a * m

    def image(self, size: tuple[int, int] | None = None, mode: str = "RGBA") -> Image.Image:
        """The canvas as a Pillow image, optionally downscaled to ``size``.

        RGBA is handed to Pillow still premultiplied ("RGBa"), which is what its
        resampler works in anyway; RGB is for opaque canvases only.
        """
        if mode == "RGB":
            data = self.rgb
        else:
            data = np.concatenate([self.rgb, self.alpha[..., None]], axis=2)
        pixels = np.clip(data * 255 + 0.5, 0, 255).astype(np.uint8)
        img = Image.frombytes(
            "RGB" if mode == "RGB" else "RGBa", (self.width, self.height), pixels.tobytes()
        )
        if size is not None and size != img.size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        return img if mode == "RGB" else img.convert("RGBA")


def vignette(height: int, width: int, strength: float) -> np.ndarray:
    """Multiplier darkening the frame's edges (elliptically) by up to ``strength``."""
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    d = np.sqrt(xs * xs + ys * ys) / math.sqrt(2)
    return (1 - strength * smoothstep(0.35, 1.0, d)).astype(np.float32)


def grain(rng: np.random.Generator, height: int, width: int, amount: float) -> np.ndarray:
    """Zero-mean film grain to add to an image."""
    return (rng.standard_normal((height, width), dtype=np.float32) * amount)[..., None]
