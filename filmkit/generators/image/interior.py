"""A box room seen in one-point perspective: camera, ray tracing of its planes, materials, light.

Every pixel's ray is intersected with the floor, ceiling, side walls and back
wall, which gives each pixel a world position; patterns (tiles, boards,
ceiling grid) are computed there and box-filtered by the pixel's footprint so
that distant grout lines fade instead of shimmering. Light is a sum of point
lamps (cosine over distance squared) plus an ambient term darkened near the
room's edges, which stands in for soft ambient occlusion.

Shading works on rays of any array shape: the frame is shaded once per pixel,
then only the pixels on an edge between two planes are shaded again at four
sub-pixel rays and averaged, which anti-aliases the room's corners for a
fraction of the cost of supersampling everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from filmkit.generators.image.paint import mix, smoothstep
from filmkit.lazy import numpy as np

FLOOR, CEILING, LEFT, RIGHT, BACK, SKY = range(6)
NORMALS = np.array(
    [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, -1], [0, 0, -1]], np.float32
)


@dataclass(frozen=True)
class Camera:
    """A pinhole at (x, eye, 0) looking down +Z; ``px`` shifts the vanishing point."""

    width: int
    height: int
    f: float
    px: float
    py: float
    x: float
    eye: float

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Screen position of a world point."""
        return self.px + self.f * (x - self.x) / z, self.py - self.f * (y - self.eye) / z


@dataclass(frozen=True)
class Lamp:
    """A point light in world space."""

    position: tuple[float, float, float]
    colour: np.ndarray
    power: float


@dataclass(frozen=True)
class Room:
    """Size of the box (``depth`` None = endless void) and its materials."""

    width: float
    height: float
    depth: float | None
    wall: np.ndarray
    trim: np.ndarray
    floor: str
    floor_colour: np.ndarray
    ceiling: np.ndarray
    grid_ceiling: bool
    dado: float
    ambient: np.ndarray
    lamps: list[Lamp] = field(default_factory=list)


@dataclass
class Trace:
    """Per-ray hit: surface id, world position, footprint of one pixel in metres."""

    sid: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    footprint: np.ndarray


