"""Talk and blink frames for a portrait that came as a single picture.

The renderer animates speech and blinking by swapping a portrait between
three frames: neutral, ``mouth_open`` and ``blink``. The procedural face paints
all three; a portrait from anywhere else (an image model, a GAN, a photo) comes
as one picture, and :func:`talk_frames` makes the other two from where the eyes
and the mouth are.

* **Mouth open** is a jaw drop. Below the line between the lips, pixels move
  down along the face's vertical (the normal of the eye line, so a tilted head
  works): most just under the lips' centre, smoothly less towards the mouth
  corners, the sides and the chin's bottom, so there are no seams (one
  ``cv2.remap``). The upper lip stays; the lower lip rides down with the jaw.
  The gap that opens is exactly where a pixel would have come from above the
  lip line, and it is filled with a mouth interior: a dark red-brown made from
  the lips' own colour, darkest in the middle, with a shaded band of upper
  teeth under the upper lip and a hint of tongue at the bottom.
* **Blink** covers each eye with a lid: skin sampled (median) from the
  brow-free band between eye and brow, and from just under the eye, painted
  as a soft-edged almond with a vertical gradient and a rounded-lid highlight,
  and a thin lash line, coloured from the eye's own darkest pixels, along its
  lower edge.

Both only touch small regions of interest and keep alpha; pixels outside the
portrait's alpha never change. Everything is vectorised and deterministic.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Mouth, in units of the mouth's width (corner to corner) unless said otherwise.
GAP = 0.35  # height of the opened gap under the lips' centre at openness 1
HALF_SPAN = 0.48  # half-width over which the jaw drop falls to zero at the lip line
SPREAD = 0.35  # how much that half-width grows per unit of depth below the lips
FLAT = 0.12  # the drop stays whole for this fraction of the way to the chin
CHIN = 0.78  # lips to the chin's bottom, as a fraction of eye line to lips
TEETH = 0.085  # tallest band of upper teeth
TEETH_COLOUR = np.array([226.0, 219.0, 204.0], np.float32)

# Eyes, in units of the distance between the eye centres.
LID_HALF_WIDTH = 0.29  # towards the nose
LID_OUTER = 0.34  # towards the temple, where lashes flick out
LID_ABOVE = 0.2  # lid reaches this far above the eye centre
LID_BELOW = 0.13  # and this far below
LID_FEATHER = 0.05
LASH_Y = 0.045  # lash line's lowest point below the eye centre
LASH_WIDTH = 0.028
SKIN_BAND = (0.27, 0.19)  # brow-free band sampled for lid skin, distance above the eye
CHEEK_BAND = (0.16, 0.22)  # skin just under the eye, distance below


def talk_frames(
    image: np.ndarray,
    left_eye: tuple[float, float],
    right_eye: tuple[float, float],
    mouth: tuple[float, float],
    mouth_width: float,
    openness: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(mouth_open, blink)`` frames of a portrait.

    ``image`` is ``(height, width, 3)`` or ``(height, width, 4)`` uint8 (alpha is
    kept as it is); ``left_eye`` and ``right_eye`` are the eye centres,
    ``mouth`` the middle of the line between the lips and ``mouth_width`` the
    distance between the mouth corners, all in pixels. ``openness`` scales the
    jaw drop: 0 returns the picture unchanged, 1 (the most; larger values
    count as 1) opens the mouth about a third of its width.
    """
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(f"expected a (height, width, 3|4) uint8 picture, got {pixels.shape}")
    axis, down = _axes(left_eye, right_eye)
    eye_gap = float(np.hypot(right_eye[0] - left_eye[0], right_eye[1] - left_eye[1]))
    if eye_gap <= 1 or mouth_width <= 1:
        raise ValueError("eyes and mouth corners must be more than a pixel apart")
    opened = pixels.copy()
    openness = min(float(openness), 1.0)
    if openness > 0:
        middle = ((left_eye[0] + right_eye[0]) / 2, (left_eye[1] + right_eye[1]) / 2)
        to_mouth = (mouth[0] - middle[0]) * down[0] + (mouth[1] - middle[1]) * down[1]
        chin = max(CHIN * to_mouth, 0.7 * mouth_width)
        _open_mouth(opened, pixels, axis, down, mouth, float(mouth_width), chin, openness)
    blink = pixels.copy()
    for centre, side in ((left_eye, -1.0), (right_eye, 1.0)):
        if (right_eye[0] - left_eye[0]) * axis[0] + (right_eye[1] - left_eye[1]) * axis[1] < 0:
            side = -side
        _close_eye(blink, pixels, axis, down, centre, side, eye_gap)
    return opened, blink


