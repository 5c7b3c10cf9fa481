"""Builds the camera, box and lamps for a scene and paints the whole room frame and its depth.

Depth rides along with the paint: a :class:`DepthCanvas` keeps every fine
pixel's inverse distance (disparity, 1/z in 1/metres), starting from the ray
traced surfaces; props say which plane their next fills lie on
(``canvas.place``) and each fill writes that plane's disparity through the
same mask and opacity it paints with, so depth follows the painter's order
exactly as the picture does. Disparity rather than distance because a
camera's blur and parallax are both linear in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from filmkit.generators.image import fittings, furniture
from filmkit.generators.image.fittings import SKY_Z
from filmkit.generators.image.interior import FLOOR, SKY, Camera, Lamp, Room, Trace, render
from filmkit.generators.image.paint import (
    Canvas,
    Mask,
    colour,
    grain,
    mix,
    noise,
    smoothstep,
    stream,
    vignette,
)
from filmkit.generators.image.room import MOODS, SHAPES, Scene
from filmkit.lazy import numpy as np


def stage(scene: Scene, width: int, height: int) -> tuple[Camera, Room]:
    """Camera and room (with lamps) for ``scene`` on a canvas of the given size."""
    w, h, depth, eye, dado, grid = SHAPES[scene.style]
    rng = stream(scene.seed, "stage")
    f = 0.66 * width
    # Centre the back wall vertically; an endless void puts the horizon a little above the middle.
    py = height * 0.42 if depth is None else height / 2 + f * ((h - eye) - eye) / (2 * depth)
    cam = Camera(width, height, f, width / 2 + scene.camera * 0.22 * width, py, 0.0, eye)
    mood = MOODS[scene.light]
    lamp_rgb, power, ambient = np.array(mood.lamp, np.float32), mood.power, mood.ambient
    lamps = []
    if depth is None:
        # The void is lit by everything at once, with a faint pool of light where the chairs stand.
        ambient = (1.45, 1.45, 1.43)
        lamps.append(Lamp((0.0, 6.0, 4.8), lamp_rgb, 14.0))
    elif scene.style == "corridor":
        lamps += [
            Lamp((0.0, h - 0.05, z), lamp_rgb, power * 0.8) for z in np.arange(2.0, depth, 3.2)
        ]
    elif scene.light in ("warm", "dusk"):
        lamps += [
            Lamp((0.0, h - 0.75, z), lamp_rgb, power * 1.1) for z in (depth * 0.5, depth * 0.85)
        ]
    else:
        lamps += [
            Lamp((x, h - 0.05, z), lamp_rgb, power * 0.75)
            for x in (-w / 4, w / 4)
            for z in (depth * 0.25, depth * 0.55, depth * 0.85)
        ]
    if scene.window and depth is not None:
        # Daylight through the window, from wherever fittings.paint_window puts it.
        side = -scene.door_side * (w / 2 - 0.6)
        spot = (0.0, 1.7, depth - 1.5) if scene.style == "office" else (side, 1.7, depth * 0.45)
        lamps.append(Lamp(spot, colour(mood.sky[1]), mood.window))
    floor_tone = {"tiles": "#d9d6cc", "boards": "#9b6b43", "carpet": "#6f7480"}[scene.floor]
    if scene.style == "void":
        floor_tone = "#f2f1ee"
    trims = ("#eeece6", "#6b5a4a", "#8c8f92")
    room = Room(
        width=w,
        height=h,
        depth=depth,
        wall=scene.wall,
        trim=colour(trims[int(rng.integers(3))]),
        floor=scene.floor if depth is not None else "void",
        floor_colour=colour(floor_tone) * np.float32(rng.uniform(0.9, 1.05)),
        ceiling=colour("#ecebe6"),
        grid_ceiling=grid,
        dado=dado,
        ambient=np.array(ambient, np.float32),
        lamps=lamps,
    )
    return cam, room


def paint_room(scene: Scene, size: tuple[int, int], supersample: int) -> Image.Image:
    """The finished frame at ``size``: surfaces, then props painted at ``supersample`` x size."""
    return _paint(scene, size, supersample, Canvas)[0]


def paint_room_depth(
    scene: Scene, size: tuple[int, int], supersample: int
) -> tuple[Image.Image, np.ndarray, float, float]:
    """The frame (exactly as :func:`paint_room` paints it) and its depth map.

    The map is ``(height, width)`` float32 in [0, 1], 0 at the nearest point
    of the room's surfaces in frame and 1 at the back wall (at infinity for
    the endless void), linear in disparity (1/distance) between the two;
    returned with those two distances in metres (the far one ``inf`` for the
    void). Props nearer than the nearest surface clip to 0, the sky in a
    window to 1. Distances are along the view axis (z), as cameras measure.
    """
    image, canvas, near, far = _paint(scene, size, supersample, DepthCanvas)
    assert isinstance(canvas, DepthCanvas)
    width, height = size
    k = supersample
    # Average disparity over each k x k block: edges come out as blends, like the picture's.
    fine = canvas.disparity.reshape(height, k, width, k).mean(axis=(1, 3))
    depth = (1 / near - fine) / (1 / near - 1 / far)
    return image, np.clip(depth, 0, 1).astype(np.float32), near, far


def _paint(
    scene: Scene, size: tuple[int, int], supersample: int, kind: type[Canvas]
) -> tuple[Image.Image, Canvas, float, float]:
    """The frame, the canvas its props were painted on, and the room's nearest and far z."""
    width, height = size
    cam, room = stage(scene, width, height)
    texture = noise(stream(scene.seed, "surfaces"), height, width, width / 90, octaves=2)
    gloss = {"tiles": 0.5, "boards": 0.3}.get(room.floor, 0.0)
    image, tr = render(cam, room, texture, gloss, lambda t, out: _void(t, out, cam))
    # Surfaces are already anti-aliased; blocks of k x k copies keep them sharp through the
    # final LANCZOS downscale while props get drawn at the finer resolution.
    k = supersample
    canvas = kind.opaque(np.repeat(np.repeat(image, k, axis=0), k, axis=1))
    floor = np.repeat(np.repeat(tr.sid == FLOOR, k, axis=0), k, axis=1)
    big = Camera(width * k, height * k, cam.f * k, cam.px * k, cam.py * k, cam.x, cam.eye)
    if isinstance(canvas, DepthCanvas):
        # Distance is continuous across the box's edges: per-pixel hits copied k x k lose little.
        canvas.track(big, np.repeat(np.repeat(_disparity(tr.z), k, axis=0), k, axis=1))
    paint_props(scene, canvas, big, room, floor)
    frame = np.asarray(canvas.image(size, "RGB"), np.float32) / 255
    frame = frame * vignette(height, width, MOODS[scene.light].vignette)[..., None]
    frame = frame + grain(stream(scene.seed, "grain"), height, width, 0.018)
    img = Image.fromarray(np.round(np.clip(frame, 0, 1) * 255).astype(np.uint8))
    far = room.depth if room.depth is not None else float("inf")
    return img, canvas, float(np.min(tr.z)), far