def rays(cam: Camera, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray slopes (x and y per unit of depth) through screen points."""
    dx = (np.asarray(xs, np.float32) - cam.px) / cam.f
    dy = (cam.py - np.asarray(ys, np.float32)) / cam.f
    # Nudge exact zeros so every plane test below is a plain division.
    return np.where(dx == 0, np.float32(1e-7), dx), np.where(dy == 0, np.float32(1e-7), dy)


def _hit(cam: Camera, room: Room, plane: int, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Distance along each ray to one (unbounded) plane; misses come back as 1e4."""
    half = room.width / 2
    t = {
        FLOOR: lambda: -cam.eye / dy,
        CEILING: lambda: (room.height - cam.eye) / dy,
        LEFT: lambda: (-half - cam.x) / dx,
        RIGHT: lambda: (half - cam.x) / dx,
    }[plane]()
    return np.where(t > 0, t, np.float32(1e4)).astype(np.float32)


def trace(cam: Camera, room: Room, dx: np.ndarray, dy: np.ndarray) -> Trace:
    """Intersect rays with the room's planes; the nearest hit wins."""
    shape = np.broadcast_shapes(dx.shape, dy.shape)
    if room.depth is None:
        t = np.broadcast_to(_hit(cam, room, FLOOR, dx, dy), shape)
        sid = np.broadcast_to(np.where(dy < 0, np.int8(FLOOR), np.int8(SKY)), shape)
    else:
        t = np.full(shape, room.depth, np.float32)
        sid = np.full(shape, BACK, np.int8)
        for plane in (FLOOR, CEILING, LEFT, RIGHT):
            hit = _hit(cam, room, plane, dx, dy)
            closer = hit < t
            t = np.where(closer, hit, t)
            sid = np.where(closer, np.int8(plane), sid)
    x, y = cam.x + dx * t, cam.eye + dy * t
    # Grazing planes stretch a pixel along the view direction; scale by 1/cos.
    normal = NORMALS[sid]
    cos = np.abs(normal[..., 0] * dx + normal[..., 1] * dy + normal[..., 2]) / np.sqrt(
        dx * dx + dy * dy + 1
    )
    footprint = t / cam.f / np.maximum(cos, 0.05)
    return Trace(sid, x, y, np.broadcast_to(t, shape), footprint)


def _hash(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Pseudo-random value in [0, 1) per integer cell, stable everywhere."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ salt
    h = (h * 2654435761) % 4294967296
    h ^= h >> 15
    h = (h * 2246822519) % 4294967296
    return ((h >> 8) % 65536).astype(np.float32) / 65536


def band(d: np.ndarray, width: float, footprint: np.ndarray) -> np.ndarray:
    """Coverage of a stripe of ``width`` centred on d = 0, box-filtered over ``footprint``."""
    fw = np.maximum(footprint, 1e-4)
    d = np.abs(d)
    cover = (
        np.clip(np.minimum(d + fw / 2, width / 2) - np.maximum(d - fw / 2, -width / 2), 0, None)
        / fw
    )
    return np.clip(cover, 0, 1).astype(np.float32)


def lines(u: np.ndarray, width: float, footprint: np.ndarray) -> np.ndarray:
    """Coverage of lines of ``width`` at each integer of ``u``; far off they fade to their mean."""
    cover = band(u - np.round(u), width, footprint)
    fade = smoothstep(0.25, 0.6, footprint)
    return (cover + (width - cover) * fade).astype(np.float32)


def albedo(tr: Trace, room: Room, texture: np.ndarray) -> np.ndarray:
    """Surface colour of every ray's hit before lighting; ``texture`` is smooth noise in [0, 1]."""
    plaster = 0.96 + 0.08 * texture
    # Institutional walls: a darker lower half under a rail, and a skirting board.
    shade = np.where(tr.y < room.dado, np.float32(0.82), np.float32(1.0)) * plaster
    trim = np.clip(
        (band(tr.y - room.dado, 0.04, tr.footprint) if room.dado else 0) + (tr.y < 0.1), 0, 1
    )
    out = mix(room.wall * shade[..., None], room.trim * plaster[..., None], trim)
    floor = tr.sid == FLOOR
    if floor.any():
        out[floor] = _floor(_subset(tr, floor), room, texture[floor])
    ceiling = tr.sid == CEILING
    if ceiling.any():
        part = _subset(tr, ceiling)
        fp = part.footprint / 0.6
        grid = (
            np.maximum(lines(part.x / 0.6, 0.04, fp), lines(part.z / 0.6, 0.04, fp))
            if room.grid_ceiling
            else 0
        )
        out[ceiling] = room.ceiling * (1 - 0.2 * grid)[..., None]
    return out


def _subset(tr: Trace, where: np.ndarray) -> Trace:
    """The hits selected by a boolean mask, as flat arrays."""
    return Trace(
        *(np.broadcast_to(a, where.shape)[where] for a in (tr.sid, tr.x, tr.y, tr.z, tr.footprint))
    )


def _floor(tr: Trace, room: Room, grain: np.ndarray) -> np.ndarray:
    """Tiles in a checker of two tones, boards running away from camera, or flecked carpet."""
    base, fp = room.floor_colour, tr.footprint
    if room.floor == "tiles":
        size = 0.5
        i, j = np.floor(tr.x / size), np.floor(tr.z / size)
        checker = ((i + j) % 2).astype(np.float32)
        tone = mix(base, base * np.float32(0.78), checker * 0.6)
        tone = tone * (0.94 + 0.1 * _hash(i, j, 7))[..., None]
        grout = np.maximum(lines(tr.x / size, 0.03, fp / size), lines(tr.z / size, 0.03, fp / size))
        return mix(tone, base * np.float32(0.55), grout) * (0.97 + 0.06 * grain)[..., None]
    if room.floor == "boards":
        width, length = 0.14, 1.8
        i = np.floor(tr.x / width)
        shift = _hash(i, i * 0 + 3, 11) * length
        j = np.floor((tr.z + shift) / length)
        tone = base * (0.8 + 0.35 * _hash(i, j, 5))[..., None]
        streak = np.sin(tr.x / width * 40 + grain * 9) * 0.5 + 0.5
        tone = tone * (0.93 + 0.1 * streak * np.clip(1 - fp * 30, 0, 1))[..., None]
        seams = np.maximum(
            lines(tr.x / width, 0.06, fp / width), lines((tr.z + shift) / length, 0.01, fp / length)
        )
        return mix(tone, base * np.float32(0.4), seams)
    if room.floor == "void":
        return np.broadcast_to(base, tr.x.shape + (3,)).astype(np.float32)
    # Carpet: a fine fleck that fades out with distance, over a faint cloudy wear pattern.
    fleck = _hash(np.floor(tr.x / 0.012), np.floor(tr.z / 0.012), 3) * np.clip(1 - fp * 40, 0, 1)
    return base * (0.92 + 0.1 * grain + 0.06 * fleck)[..., None]


def light(cam: Camera, room: Room, tr: Trace, glossy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Light at every hit (ambient with occlusion, plus lamps) and, if ``glossy``, floor glints."""
    nx, ny, nz = (NORMALS[:, k][tr.sid] for k in range(3))
    ao = occlusion(room, tr)
    # Lamps of one colour add up as a single grey term: one colour multiply per group, not per lamp.
    groups: dict[tuple[float, ...], np.ndarray] = {}
    for lamp in room.lamps:
        lx, ly, lz = lamp.position[0] - tr.x, lamp.position[1] - tr.y, lamp.position[2] - tr.z
        d2 = lx * lx + ly * ly + lz * lz + 0.05
        cos = np.clip((nx * lx + ny * ly + nz * lz) / np.sqrt(d2), 0, 1)
        key = tuple(float(c) for c in lamp.colour)
        groups[key] = groups.get(key, 0) + lamp.power * cos / d2
    # The ceiling sees light bounced off the floor and walls, which the lamps alone would miss.
    bounce = np.where(tr.sid == CEILING, np.float32(1.6), np.float32(1.0)) * ao
    total = room.ambient * bounce[..., None]
    for key, amount in groups.items():
        total = total + (amount * (0.55 + 0.45 * ao))[..., None] * np.array(key, np.float32)
    glint = np.zeros(tr.sid.shape, np.float32)
    floor = tr.sid == FLOOR
    if glossy and floor.any():
        glint[floor] = _glints(cam, room, _subset(tr, floor))
    return total.astype(np.float32), glint


def _glints(cam: Camera, room: Room, tr: Trace) -> np.ndarray:
    """Reflections of the lamps in a glossy floor."""
    vx, vy, vz = cam.x - tr.x, cam.eye - tr.y, -tr.z
    vn = 1 / np.sqrt(vx * vx + vy * vy + vz * vz)
    vx, vy, vz = vx * vn, vy * vn, vz * vn
    glint = np.zeros(tr.sid.shape, np.float32)
    for lamp in room.lamps:
        lx, ly, lz = lamp.position[0] - tr.x, lamp.position[1] - tr.y, lamp.position[2] - tr.z
        inv = 1 / np.sqrt(lx * lx + ly * ly + lz * lz + 0.05)
        hx, hy, hz = lx * inv + vx, ly * inv + vy, lz * inv + vz
        # exp(k (c - 1)) is a cheap stand-in for the Phong lobe c ** k near c = 1.
        c = hy / np.sqrt(hx * hx + hy * hy + hz * hz)
        glint += lamp.power * inv * np.exp(80 * (np.clip(c, 0, 1) - 1))
    return glint


def occlusion(room: Room, tr: Trace) -> np.ndarray:
    """Ambient darkening near the room's edges and corners (1 = open, lower = tucked in)."""
    if room.depth is None:
        return np.ones(tr.sid.shape, np.float32)
    gaps = [
        (room.width / 2 - np.abs(tr.x), (tr.sid != LEFT) & (tr.sid != RIGHT)),
        (tr.y, tr.sid != FLOOR),
        (room.height - tr.y, tr.sid != CEILING),
        (room.depth - tr.z, tr.sid != BACK),
    ]
    ao = np.ones(tr.sid.shape, np.float32)
    for gap, applies in gaps:
        ao *= 1 - 0.45 * np.exp(-np.maximum(gap, 0) / 0.35) * applies
    return ao


def shade(
    cam: Camera,
    room: Room,
    tr: Trace,
    texture: np.ndarray,
    gloss: float,
    sky: Callable[[Trace, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Displayed colour of every ray: lit albedo plus glints, exposed; ``sky`` colours misses."""
    lit, glint = light(cam, room, tr, gloss > 0)
    glow = (gloss * glint)[..., None] * (room.lamps[0].colour if room.lamps else 1.0)
    out = expose(albedo(tr, room, texture) * lit + glow)
    if room.depth is None:
        out = sky(tr, out)
    return out


def render(
    cam: Camera,
    room: Room,
    texture: np.ndarray,
    gloss: float,
    sky: Callable[[Trace, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, Trace]:
    """The room's surfaces for every pixel, with plane edges anti-aliased by 4 sub-pixel rays."""
    xs = np.arange(cam.width, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(cam.height, dtype=np.float32)[:, None] + 0.5
    tr = trace(cam, room, *rays(cam, xs, ys))
    image = shade(cam, room, tr, texture, gloss, sky)
    edge = np.zeros(tr.sid.shape, bool)
    across, down = tr.sid[:, 1:] != tr.sid[:, :-1], tr.sid[1:, :] != tr.sid[:-1, :]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    edge[1:, :] |= down
    edge[:-1, :] |= down
    row, col = np.nonzero(edge)
    if len(row):
        total = np.zeros((len(row), 3), np.float32)
        for ox, oy in ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
            sub = trace(cam, room, *rays(cam, col + ox, row + oy))
            total += shade(cam, room, sub, texture[row, col], gloss, sky)
        image[row, col] = total / 4
    return image, tr


def light_at(
    room: Room, point: tuple[float, float, float], normal: tuple[float, float, float]
) -> np.ndarray:
    """Ambient plus lamp light arriving at one point (for props)."""
    total = room.ambient.copy()
    for lamp in room.lamps:
        d = np.subtract(lamp.position, point)
        d2 = float(d @ d) + 0.05
        cos = max(float(np.dot(normal, d)) / np.sqrt(d2), 0.0)
        total += lamp.colour * (lamp.power * cos / d2)
    return total


def expose(radiance: np.ndarray) -> np.ndarray:
    """Film-like response: linear in the shadows, rolling off into the highlights."""
    return (1 - np.exp(-1.25 * np.maximum(radiance, 0))).astype(np.float32)
