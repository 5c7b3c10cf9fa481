"""Things fixed to the walls: doors, a window onto the sky, a clock and a framed picture.

Each is laid out in its wall's own metres (along, up) and projected, so the
same code draws it face-on on the back wall or foreshortened on a side wall.
"""

from __future__ import annotations

import math

from filmkit.generators.image.furniture import Wall, lit, project, shadow, walls
from filmkit.generators.image.interior import Camera, Room
from filmkit.generators.image.paint import Canvas, colour, linear, mix, noise, scale, spline, stream
from filmkit.generators.image.room import MOODS, Scene
from filmkit.lazy import numpy as np

INK = np.array([0.1, 0.1, 0.11], np.float32)
SKY_Z = 1e4  # how far a ray that hits nothing travels (interior.trace): infinity in depth maps


def _rect(
    wall: Wall, u0: float, v0: float, u1: float, v1: float
) -> list[tuple[float, float, float]]:
    """Corners of a rectangle on a wall."""
    return [wall.at(u0, v0), wall.at(u1, v0), wall.at(u1, v1), wall.at(u0, v1)]


def _panel(
    canvas: Canvas,
    cam: Camera,
    room: Room,
    wall: Wall,
    box: tuple[float, ...],
    albedo: np.ndarray,
    blur: float = 0.6,
) -> None:
    """A lit rectangle on a wall."""
    corners = _rect(wall, *box)
    centre = wall.at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    canvas.place(corners)
    canvas.fill(canvas.polygon(project(cam, corners), blur), lit(room, albedo, centre, wall.normal))


def _outline(
    canvas: Canvas,
    cam: Camera,
    wall: Wall,
    box: tuple[float, ...],
    rgb: np.ndarray,
    width: float,
    opacity: float,
) -> None:
    """The edges of a rectangle on a wall, as a thin line (panel mouldings, frames)."""
    pts = project(cam, _rect(wall, *box))
    z = float(np.mean([p[2] for p in _rect(wall, *box)]))
    canvas.shade(canvas.line(pts + pts[:1], max(cam.f * width / z, 1.0), 0.6), rgb, opacity)


