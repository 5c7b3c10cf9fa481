"""A seeded interior in one-point perspective: waiting room, corridor, office or white void.

The preset fixes the room's proportions and typical props; every prop,
colour and lighting choice left unset in ``Params`` is drawn from the seed.
Surfaces are ray traced per pixel (with extra rays only along the room's
edges), props are painted over them at twice the size with matching light,
and the frame is downscaled, vignetted and given grain.

A second output, ``depth``, is the frame's depth map: a 16-bit greyscale PNG
the size of the image, 0 at the nearest point of the room's surfaces in frame
and 65535 at the back wall (or, in the endless void, at infinity: the
horizon and sky), linear in disparity (1/distance along the view axis)
between the two, since that is what blur and parallax are linear in. It
comes from the same ray traced hits; every prop writes the plane it stands
on where it is painted (chairs box by box, the plant's pot and leaves, doors,
lamps, wall fittings), at the same supersampled size, averaged down. A
window's view is at infinity. The two distances in metres are returned as
``depth_near`` and ``depth_far`` (None for infinity). A request that names no
``depth`` output gets only the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filmkit.generators.base import Generator, Request
from filmkit.generators.image.paint import SUPERSAMPLE, colour, is_colour, stream
from filmkit.lazy import numpy as np

WALLS = {
    "institutional_green": "#b7c2a2",
    "mint": "#bdd3c4",
    "cream": "#e4d9bf",
    "beige": "#d6c5a5",
    "grey": "#c2c3be",
    "blue": "#a9bccb",
    "peach": "#e2c0a2",
    "white": "#e9e8e3",
    "yellow": "#e0d196",
    "teal": "#8eb0aa",
    "pink": "#d9b7b1",
    "lilac": "#c0b6cc",
}
CHAIRS = ("#c8642d", "#2f6f7a", "#5b6e8c", "#8a8f96", "#a33a3a", "#3d5a45", "#d9a441", "#3a3a40")
STYLES = ("waiting_room", "corridor", "office", "void")

# Per preset: width, height, depth (None = endless), eye height, dado rail height, drop ceiling.
SHAPES: dict[str, tuple[float, float, float | None, float, float, bool]] = {
    "waiting_room": (5.2, 3.0, 7.0, 1.3, 1.0, True),
    "corridor": (2.6, 2.8, 18.0, 1.45, 1.05, True),
    "office": (6.0, 2.9, 7.5, 1.35, 0.0, True),
    "void": (8.0, 3.0, None, 1.3, 0.0, False),
}
# Per preset: chance of door, window, clock, plant, poster, and the usual chair count range.
PROPS: dict[str, tuple[float, float, float, float, float, tuple[int, int]]] = {
    "waiting_room": (1.0, 0.6, 1.0, 0.8, 0.8, (4, 7)),
    "corridor": (1.0, 0.2, 0.5, 0.4, 0.5, (2, 4)),
    "office": (0.8, 1.0, 0.6, 1.0, 0.7, (1, 3)),
    "void": (0.3, 0.0, 0.0, 0.0, 0.0, (2, 2)),
}


@dataclass(frozen=True)
class Mood:
    """How a lighting mood looks: lamps, ambient fill, the sky in the window, vignette."""

    lamp: tuple[float, float, float]
    power: float
    ambient: tuple[float, float, float]
    sky: tuple[str, str]
    vignette: float
    window: float


MOODS = {
    "fluorescent": Mood(
        (0.93, 1.0, 0.96), 4.2, (0.42, 0.45, 0.44), ("#8fb8e0", "#dcecf6"), 0.35, 2.0
    ),
    "warm": Mood((1.0, 0.78, 0.52), 3.6, (0.3, 0.25, 0.2), ("#d7b27e", "#f4dfb6"), 0.45, 1.5),
    "dusk": Mood((1.0, 0.72, 0.45), 1.4, (0.26, 0.21, 0.3), ("#37396e", "#f08848"), 0.5, 4.5),
    "night": Mood((0.82, 0.92, 1.0), 2.6, (0.07, 0.09, 0.15), ("#040818", "#17223f"), 0.6, 0.2),
}


class Params(BaseModel):
    """What room to paint; unset choices are drawn from the seed."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["waiting_room", "corridor", "office", "void"] = Field(
        "waiting_room",
        description="Preset: proportions and typical props (void = endless white room).",
    )
    wall_colour: str | None = Field(None, description=f"#rrggbb or one of {', '.join(WALLS)}.")
    floor: Literal["tiles", "boards", "carpet"] | None = Field(None, description="Floor covering.")
    light: Literal["fluorescent", "warm", "dusk", "night"] | None = Field(
        None, description="Lighting mood."
    )
    chairs: int | None = Field(
        None, ge=0, le=12, description="Chairs in a row along the back wall."
    )
    door: bool | None = Field(None, description="A door in a side wall.")
    window: bool | None = Field(None, description="A window showing the sky outside.")
    clock: bool | None = Field(None, description="A wall clock.")
    plant: bool | None = Field(None, description="A potted plant in a corner.")
    poster: bool | None = Field(None, description="A framed picture on the back wall.")
    camera: float = Field(
        0.0, ge=-1.0, le=1.0, description="Vanishing point offset, -1 (left) to 1 (right)."
    )

    @field_validator("wall_colour")
    @classmethod
    def _wall(cls, v: str | None) -> str | None:
        if v is not None and not is_colour(v, WALLS):
            raise ValueError(f"expected #rrggbb or one of {', '.join(WALLS)}")
        return v