def _disparity(z: np.ndarray) -> np.ndarray:
    """1/z, with the misses (sky, travelling 1e4 m) at infinity: 0."""
    return np.where(z >= SKY_Z, np.float32(0), 1 / np.maximum(z, 1e-3)).astype(np.float32)


class DepthCanvas(Canvas):
    """A canvas that also keeps every pixel's disparity (1/z) for the room's depth map."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.disparity = np.zeros((height, width), np.float32)
        self.cam: Camera | None = None
        self._plane: tuple[np.ndarray, np.ndarray, float, float] | None = None

    def track(self, cam: Camera, disparity: np.ndarray) -> None:
        """Start from the surfaces' disparity, seen through ``cam`` (the canvas's own camera)."""
        self.cam, self.disparity = cam, np.ascontiguousarray(disparity, np.float32)

    def place(self, points: Sequence[Sequence[float]] | None) -> None:
        """The next fills lie on the plane through ``points`` (world), within their z span.

        One point, or points in a line, stand for a plane facing the camera at
        their mean z; ``None`` stops fills writing depth.
        """
        if points is None:
            self._plane = None
            return
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        if self.cam is not None:
            # A point behind the camera projects where its mirror image through the camera
            # would: that mirror image is what got painted.
            eye = np.array([self.cam.x, self.cam.eye, 0.0])
            pts = np.where(pts[:, 2:] < 0, 2 * eye - pts, pts)
        # Newell's normal: sound for any planar polygon, and for a planar curve closed by its chord.
        nxt = np.roll(pts, -1, axis=0)
        normal = np.array(
            [
                np.sum((pts[:, 1] - nxt[:, 1]) * (pts[:, 2] + nxt[:, 2])),
                np.sum((pts[:, 2] - nxt[:, 2]) * (pts[:, 0] + nxt[:, 0])),
                np.sum((pts[:, 0] - nxt[:, 0]) * (pts[:, 1] + nxt[:, 1])),
            ]
        )
        if np.linalg.norm(normal) < 1e-9:
            normal = np.array([0.0, 0.0, 1.0])
        zs = pts[:, 2]
        self._plane = (pts.mean(axis=0), normal, float(zs.min()), float(zs.max()))

    def fill(self, mask: Mask, paint: np.ndarray, opacity: float = 1.0) -> None:
        """Paint as :class:`Canvas` does, and write the placed plane's disparity the same way."""
        super().fill(mask, paint, opacity)
        if self._plane is None or self.cam is None:
            return
        region, m, _ = self._region(mask)
        if m.size == 0:
            return
        m = m * np.float32(opacity)
        plane = self._plane_disparity(region)
        self.disparity[region] = plane * m + self.disparity[region] * (1 - m)

    def _plane_disparity(self, region: tuple[slice, slice]) -> np.ndarray:
        """1/z where each pixel's ray in ``region`` meets the placed plane (z kept in its span)."""
        assert self._plane is not None and self.cam is not None
        point, normal, lo, hi = self._plane
        cam = self.cam
        ys, xs = region
        dx = (np.arange(xs.start, xs.stop, dtype=np.float64)[None, :] + 0.5 - cam.px) / cam.f
        dy = (cam.py - np.arange(ys.start, ys.stop, dtype=np.float64)[:, None] - 0.5) / cam.f
        # Ray (x, eye, 0) + z (dx, dy, 1) meets n . (p - point) = 0 at this z.
        reach = float(normal @ (point - np.array([cam.x, cam.eye, 0.0])))
        slope = normal[0] * dx + normal[1] * dy + normal[2]
        slope = np.where(np.abs(slope) < 1e-9, 1e-9, slope)
        z = np.clip(reach / slope, lo, hi)
        return np.where(z >= SKY_Z, 0.0, 1 / np.maximum(z, 1e-3)).astype(np.float32)