def paint_doors(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """Panelled doors with casings and handles; a corridor gets several, alternating sides."""
    depth = room.depth or 7.0
    rng = stream(scene.seed, "doors")
    # Where each door goes: a wall and how far along it (a side wall's metres run from the camera).
    side = {-1: "left", 1: "right"}
    if room.depth is None:
        spots = [("back", 1.4)]
    elif scene.style == "corridor":
        spots = [
            (side[(-1) ** k * scene.door_side], z)
            for k, z in enumerate(np.arange(2.5, depth - 1.5, 3.4))
        ]
        spots.append(("back", -0.5))
    else:
        spots = [(side[scene.door_side], depth * 0.42)]
    leaf = colour(("#8a5a3a", "#6d7f8e", "#a98f6d", "#5d6b5a")[int(rng.integers(4))])
    for name, along in spots:
        wall = walls(room)[name]
        u = -along - 1.0 if name == "right" else along
        if room.depth is None:
            # A door standing alone in the void: it casts its shadow on the floor, not a wall.
            z = wall.origin[2]
            shadow(
                canvas,
                cam,
                [
                    (u - 0.15, 0, z - 0.25),
                    (u + 1.15, 0, z - 0.25),
                    (u + 1.3, 0, z + 0.4),
                    (u - 0.1, 0, z + 0.4),
                ],
                0.05,
                0.6,
            )
        _panel(canvas, cam, room, wall, (u - 0.09, 0.0, u + 1.09, 2.2), room.trim)
        if room.depth is not None:
            shadow(canvas, cam, _rect(wall, u - 0.02, 0.0, u + 1.02, 2.12), 0.02, 0.5)
        _panel(canvas, cam, room, wall, (u, 0.0, u + 1.0, 2.1), leaf)
        for v0, v1 in ((0.22, 0.95), (1.15, 1.92)):
            _outline(canvas, cam, wall, (u + 0.14, v0, u + 0.86, v1), scale(leaf, 0.55), 0.012, 0.6)
        knob = project(cam, [wall.at(u + 0.86, 1.0)])[0]
        z = wall.at(u + 0.86, 1.0)[2]
        r = cam.f * 0.035 / z
        canvas.place([wall.at(u + 0.86, 1.0)])
        canvas.fill(
            canvas.ellipse(knob[0], knob[1], r, r, 0.6),
            lit(room, np.array([0.75, 0.7, 0.55]), wall.at(u + 0.86, 1.0), wall.normal),
        )
        if scene.style == "waiting_room":
            _panel(
                canvas,
                cam,
                room,
                wall,
                (u + 0.3, 2.3, u + 0.7, 2.45),
                np.array([0.2, 0.75, 0.35], np.float32),
            )


def paint_window(scene: Scene, canvas: Canvas, cam: Camera, room: Room, floor: np.ndarray) -> None:
    """A window: sky with clouds or stars, distant rooftops, frame, mullions, a sun patch."""
    depth = room.depth or 7.0
    mood_top, mood_bottom = _sky(scene.light)
    if scene.style == "office":
        wall, box = walls(room)["back"], (-1.7, 0.95, 1.7, 2.35)
    else:
        name = "left" if scene.door_side > 0 else "right"
        wall = walls(room)[name]
        z0 = depth * 0.3
        box = (z0, 1.0, z0 + 2.0, 2.3) if name == "left" else (-z0 - 2.0, 1.0, -z0, 2.3)
    u0, v0, u1, v1 = box
    _panel(canvas, cam, room, wall, (u0 - 0.1, v0 - 0.1, u1 + 0.1, v1 + 0.1), room.trim)
    glass_pts = project(cam, _rect(wall, *box))
    glass = canvas.polygon(glass_pts, 0.6)
    top = min(p[1] for p in glass_pts)
    bottom = max(p[1] for p in glass_pts)
    sky = mix(mood_top, mood_bottom, linear(glass, (0, top), (0, bottom)))
    canvas.place([(0.0, 0.0, SKY_Z)])  # the view out: sky and distant roofs, at infinity
    canvas.fill(glass, sky)
    rng = stream(scene.seed, "window")
    h, w = glass.values.shape
    if scene.light in ("fluorescent", "warm"):
        cloud = noise(rng, h, w, max(w / 5, 2), octaves=3)
        canvas.shade(glass.weighted(np.clip((cloud - 0.5) * 3, 0, 1)), np.ones(3, np.float32), 0.6)
    elif scene.light == "night":
        stars = (rng.random((h, w)) > 0.9985).astype(np.float32)
        canvas.shade(glass.weighted(stars), np.ones(3, np.float32), 0.9)
    # Rooftops beyond, in a hazy version of the sky's lower colour.
    city = scale(mood_bottom, 0.45 if scene.light != "night" else 0.6)
    left, right = min(p[0] for p in glass_pts), max(p[0] for p in glass_pts)
    blocks, x = [], left
    while x < right:
        bw = (right - left) * rng.uniform(0.08, 0.2)
        bh = (bottom - top) * rng.uniform(0.1, 0.35)
        blocks.append((x, bottom - bh, x + bw, bottom))
        x += bw * rng.uniform(0.9, 1.2)
    roofs = canvas.mask(lambda d: [d.rectangle(b, fill=255) for b in blocks], 0.6).times(glass)
    canvas.fill(roofs, city, 0.85)
    if scene.light in ("night", "dusk"):
        lights = canvas.mask(
            lambda d: [
                d.rectangle(
                    (
                        b[0] + (b[2] - b[0]) * fx,
                        b[1] + (b[3] - b[1]) * fy,
                        b[0] + (b[2] - b[0]) * (fx + 0.06),
                        b[1] + (b[3] - b[1]) * (fy + 0.05),
                    ),
                    fill=255,
                )
                for b in blocks
                for fx, fy in rng.uniform(0.1, 0.85, (4, 2))
            ],
            0.4,
        )
        canvas.fill(lights.times(roofs), np.array([1.0, 0.85, 0.5], np.float32), 0.9)
    sheen = glass.weighted(
        np.clip(1 - np.abs(linear(glass, (left, top), (right, bottom)) - 0.4) / 0.08, 0, 1)
    )
    canvas.shade(sheen, np.ones(3, np.float32), 0.12, mode="screen")
    frame = lit(room, room.trim, wall.at((u0 + u1) / 2, v0), wall.normal)
    mid = (u0 + u1) / 2
    z = wall.at(mid, v0)[2]
    canvas.place(_rect(wall, *box))
    for seg in (
        [wall.at(mid, v0), wall.at(mid, v1)],
        [wall.at(u0, v0 + 0.62 * (v1 - v0)), wall.at(u1, v0 + 0.62 * (v1 - v0))],
    ):
        canvas.fill(canvas.line(project(cam, seg), max(cam.f * 0.05 / z, 1.0), 0.6), frame)
    _outline(canvas, cam, wall, box, frame, 0.05, 1.0)
    _panel(
        canvas,
        cam,
        room,
        wall,
        (u0 - 0.15, v0 - 0.14, u1 + 0.15, v0 - 0.06),
        scale(room.trim, 1.05),
    )
    if scene.light in ("fluorescent", "warm", "dusk") and wall.normal[2] == 0:
        _sun_patch(scene, canvas, cam, wall, box, floor, mood_bottom)


def _sun_patch(
    scene: Scene,
    canvas: Canvas,
    cam: Camera,
    wall: Wall,
    box: tuple[float, ...],
    floor: np.ndarray,
    sun: np.ndarray,
) -> None:
    """Light through the window cast onto the floor, a soft parallelogram."""
    u0, v0, u1, v1 = box
    inward = wall.normal[0]
    run = {"dusk": 1.6, "warm": 1.0, "fluorescent": 0.7}[scene.light]
    corners = []
    for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1)):
        x, y, z = wall.at(u, v)
        corners.append((x + inward * y * run, 0.0, z + y * 0.35))
    patch = canvas.polygon(project(cam, corners), cam.f * 0.03 / corners[0][2])
    strength = {"dusk": 0.45, "warm": 0.3, "fluorescent": 0.22}[scene.light]
    canvas.shade(
        patch.weighted(floor[patch.slices]), np.clip(sun * 1.2, 0, 1), strength, mode="screen"
    )


