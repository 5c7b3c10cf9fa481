"""Builds the camera, box and lamps for a scene and paints the whole room frame."""

from __future__ import annotations

from PIL import Image

from filmkit.generators.image import fittings, furniture
from filmkit.generators.image.interior import FLOOR, SKY, Camera, Lamp, Room, Trace, render
from filmkit.generators.image.paint import (
    Canvas,
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
    width, height = size
    cam, room = stage(scene, width, height)
    texture = noise(stream(scene.seed, "surfaces"), height, width, width / 90, octaves=2)
    gloss = {"tiles": 0.5, "boards": 0.3}.get(room.floor, 0.0)
    image, tr = render(cam, room, texture, gloss, lambda t, out: _void(t, out, cam))
    # Surfaces are already anti-aliased; blocks of k x k copies keep them sharp through the
    # final LANCZOS downscale while props get drawn at the finer resolution.
    k = supersample
    canvas = Canvas.opaque(np.repeat(np.repeat(image, k, axis=0), k, axis=1))
    floor = np.repeat(np.repeat(tr.sid == FLOOR, k, axis=0), k, axis=1)
    big = Camera(width * k, height * k, cam.f * k, cam.px * k, cam.py * k, cam.x, cam.eye)
    paint_props(scene, canvas, big, room, floor)
    frame = np.asarray(canvas.image(size, "RGB"), np.float32) / 255
    frame = frame * vignette(height, width, MOODS[scene.light].vignette)[..., None]
    frame = frame + grain(stream(scene.seed, "grain"), height, width, 0.018)
    return Image.fromarray(np.round(np.clip(frame, 0, 1) * 255).astype(np.uint8))


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