def changed_box(a: np.ndarray, b: np.ndarray) -> list[int] | None:
    """Padded bounding box ``[x0, y0, x1, y1]`` of the pixels where ``a`` and ``b`` differ.

    Padded by a two-hundredth of the width (at least a pixel) and clipped to
    the picture, like the boxes the procedural face reports; None when equal.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    diff = a != b
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows, cols = np.any(diff, axis=1), np.any(diff, axis=0)
    if not rows.any():
        return None
    height, width = diff.shape
    y0, y1 = int(np.argmax(rows)), height - int(np.argmax(rows[::-1]))
    x0, x1 = int(np.argmax(cols)), width - int(np.argmax(cols[::-1]))
    pad = max(width // 200, 1)
    return [max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, width), min(y1 + pad, height)]


def _axes(
    left: tuple[float, float], right: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Unit vectors across the face (along the eye line, pointing right) and down it."""
    dx, dy = right[0] - left[0], right[1] - left[1]
    if dx < 0:
        dx, dy = -dx, -dy
    norm = math.hypot(dx, dy) or 1.0
    ax, ay = dx / norm, dy / norm
    return (ax, ay), (-ay, ax)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _hold(t: float) -> float:
    """The fraction of the jaw drop left at ``t`` (0 at the lips, 1 at the chin)."""
    if t <= FLAT:
        return 1.0
    s = min((t - FLAT) / (1.0 - FLAT), 1.0)
    return 1.0 - s * s * (3.0 - 2.0 * s)


class _Region:
    """A box of the picture around a point, with each pixel's face coordinates.

    ``across`` runs along the eye line, ``along`` down the face; both are in
    pixels from the point. The box covers ``across`` in ``[-half, half]`` and
    ``along`` in ``[top, bottom]`` however the face is tilted.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        point: tuple[float, float],
        axis: tuple[float, float],
        down: tuple[float, float],
        half: float,
        top: float,
        bottom: float,
    ) -> None:
        corners = [
            (point[0] + u * axis[0] + v * down[0], point[1] + u * axis[1] + v * down[1])
            for u in (-half, half)
            for v in (top, bottom)
        ]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        height, width = shape[:2]
        self.x0, self.x1 = max(int(math.floor(min(xs))), 0), min(int(math.ceil(max(xs))) + 1, width)
        self.y0 = max(int(math.floor(min(ys))), 0)
        self.y1 = min(int(math.ceil(max(ys))) + 1, height)
        self.empty = self.x1 <= self.x0 or self.y1 <= self.y0
        gy, gx = np.mgrid[self.y0 : self.y1, self.x0 : self.x1].astype(np.float32)
        self.x, self.y = gx, gy
        px, py = gx - np.float32(point[0]), gy - np.float32(point[1])
        self.across = px * np.float32(axis[0]) + py * np.float32(axis[1])
        self.along = px * np.float32(down[0]) + py * np.float32(down[1])

    @property
    def window(self) -> tuple[slice, slice]:
        """The region's rows and columns."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def _inside(pixels: np.ndarray, region: _Region, margin: float) -> np.ndarray:
    """How far each pixel of the region is inside the portrait's alpha, 0 to 1."""
    if pixels.shape[2] < 4:
        return np.ones(region.x.shape, np.float32)
    alpha = pixels[region.window + (3,)]
    size = max(int(round(margin)), 1) * 2 + 1
    solid = cv2.erode(alpha, np.ones((size, size), np.uint8), borderType=cv2.BORDER_REPLICATE)
    solid = cv2.GaussianBlur(solid.astype(np.float32) / 255.0, (size, size), 0)
    return np.minimum(solid, alpha.astype(np.float32) / 255.0)


