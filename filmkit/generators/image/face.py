"""A seeded, painted head-and-shoulders character with talk and blink frames.

Every trait left unset in ``Params`` is drawn from the seed, so different
seeds give different people and the same seed always the same person. The
three outputs are the same render except for the mouth (``mouth_open``) and
the eyes (``blink``); the returned boxes say where they differ so that a
renderer can animate speech and blinking by swapping frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filmkit.generators.base import Generator, Request
from filmkit.generators.image.paint import SUPERSAMPLE, Canvas, Colour, colour, is_colour, stream
from filmkit.lazy import numpy as np

SKIN = {
    "porcelain": "#f4d9c8",
    "fair": "#ecc3a5",
    "light": "#dfae8b",
    "medium": "#c9906a",
    "olive": "#b58a5f",
    "tan": "#a4704d",
    "brown": "#86543a",
    "dark": "#603b29",
    "deep": "#45291d",
}
HAIR = {
    "black": "#1d1714",
    "dark_brown": "#3a2518",
    "brown": "#62402a",
    "chestnut": "#7b4327",
    "auburn": "#8c3b22",
    "ginger": "#b8612e",
    "blonde": "#c9a264",
    "ash_blonde": "#b4a27f",
    "platinum": "#ddd2b6",
    "grey": "#9a9793",
    "white": "#dedbd4",
}
EYES = {
    "brown": "#5b3a22",
    "dark_brown": "#3b2416",
    "hazel": "#7a6234",
    "green": "#4f7a4b",
    "blue": "#4a78ab",
    "grey": "#7a8a94",
    "amber": "#9a6a2a",
}
CLOTHES = {
    "navy": "#27324d",
    "charcoal": "#393b40",
    "burgundy": "#6b2430",
    "olive": "#5d6138",
    "mustard": "#b98b2e",
    "teal": "#2d6567",
    "cream": "#e3d8c2",
    "grey": "#8a8c8e",
    "black": "#1f1f22",
    "white": "#eeede8",
    "camel": "#a8845a",
    "rust": "#9a4a2a",
    "forest": "#2f4c36",
    "plum": "#5a3450",
    "slate": "#5a6a7a",
    "sky": "#8fb1cf",
    "brick": "#8e4034",
    "sage": "#8a9a7c",
}
HAIR_STYLES = ("short", "long", "bob", "bald", "bun", "curly")


def _check(value: str | None, palette: dict[str, str]) -> str | None:
    """Validate a palette name or hex colour."""
    if value is not None and not is_colour(value, palette):
        raise ValueError(f"expected #rrggbb or one of {', '.join(palette)}")
    return value


class Params(BaseModel):
    """Who to paint; every unset trait is chosen from the seed."""

    model_config = ConfigDict(extra="forbid")

    skin: str | None = Field(None, description=f"Skin tone: #rrggbb or one of {', '.join(SKIN)}.")
    hair_colour: str | None = Field(None, description=f"#rrggbb or one of {', '.join(HAIR)}.")
    hair_style: Literal["short", "long", "bob", "bald", "bun", "curly"] | None = Field(
        None, description="Haircut."
    )
    eye_colour: str | None = Field(None, description=f"#rrggbb or one of {', '.join(EYES)}.")
    age: Literal["young", "middle", "old"] | None = Field(
        None, description="Rough age: middle adds lines, old adds wrinkles and grey hair."
    )
    tired: bool | None = Field(None, description="Heavy lids and dark circles under the eyes.")
    glasses: bool | None = Field(None, description="Wear glasses.")
    clothing: str | None = Field(
        None, description=f"Clothing colour: #rrggbb or {', '.join(CLOTHES)}."
    )
    clothing_style: Literal["crew", "vneck", "collar", "jacket", "turtleneck"] | None = Field(
        None, description="Neckline / garment."
    )
    brows: Literal["neutral", "worried", "raised", "stern"] | None = Field(
        None, description="Eyebrow expression."
    )
    facial_hair: Literal["none", "stubble", "moustache", "beard"] | None = Field(
        None, description="Facial hair."
    )
    face_shape: Literal["oval", "round", "square", "long"] | None = Field(
        None, description="Outline of the face."
    )

    @field_validator("skin")
    @classmethod
    def _skin(cls, v: str | None) -> str | None:
        return _check(v, SKIN)

    @field_validator("hair_colour")
    @classmethod
    def _hair(cls, v: str | None) -> str | None:
        return _check(v, HAIR)

    @field_validator("eye_colour")
    @classmethod
    def _eyes(cls, v: str | None) -> str | None:
        return _check(v, EYES)

    @field_validator("clothing")
    @classmethod
    def _clothes(cls, v: str | None) -> str | None:
        return _check(v, CLOTHES)


@dataclass(frozen=True)
class Person:
    """Every trait of one character, resolved from params and seed."""

    seed: int
    skin: Colour
    hair: Colour
    hair_style: str
    eye: Colour
    age: str
    tired: bool
    glasses: bool
    clothing: Colour
    shirt: Colour
    clothing_style: str
    brows: str
    facial_hair: str
    face_shape: str
    lips: Colour
    frame: Colour
    round_glasses: bool
    width: float
    eye_size: float
    eye_gap: float
    nose_length: float
    nose_width: float
    mouth_width: float
    lip_fullness: float
    brow_weight: float
    neck_width: float
    volume: float
    part: float
    gaze: tuple[float, float]
    lashes: float
    tie: Colour | None


def _choose(u: float, options: Any, weights: Any = None) -> Any:
    """The option a uniform draw ``u`` in [0, 1) lands on, options optionally weighted."""
    keys = list(options)
    w = np.ones(len(keys)) if weights is None else np.asarray(weights, float)
    cumulative = np.cumsum(w) / w.sum()
    return keys[min(int(np.searchsorted(cumulative, u, side="right")), len(keys) - 1)]


def resolve(params: Params, seed: int) -> Person:
    """Fill every unset trait from the seed.

    A fixed sequence of draws is taken whatever the params say, so fixing one
    trait (say ``glasses``) leaves the rest of the person as the seed made them.
    """
    draws = iter(stream(seed, "person").random(40))

    def pick(given: Any, options: Any, weights: Any = None) -> Any:
        u = next(draws)
        return given if given is not None else _choose(u, options, weights)

    def span(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(next(draws))

    style = pick(params.hair_style, HAIR_STYLES, [4, 3, 2, 1, 1.5, 1.5])
    age = pick(params.age, ("young", "middle", "old"), [3, 4, 2])
    hair = colour(pick(params.hair_colour, HAIR, [3, 4, 3, 2, 1, 1, 2, 1, 0.5, 0, 0]), HAIR)
    greying = span(0.55, 0.85) if age == "old" else span(0.0, 0.25)
    if params.hair_colour is None and age != "young":
        hair = hair + (colour("#a9a6a1") - hair) * greying
    feminine = style in ("long", "bob", "bun")
    beardy = style in ("short", "bald", "curly")
    skin = colour(pick(params.skin, SKIN, [1, 3, 3, 2, 2, 2, 2, 1.5, 1]), SKIN)
    lip_tint = colour("#b4454f") if feminine else colour("#a2584f")
    tie = colour(pick(None, ("#6b1f2a", "#1f2c4d", "#2f4a34", "#5a4a2a", "#3a3a3f")))
    return Person(
        seed=seed,
        skin=skin,
        hair=np.clip(hair, 0, 1).astype(np.float32),
        hair_style=style,
        eye=colour(pick(params.eye_colour, EYES, [4, 3, 2, 1.5, 2, 1, 0.5]), EYES),
        age=age,
        tired=pick(params.tired, (True, False), [1, 3]),
        glasses=pick(params.glasses, (True, False), [3, 7]),
        clothing=colour(pick(params.clothing, CLOTHES), CLOTHES),
        shirt=colour(pick(None, ("#e9e6df", "#dfe6ee", "#f1ece1", "#c9d3dd"))),
        clothing_style=pick(
            params.clothing_style,
            ("crew", "vneck", "collar", "jacket", "turtleneck"),
            [3, 2, 2, 2, 1],
        ),
        brows=pick(params.brows, ("neutral", "worried", "raised", "stern"), [5, 2, 1, 1]),
        facial_hair=pick(
            params.facial_hair,
            ("none", "stubble", "moustache", "beard"),
            [6, 2, 1, 1.2] if beardy else [1, 0, 0, 0],
        ),
        face_shape=pick(params.face_shape, ("oval", "round", "square", "long")),
        lips=np.clip(skin + (lip_tint - skin) * span(0.45, 0.7), 0, 1),
        frame=colour(pick(None, ("#1c1a19", "#4a2f22", "#6d6a66", "#7a3b2a"))),
        round_glasses=pick(None, (True, False), [2, 3]),
        width=span(0.94, 1.05),
        eye_size=span(0.9, 1.1),
        eye_gap=span(0.95, 1.05),
        nose_length=span(0.9, 1.12),
        nose_width=span(0.85, 1.2),
        mouth_width=span(0.9, 1.1),
        lip_fullness=span(0.8, 1.2) * (1.1 if feminine else 0.95),
        brow_weight=span(0.8, 1.2) * (0.85 if feminine else 1.1),
        neck_width=span(0.9, 1.08) * (0.92 if feminine else 1.05),
        volume=span(0.8, 1.2),
        part=pick(None, (-1.0, 1.0, 0.0), [2, 2, 1]),
        gaze=(span(-0.12, 0.12), span(-0.05, 0.08)),
        lashes=span(0.8, 1.0) if feminine else span(0.25, 0.45),
        tie=pick(None, (tie, None), [3, 2]),
    )


def _bbox(diff: np.ndarray, x0: int, x1: int) -> tuple[int, int, int, int] | None:
    """Bounding box of nonzero pixels of ``diff`` between columns x0 and x1."""
    ys, xs = np.nonzero(diff[:, x0:x1])
    if len(xs) == 0:
        return None
    return x0 + int(xs.min()), int(ys.min()), x0 + int(xs.max()) + 1, int(ys.max()) + 1


def _union(
    a: tuple[int, ...], b: tuple[int, ...] | None, pad: int, size: tuple[int, int]
) -> list[int]:
    """Union of two boxes, padded and clipped to the image."""
    if b is not None:
        a = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
    w, h = size
    return [max(a[0] - pad, 0), max(a[1] - pad, 0), min(a[2] + pad, w), min(a[3] + pad, h)]


class ProceduralFace(Generator):
    """Painted head-and-shoulders portrait on transparency, with talk and blink frames."""

    kind = "image"
    name = "face"
    version = "1"
    Params = Params
    outputs = {"image": ".png", "mouth_open": ".png", "blink": ".png"}
    licence = "GPL-3.0-or-later (procedural, no training data)"

    def generate(self, request: Request) -> dict[str, Any]:
        """Paint the three frames and report where mouth and eyes are."""
        from filmkit.generators.image.portrait import paint_portraits

        assert isinstance(request.params, Params)
        size = request.size or (768, 768)
        person = resolve(request.params, request.seed)
        big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
        variants = (("image", True, False), ("mouth_open", True, True), ("blink", False, False))
        canvases, layout = paint_portraits(person, Canvas(*big), variants)
        frames = {name: canvas.image(size) for name, canvas in canvases.items()}
        request.progress(1.0)
        for name, img in frames.items():
            img.save(request.outputs[name], format="PNG", compress_level=3)
        return self._boxes(frames, layout.boxes(1 / SUPERSAMPLE), size)

    @staticmethod
    def _boxes(
        frames: dict[str, Any], boxes: dict[str, Any], size: tuple[int, int]
    ) -> dict[str, Any]:
        """Geometric feature boxes grown to cover every pixel the frames differ in."""
        base = np.asarray(frames["image"], np.int16)
        talk = np.abs(np.asarray(frames["mouth_open"], np.int16) - base).sum(axis=2)
        blink = np.abs(np.asarray(frames["blink"], np.int16) - base).sum(axis=2)
        mid = (boxes["eyes"][0][2] + boxes["eyes"][1][0]) // 2
        pad = max(size[0] // 200, 1)
        return {
            "mouth_box": _union(boxes["mouth"], _bbox(talk, 0, size[0]), pad, size),
            "eye_boxes": [
                _union(boxes["eyes"][0], _bbox(blink, 0, mid), pad, size),
                _union(boxes["eyes"][1], _bbox(blink, mid, size[0]), pad, size),
            ],
        }