@dataclass(frozen=True)
class Scene:
    """Every choice for one room, resolved from params and seed."""

    seed: int
    style: str
    light: str
    wall: np.ndarray
    floor: str
    chairs: int
    chair_colour: np.ndarray
    door: bool
    door_side: int
    window: bool
    clock: bool
    plant: bool
    plant_side: int
    poster: bool
    hour: float
    camera: float


def _chance(rng: np.random.Generator, given: bool | None, p: float) -> bool:
    """``given`` if set, else a seeded coin with probability ``p`` (drawn either way)."""
    coin = bool(rng.random() < p)
    return coin if given is None else given


def resolve(params: Params, seed: int) -> Scene:
    """Fill every unset choice from the seed; a fixed number of draws keeps choices independent."""
    rng = stream(seed, "room")
    style = params.style
    p_door, p_window, p_clock, p_plant, p_poster, (lo, hi) = PROPS[style]
    wall_name = list(WALLS)[int(rng.integers(len(WALLS)))]
    if style == "void":
        wall_name = "white"
    floor = ("tiles", "boards", "carpet")[
        int(rng.choice(3, p=[0.6, 0.25, 0.15] if style != "office" else [0.1, 0.3, 0.6]))
    ]
    light = ("fluorescent", "warm", "dusk", "night")[int(rng.choice(4, p=[0.55, 0.25, 0.12, 0.08]))]
    chairs = int(rng.integers(lo, hi + 1))
    return Scene(
        seed=seed,
        style=style,
        light=params.light or ("fluorescent" if style == "void" else light),
        wall=colour(params.wall_colour or wall_name, WALLS),
        floor=params.floor or floor,
        chairs=params.chairs if params.chairs is not None else chairs,
        chair_colour=colour(CHAIRS[int(rng.integers(len(CHAIRS)))]),
        door=_chance(rng, params.door, p_door),
        door_side=-1 if rng.random() < 0.5 else 1,
        window=_chance(rng, params.window, p_window),
        clock=_chance(rng, params.clock, p_clock),
        plant=_chance(rng, params.plant, p_plant),
        plant_side=-1 if rng.random() < 0.5 else 1,
        poster=_chance(rng, params.poster, p_poster),
        hour=float(rng.uniform(0, 12)),
        camera=params.camera,
    )


class ProceduralRoom(Generator):
    """Painted one-point-perspective interior for the film's backgrounds."""

    kind = "image"
    name = "room"
    version = "2"
    Params = Params
    outputs = {"image": ".png", "depth": ".png"}
    licence = "GPL-3.0-or-later (procedural, no training data)"

    def generate(self, request: Request) -> dict[str, Any]:
        """Paint the room and write it as an RGB PNG, and its depth as a 16-bit grey PNG."""
        from PIL import Image

        from filmkit.generators.image.stage import paint_room, paint_room_depth

        assert isinstance(request.params, Params)
        size = request.size or (1280, 720)
        scene = resolve(request.params, request.seed)
        meta: dict[str, Any] = {"style": scene.style, "light": scene.light, "chairs": scene.chairs}
        if "depth" in request.outputs:
            img, depth, near, far = paint_room_depth(scene, size, SUPERSAMPLE)
            grey = np.round(depth * 65535).astype(np.uint16)
            Image.fromarray(grey).save(request.outputs["depth"], format="PNG", compress_level=1)
            meta |= {"depth_near": round(near, 4), "depth_far": far if far < 1e9 else None}
        else:
            img = paint_room(scene, size, SUPERSAMPLE)
        request.progress(1.0)
        img.save(request.outputs["image"], format="PNG", compress_level=1)
        return meta