def _sky(light: str) -> tuple[np.ndarray, np.ndarray]:
    """Sky colours at the top and bottom of a window for a lighting mood."""
    top, bottom = MOODS[light].sky
    return colour(top), colour(bottom)


def paint_clock(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """A round wall clock with ticks and hands at a seeded time."""
    wall = (
        walls(room)["back"]
        if scene.style != "corridor"
        else walls(room)["left" if scene.door_side > 0 else "right"]
    )
    u = (
        0.9
        if scene.style != "corridor"
        else (room.depth or 8) * 0.2 * (1 if scene.door_side > 0 else -1) - 0.5
    )
    v, r = 2.3, 0.2

    def ring(radius: float, n: int = 48) -> list[tuple[float, float]]:
        return project(
            cam,
            [
                wall.at(u + radius * math.cos(t), v + radius * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, n)
            ],
        )

    shadow(
        canvas,
        cam,
        [
            wall.at(u + 0.03 + r * math.cos(t), v - 0.05 + r * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 24)
        ],
        0.03,
        0.35,
    )
    canvas.place(_rect(wall, u - r, v - r, u + r, v + r))
    canvas.fill(
        canvas.polygon(ring(r), 0.6),
        lit(room, np.array([0.15, 0.15, 0.17]), wall.at(u, v), wall.normal),
    )
    canvas.fill(
        canvas.polygon(ring(0.87 * r), 0.6),
        lit(room, np.array([0.95, 0.94, 0.9]), wall.at(u, v), wall.normal),
    )
    z = wall.at(u, v)[2]
    px = cam.f / z
    for k in range(12):
        t = k * math.pi / 6
        inner = 0.68 if k % 3 == 0 else 0.74
        tick = project(
            cam, [wall.at(u + r * s * math.sin(t), v + r * s * math.cos(t)) for s in (inner, 0.8)]
        )
        canvas.fill(canvas.line(tick, max(0.012 * px, 1.0), 0.5), INK)
    minute = (scene.hour % 1) * 2 * math.pi
    hour = scene.hour / 12 * 2 * math.pi
    for angle, length, width in ((hour, 0.45, 0.022), (minute, 0.68, 0.014)):
        hand = project(
            cam,
            [
                wall.at(u, v),
                wall.at(u + r * length * math.sin(angle), v + r * length * math.cos(angle)),
            ],
        )
        canvas.fill(canvas.line(hand, max(width * px, 1.0), 0.5), INK)


def paint_poster(scene: Scene, canvas: Canvas, cam: Camera, room: Room) -> None:
    """A framed print on the back wall: a simple landscape of sky, sun and hills."""
    wall = walls(room)["back"]
    rng = stream(scene.seed, "poster")
    u = -1.1 if scene.style != "corridor" else -0.15
    v0, w, h = 1.35, 0.75, 0.85
    if scene.style == "corridor":
        wall = walls(room)["right" if scene.door_side < 0 else "left"]
        u = (room.depth or 8) * 0.55 * (1 if scene.door_side < 0 else -1)
    shadow(canvas, cam, _rect(wall, u + 0.03, v0 - 0.05, u + w + 0.03, v0 + h - 0.05), 0.03, 0.4)
    _panel(
        canvas, cam, room, wall, (u, v0, u + w, v0 + h), np.array([0.16, 0.13, 0.11], np.float32)
    )
    _panel(
        canvas,
        cam,
        room,
        wall,
        (u + 0.05, v0 + 0.05, u + w - 0.05, v0 + h - 0.05),
        np.array([0.93, 0.92, 0.88], np.float32),
    )
    inner = (u + 0.12, v0 + 0.12, u + w - 0.12, v0 + h - 0.12)
    hue = rng.uniform(0, 1)
    sky_a = colour(("#e8b88a", "#9fc3d9", "#d9a3a8", "#b8c99a")[int(hue * 4)])
    _panel(canvas, cam, room, wall, inner, sky_a)
    iu0, iv0, iu1, iv1 = inner
    sun_u, sun_v = iu0 + (iu1 - iu0) * rng.uniform(0.25, 0.75), iv0 + (iv1 - iv0) * 0.62
    canvas.place(_rect(wall, *inner))
    sun = project(
        cam,
        [
            wall.at(sun_u + 0.08 * math.cos(t), sun_v + 0.08 * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 24)
        ],
    )
    canvas.fill(
        canvas.polygon(sun, 0.6), lit(room, colour("#f1e3b0"), wall.at(sun_u, sun_v), wall.normal)
    )
    for k, tone in enumerate(("#6f8f6a", "#4e6b55")):
        heights = rng.uniform(0.15, 0.45, 6) * (iv1 - iv0) * (1 - 0.3 * k)
        ridge = spline([(iu0 + (iu1 - iu0) * i / 5, iv0 + hh) for i, hh in enumerate(heights)], 6)
        hill = [wall.at(u, v) for u, v in ridge] + [wall.at(iu1, iv0), wall.at(iu0, iv0)]
        canvas.fill(
            canvas.polygon(project(cam, hill), 0.6),
            lit(room, colour(tone), wall.at(sun_u, iv0), wall.normal),
        )