def _median(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Per-channel median colour of the pixels under ``mask`` (None if it is empty)."""
    chosen = pixels[..., :3][mask]
    if pixels.shape[2] == 4:
        chosen = chosen[pixels[..., 3][mask] > 200]
    if len(chosen) < 4:
        return None
    return np.median(chosen.astype(np.float32), axis=0)


def _luma(colour: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB colours (last axis)."""
    return colour[..., 0] * 0.299 + colour[..., 1] * 0.587 + colour[..., 2] * 0.114


def _open_mouth(
    out: np.ndarray,
    pixels: np.ndarray,
    axis: tuple[float, float],
    down: tuple[float, float],
    mouth: tuple[float, float],
    width: float,
    chin: float,
    openness: float,
) -> None:
    """Drop the jaw of ``pixels`` into ``out`` and fill the gap with a mouth interior."""
    gap = GAP * width * openness
    drop = gap / _hold(min(gap / chin, 0.95))  # so that the gap's height comes out as ``gap``
    span = HALF_SPAN * width
    region = _Region(
        pixels.shape, mouth, axis, down, span + SPREAD * chin + 2, -0.3 * width, chin + 2
    )
    if region.empty:
        return
    across, along = region.across, region.along
    below = np.maximum(along, 0.0)
    u = np.abs(across) / (span + SPREAD * below)
    sideways = 1.0 - _smoothstep(0.0, 1.0, u)
    t = below / np.float32(chin)
    hold = 1.0 - _smoothstep(FLAT, 1.0, t)
    gate = _inside(pixels, region, 0.02 * width)
    shift = (drop * sideways * hold * gate).astype(np.float32)
    shift[along < 0] = 0.0
    source = along - shift  # where each pixel comes from, in the same coordinates
    # Inside the gap a pixel would come from above the lips: take the lip line instead.
    moved = np.minimum(shift, below)
    map_x = region.x - moved * np.float32(down[0])
    map_y = region.y - moved * np.float32(down[1])
    colour = np.ascontiguousarray(pixels[..., :3])
    warped = cv2.remap(
        colour, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)

    # The gap: pixels that would have come from above the lips' line, softly edged.
    soft = max(0.03 * width, 0.8)
    hole = np.clip(np.minimum(along, -source) / soft, 0.0, 1.0)
    hole = (hole * hole * (3.0 - 2.0 * hole) * gate)[..., None]
    patch = pixels[region.window]
    interior = _interior(patch, along, across, shift, width, gap)
    teeth_alpha, teeth = _teeth(along, across, width, gap, soft)
    painted = interior + (teeth - interior) * teeth_alpha[..., None]
    _put(out, region, patch, warped + (painted - warped) * hole)


def _put(out: np.ndarray, region: _Region, patch: np.ndarray, colour: np.ndarray) -> None:
    """Write float ``colour`` into ``out``'s region, leaving fully transparent pixels alone."""
    result = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    if patch.shape[2] == 4:
        result = np.where(patch[..., 3:4] > 0, result, patch[..., :3])
    out[region.window + (slice(0, 3),)] = result


def _interior(
    patch: np.ndarray,
    along: np.ndarray,
    across: np.ndarray,
    shift: np.ndarray,
    width: float,
    gap: float,
) -> np.ndarray:
    """Colour of the inside of the mouth: lip colour darkened, darkest in the middle."""
    lip_band = (np.abs(along) > 0.02 * width) & (np.abs(along) < 0.1 * width)
    lips = _median(patch, lip_band & (np.abs(across) < 0.22 * width))
    if lips is None:
        lips = np.array([150.0, 80.0, 80.0], np.float32)
    # A dark red-brown: the lips' hue, much darker, a little more saturated.
    grey = _luma(lips)
    red = np.clip(lips + (lips - grey) * 0.5, 8.0, 255.0)
    mid = red * np.array([0.5, 0.3, 0.3], np.float32)
    deep = red * np.array([0.13, 0.07, 0.07], np.float32)
    # 0 at the lips' line, 1 at the lower lip.
    depth = np.clip(along / np.maximum(shift, 1e-3), 0.0, 1.0)
    u = np.abs(across) / (HALF_SPAN * width)
    dark = np.clip(1.0 - (u / 0.85) ** 2, 0.0, 1.0) * (1.0 - (2.0 * depth - 1.0) ** 4)
    colour = mid + (deep - mid) * dark[..., None] ** 0.7
    # The tongue: an arc rising from the lower lip, seen only when the mouth is well open.
    reach = np.clip(gap / (0.2 * width), 0.0, 1.0)
    tongue = (u / 0.68) ** 2 + ((depth - 1.05) / 0.6) ** 2
    tongue = (1.0 - _smoothstep(0.7, 1.0, tongue)) * 0.9 * reach
    tongue_colour = red * np.array([0.74, 0.46, 0.46], np.float32)
    shade = 0.7 + 0.3 * _smoothstep(0.55, 1.0, depth)
    colour += (tongue_colour * shade[..., None] - colour) * tongue[..., None]
    return colour


def _teeth(
    along: np.ndarray, across: np.ndarray, width: float, gap: float, soft: float
) -> tuple[np.ndarray, np.ndarray]:
    """Opacity and colour of the upper teeth: a band under the upper lip, shaded."""
    height = min(0.3 * gap, TEETH * width)
    x = across / (HALF_SPAN * width)
    edge = height * (1.0 - 0.35 * x * x)  # shorter towards the sides
    band = 1.0 - _smoothstep(0.0, 1.0, (along - edge) / max(0.6 * soft, 0.5) + 0.5)
    band *= 1.0 - _smoothstep(0.5, 0.85, np.abs(x))
    band *= np.float32(min(gap / (0.06 * width), 1.0))  # fade in as the mouth opens
    # Lit in the middle, in shadow towards the sides and under the lip; faint gaps.
    light = 0.95 - 0.45 * _smoothstep(0.1, 0.8, np.abs(x))
    light *= 0.62 + 0.38 * _smoothstep(0.0, 0.45, along / max(height, 1e-3))
    spacing = 0.105 * width
    gaps = np.abs(((across / spacing) % 1.0) - 0.5) * 2.0  # 1 between teeth, 0 mid-tooth
    light *= 1.0 - 0.1 * gaps**6
    return (band * 0.95).astype(np.float32), TEETH_COLOUR * light[..., None]


def _close_eye(
    out: np.ndarray,
    pixels: np.ndarray,
    axis: tuple[float, float],
    down: tuple[float, float],
    centre: tuple[float, float],
    side: float,
    eye_gap: float,
) -> None:
    """Paint a lowered lid over the eye at ``centre`` of ``pixels`` into ``out``.

    ``side`` is -1 for the eye on the left of the picture, 1 for the right one.
    """
    half = LID_OUTER * eye_gap
    feather = LID_FEATHER * eye_gap
    region = _Region(
        pixels.shape,
        centre,
        axis,
        down,
        half + feather,
        -max(SKIN_BAND[0] * eye_gap, LID_ABOVE * eye_gap + feather) - 1,
        max(CHEEK_BAND[1], LID_BELOW + LID_FEATHER) * eye_gap + 1,
    )
    if region.empty:
        return
    patch = pixels[region.window]
    x, y = region.across / np.float32(eye_gap), region.along / np.float32(eye_gap)
    narrow = np.abs(x) < 0.17
    skin = _median(patch, narrow & (y > -SKIN_BAND[0]) & (y < -SKIN_BAND[1]))
    cheek = _median(patch, narrow & (y > CHEEK_BAND[0]) & (y < CHEEK_BAND[1]))
    if skin is None:
        skin = cheek
    if skin is None:
        return
    if cheek is None:
        cheek = skin

    # The almond: taller above the centre than below, pointed at the corners.
    hx = np.abs(x) / np.where(x * side > 0, LID_OUTER, LID_HALF_WIDTH).astype(np.float32)
    reach = np.where(y < 0, LID_ABOVE, LID_BELOW).astype(np.float32)
    r = hx**3 + (np.abs(y) / reach) ** 2
    f = LID_FEATHER / LID_BELOW
    lid = 1.0 - _smoothstep(1.0 - f, 1.0 + f, r)
    lid *= _inside(pixels, region, 0.03 * eye_gap)

    # Shading: the upper colour fading to the under-eye colour, the rounded lid
    # catching light above the lash line and darker towards the corners.
    down_t = np.clip((y + LID_ABOVE) / (LID_ABOVE + LID_BELOW), 0.0, 1.0)
    base = skin + (cheek - skin) * (0.35 * down_t**1.5)[..., None]
    bulge = np.clip(1.0 - (x / 0.22) ** 2 - ((y + 0.03) / 0.11) ** 2, 0.0, 1.0)
    light = 0.97 + 0.07 * bulge - 0.08 * _smoothstep(0.4, 1.0, hx)
    light -= 0.06 * np.exp(-(((y - LASH_Y + 0.01) / 0.03) ** 2))  # lid's underside shadow
    colour = base * light[..., None]

    # Lash line: a thin arc sagging to its lowest under the centre, thicker outwards.
    eye = _luma(patch[..., :3].astype(np.float32))[np.abs(y) < 0.08]
    ink = skin * 0.3
    if eye.size:
        ink = np.minimum(ink, np.percentile(eye, 3) + 10.0)
    sag = LASH_Y - 0.05 * np.clip(x / LID_HALF_WIDTH, -1, 1) ** 2
    thick = LASH_WIDTH * (0.55 + 0.45 * np.clip(0.5 + 0.8 * side * x / LID_HALF_WIDTH, 0, 1))
    half_px = np.maximum(thick * eye_gap / 2, 0.5)
    lash = np.clip(half_px + 0.5 - np.abs(y - sag) * eye_gap, 0.0, 1.0)
    lash *= 0.9 * (1.0 - _smoothstep(0.85, 1.0, np.abs(x) / LID_HALF_WIDTH))
    colour += (ink - colour) * lash[..., None]

    under = patch[..., :3].astype(np.float32)
    _put(out, region, patch, under + (colour - under) * lid[..., None])
