"""Free-standing props in the room: chairs, a potted plant and ceiling lamps.

Props are modelled as a few world-space boxes and shapes, projected through
the room's camera and shaded by the same lamps as the walls, so they sit in
the scene instead of floating on it. Painter's order (far to near) stands in
for a depth buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from filmkit.generators.image.interior import Camera, Room, expose, light_at
from filmkit.generators.image.paint import Canvas, colour, linear, mix, scale, stream, tapered
from filmkit.generators.image.room import Scene
from filmkit.lazy import numpy as np

Point3 = tuple[float, float, float]
METAL = np.array([0.55, 0.56, 0.58], np.float32)


@dataclass(frozen=True)
class Wall:
    """A wall's plane: origin, rightward and upward unit vectors, and outward normal."""

    origin: Point3
    u: Point3
    normal: Point3

    def at(self, u: float, v: float) -> Point3:
        """World point ``u`` metres along and ``v`` metres up the wall."""
        o, d = self.origin, self.u
        return (o[0] + d[0] * u, o[1] + v, o[2] + d[2] * u)


def walls(room: Room) -> dict[str, Wall]:
    """The three walls a camera sees, keyed back / left / right."""
    half, depth = room.width / 2, room.depth or 8.0
    return {
        "back": Wall((0.0, 0.0, depth), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
        "left": Wall((-half, 0.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
        "right": Wall((half, 0.0, 0.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)),
    }


def project(cam: Camera, points: Sequence[Point3]) -> list[tuple[float, float]]:
    """Screen positions of world points."""
    return [cam.project(*p) for p in points]


def lit(room: Room, albedo: np.ndarray, point: Point3, normal: Point3) -> np.ndarray:
    """Displayed colour of a surface with ``albedo`` facing ``normal`` at ``point``."""
    return expose(albedo * light_at(room, point, normal))


def face(
    canvas: Canvas,
    cam: Camera,
    room: Room,
    corners: Sequence[Point3],
    normal: Point3,
    albedo: np.ndarray,
) -> None:
    """A flat polygon in the world, lit by the room (shaded from one corner to the opposite one)."""
    canvas.place(corners)
    mask = canvas.polygon(project(cam, corners), 0.6)
    near, far = corners[0], corners[len(corners) // 2]
    ramp = linear(mask, cam.project(*near), cam.project(*far))
    canvas.fill(mask, mix(lit(room, albedo, near, normal), lit(room, albedo, far, normal), ramp))


def box(
    canvas: Canvas, cam: Camera, room: Room, lo: Point3, hi: Point3, albedo: np.ndarray
) -> None:
    """An axis-aligned box: only the faces turned towards the camera are drawn."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    if cam.x < x0:
        face(
            canvas,
            cam,
            room,
            [(x0, y0, z0), (x0, y1, z0), (x0, y1, z1), (x0, y0, z1)],
            (-1, 0, 0),
            albedo,
        )
    if cam.x > x1:
        face(
            canvas,
            cam,
            room,
            [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],
            (1, 0, 0),
            albedo,
        )
    if cam.eye > y1:
        face(
            canvas,
            cam,
            room,
            [(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)],
            (0, 1, 0),
            albedo,
        )
    if cam.eye < y0:
        face(
            canvas,
            cam,
            room,
            [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],
            (0, -1, 0),
            albedo,
        )
    face(
        canvas,
        cam,
        room,
        [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)],
        (0, 0, -1),
        albedo,
    )


def shadow(
    canvas: Canvas, cam: Camera, corners: Sequence[Point3], softness: float, strength: float
) -> None:
    """A soft dark patch on a surface (contact and cast shadows)."""
    z = float(np.mean([c[2] for c in corners]))
    mask = canvas.polygon(project(cam, corners), softness * cam.f / z)
    canvas.shade(mask, np.array([0.25, 0.24, 0.27], np.float32), strength, mode="multiply")


def chair_boxes(
    x: float, z: float, facing: str, seat: np.ndarray
) -> list[tuple[Point3, Point3, np.ndarray]]:
    """Boxes of a moulded waiting-room chair on metal legs, its back against a wall."""
    parts = []
    if facing == "camera":
        parts += [
            (
                (x - s * 0.2 - 0.015, 0.0, z - d - 0.015),
                (x - s * 0.2 + 0.015, 0.44, z - d + 0.015),
                METAL,
            )
            for s in (-1, 1)
            for d in (0.12, 0.44)
        ]
        parts.append(((x - 0.25, 0.42, z - 0.5), (x + 0.25, 0.48, z - 0.08), seat))
        parts.append(((x - 0.24, 0.52, z - 0.13), (x + 0.24, 0.9, z - 0.07), seat))
        parts.append(((x - 0.02, 0.46, z - 0.12), (x + 0.02, 0.54, z - 0.09), METAL))
        return parts
    # Facing across the room from a side wall at x (sign of x says which wall).
    s = -1 if x < 0 else 1
    w0 = x - s * 0.06
    parts += [
        (
            (min(w0 - s * d - 0.015, w0 - s * d + 0.015), 0.0, z - e * 0.2 - 0.015),
            (max(w0 - s * d - 0.015, w0 - s * d + 0.015), 0.44, z - e * 0.2 + 0.015),
            METAL,
        )
        for e in (-1, 1)
        for d in (0.06, 0.38)
    ]
    seat_x = sorted((w0, w0 - s * 0.44))
    parts.append(((seat_x[0], 0.42, z - 0.25), (seat_x[1], 0.48, z + 0.25), seat))
    back_x = sorted((w0, w0 - s * 0.06))
    parts.append(((back_x[0], 0.52, z - 0.24), (back_x[1], 0.9, z + 0.24), seat))
    return parts


def paint_chairs(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """A row along the back wall (or free-standing in a void); extra chairs go on a side wall."""
    if scene.chairs == 0:
        return
    pitch = 0.56
    back_z = room.depth - 0.04 if room.depth else 4.8
    # Keep the row clear of the plant's corner; what does not fit lines the wall opposite the door.
    room_for = room.width - 0.5 - (0.9 if scene.plant else 0.0)
    fits = scene.chairs if room.depth is None else min(scene.chairs, int(room_for / pitch))
    if scene.style == "corridor":
        fits = 0
    shift = -scene.plant_side * 0.45 if scene.plant and room.depth is not None else 0.0
    places = [((k - (fits - 1) / 2) * pitch + shift, back_z, "camera") for k in range(fits)]
    side = -scene.door_side * (room.width / 2)
    start = (room.depth or 8.0) * 0.45 if scene.style == "corridor" else (room.depth or 8.0) - 1.4
    step = pitch if scene.style == "corridor" else -pitch
    places += [(side, start + k * step, "side") for k in range(scene.chairs - fits)]
    parts = []
    for x, z, facing in places:
        if facing == "camera":
            floor = [
                (x - 0.32, 0, z - 0.62),
                (x + 0.32, 0, z - 0.62),
                (x + 0.32, 0, z + 0.04),
                (x - 0.32, 0, z + 0.04),
            ]
            shadow(canvas, cam, floor, 0.035, 0.9)
            if room.depth is not None:
                shadow(
                    canvas,
                    cam,
                    [
                        (x - 0.26, 0.1, z + 0.04),
                        (x + 0.26, 0.1, z + 0.04),
                        (x + 0.26, 0.75, z + 0.04),
                        (x - 0.26, 0.75, z + 0.04),
                    ],
                    0.06,
                    0.45,
                )
        else:
            s = -1 if x < 0 else 1
            shadow(
                canvas,
                cam,
                [
                    (x, 0, z - 0.32),
                    (x - s * 0.6, 0, z - 0.32),
                    (x - s * 0.6, 0, z + 0.32),
                    (x, 0, z + 0.32),
                ],
                0.035,
                0.9,
            )
        parts += chair_boxes(x, z, facing, scene.chair_colour)
    for lo, hi, albedo in sorted(
        parts, key=lambda p: -math.dist(cam_pos(cam), _centre(p[0], p[1]))
    ):
        box(canvas, cam, room, lo, hi, albedo)


def cam_pos(cam: Camera) -> Point3:
    """The camera's world position."""
    return (cam.x, cam.eye, 0.0)


def _centre(lo: Point3, hi: Point3) -> Point3:
    return ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2)


def paint_plant(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """A pot with a spray of long leaves in a back corner."""
    half, depth = room.width / 2, room.depth or 7.0
    x, z = scene.plant_side * (half - 0.45), depth - 0.45
    rng = stream(scene.seed, "plant")
    shadow(
        canvas,
        cam,
        [
            (x - 0.35, 0, z - 0.35),
            (x + 0.35, 0, z - 0.35),
            (x + 0.35, 0, z + 0.35),
            (x - 0.35, 0, z + 0.35),
        ],
        0.08,
        0.5,
    )
    pot = colour(("#b0603c", "#e6e2da", "#3c3f44")[int(rng.integers(3))])
    ring = [
        (x + 0.2 * math.cos(t), 0.0, z + 0.2 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 32)
    ]
    top = [(px, 0.42, pz) for px, _, pz in ring]
    bottom = [(x + (px - x) * 0.75, 0.0, z + (pz - z) * 0.75) for px, _, pz in ring]
    outline = project(cam, bottom + top)
    hull = _hull(outline)
    body = canvas.polygon(hull, 0.6)
    xs, _ = body.grid()
    left, right = min(p[0] for p in hull), max(p[0] for p in hull)
    roundness = 1 - ((xs - (left * 0.65 + right * 0.35)) / max(right - left, 1)) ** 2 * 2.5
    shade = lit(room, pot, (x, 0.25, z - 0.2), (0, 0, -1))
    canvas.place([(x, 0.2, z - 0.15)])  # a round pot, taken as flat at about its front
    canvas.fill(body, mix(scale(shade, 0.6), shade, np.clip(roundness, 0, 1)))
    canvas.place(top)
    canvas.fill(canvas.polygon(project(cam, top), 0.6), scale(shade, 1.08))
    canvas.fill(
        canvas.polygon(
            project(cam, [(x + (px - x) * 0.85, 0.42, z + (pz - z) * 0.85) for px, _, pz in ring]),
            0.6,
        ),
        np.array([0.16, 0.11, 0.08]),
    )
    leaves = []
    for _ in range(22):
        angle, rise, length = (
            rng.uniform(0, 2 * math.pi),
            rng.uniform(0.5, 1.35),
            rng.uniform(0.45, 0.95),
        )
        tip = (
            x + length * math.cos(rise) * math.cos(angle),
            0.42 + length * math.sin(rise) * 0.9,
            z + length * math.cos(rise) * math.sin(angle),
        )
        leaves.append((tip, rng.uniform(0.7, 1.25)))
    for tip, tone in sorted(leaves, key=lambda leaf: -leaf[0][2]):
        mid = ((x + tip[0]) / 2, max(tip[1], 0.42) + 0.18, (z + tip[2]) / 2)
        path3 = [
            tuple(
                np.array((x, 0.44, z)) * (1 - t) ** 2
                + np.array(mid) * 2 * t * (1 - t)
                + np.array(tip) * t * t
            )
            for t in np.linspace(0, 1, 12)
        ]
        path = project(cam, path3)
        canvas.place(path3)  # a quadratic Bezier lies in the plane of its control points
        width = [
            cam.f * 0.075 / p[2] * math.sin(math.pi * min(k / 11, 0.98)) ** 0.8 + 1
            for k, p in enumerate(path3)
        ]
        green = colour("#3f7a3a") * np.float32(tone)
        leaf_rgb = lit(room, green, tip, (0, 1, 0))
        canvas.fill(canvas.polygon(tapered(path, width), 0.6), leaf_rgb)
        canvas.shade(
            canvas.line(path[1:-2], max(cam.f * 0.006 / tip[2], 1), 0.5),
            np.clip(leaf_rgb * 1.35, 0, 1),
            0.5,
        )


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (monotone chain) of screen points."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def half(seq):
        out: list[tuple[float, float]] = []
        for p in seq:
            while (
                len(out) >= 2
                and (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
                <= 0
            ):
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return lower[:-1] + upper[:-1]


def paint_lamps(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """Fittings for every ceiling lamp: glowing panels, or pendant shades lit from inside."""
    glow_rgb = (
        np.clip(room.lamps[0].colour * 0.2 + 0.8, 0, 1) if room.lamps else np.ones(3, np.float32)
    )
    for lamp in room.lamps:
        lx, ly, lz = lamp.position
        if ly < 2.0 or room.depth is None:
            continue
        if ly > room.height - 0.2:
            rim = [
                (lx - 0.34, room.height, lz - 0.66),
                (lx + 0.34, room.height, lz - 0.66),
                (lx + 0.34, room.height, lz + 0.66),
                (lx - 0.34, room.height, lz + 0.66),
            ]
            canvas.place(rim)
            canvas.fill(canvas.polygon(project(cam, rim), 0.6), scale(room.ceiling, 0.7))
            panel = [
                (px * 0.0 + lx + (px - lx) * 0.88, py, lz + (pz - lz) * 0.93) for px, py, pz in rim
            ]
            canvas.fill(canvas.polygon(project(cam, panel), 0.6), glow_rgb)
            glow = canvas.polygon(project(cam, panel), cam.f * 0.25 / lz)
            canvas.shade(glow, glow_rgb, 0.35, mode="screen")
            continue
        top, bottom = room.height, ly + 0.05
        canvas.place([(lx, top, lz), (lx, bottom + 0.2, lz)])
        canvas.fill(
            canvas.line(
                project(cam, [(lx, top, lz), (lx, bottom + 0.2, lz)]), max(cam.f * 0.008 / lz, 1)
            ),
            np.array([0.12, 0.12, 0.12], np.float32),
        )
        ring = [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 28)]
        upper = [(lx + 0.08 * c, bottom + 0.2, lz + 0.08 * s) for c, s in ring]
        lower = [(lx + 0.26 * c, bottom, lz + 0.26 * s) for c, s in ring]
        shade = _hull(project(cam, upper + lower))
        canvas.place([(lx, bottom + 0.1, lz - 0.2)])
        canvas.fill(
            canvas.polygon(shade, 0.6),
            lit(room, colour("#2f4a3e"), (lx, bottom + 0.1, lz - 0.2), (0, 0.3, -1)),
        )
        canvas.place(lower)
        canvas.fill(
            canvas.polygon(project(cam, lower), 0.8), np.array([1.0, 0.93, 0.78], np.float32)
        )
        halo = canvas.polygon(project(cam, lower), cam.f * 0.35 / lz)
        canvas.shade(halo, lamp.colour, 0.45, mode="screen")