def paint_props(scene: Scene, canvas: Canvas, cam: Camera, room: Room, floor: np.ndarray) -> None:
    """Everything in the room, back to front: lamps, wall fittings, plant, chairs."""
    furniture.paint_lamps(scene, canvas, cam, room)
    if scene.window:
        fittings.paint_window(scene, canvas, cam, room, floor)
    if scene.door:
        fittings.paint_doors(scene, canvas, cam, room)
    if scene.poster:
        fittings.paint_poster(scene, canvas, cam, room)
    if scene.clock:
        fittings.paint_clock(scene, canvas, cam, room)
    if scene.plant:
        furniture.paint_plant(scene, canvas, cam, room)
    furniture.paint_chairs(scene, canvas, cam, room)


def _void(tr: Trace, image: np.ndarray, cam: Camera) -> np.ndarray:
    """Endless white: the floor fades into a haze that is also the sky; no horizon line."""
    haze = np.array([0.93, 0.93, 0.92], np.float32)
    fog = 1 - np.exp(-tr.z / 28.0)
    floor = mix(image, haze, fog)
    # A ray's elevation is recovered from where it ends up; misses travel 1e4 m.
    up = smoothstep(0.0, cam.py / cam.f, (tr.y - cam.eye) / tr.z)
    sky = haze * (1 - 0.12 * up)[..., None]
    return np.where((tr.sid == SKY)[..., None], sky, floor).astype(np.float32)
