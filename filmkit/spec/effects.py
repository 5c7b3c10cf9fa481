"""Composite effects in film.yaml: a layer's mask, depth, blend mode, keyframes and
retiming, a shot's camera and style.

Depth is one scale for the whole shot: 0 is nearest the camera, 1 farthest.
A layer stands at one depth (a number: a flat plane, like a character) or
carries a depth map (a generated set's own, a picture file, or a depth model
run on it), spread over its ``range`` of that scale. The shot's ``camera``
then focuses at a depth, and moves so that near layers shift more than far
ones (parallax).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from filmkit.spec.types import Colour, Fraction, Seconds, Strict


class Mask(Strict):
    """What of a picture or video layer shows: its subject, or all but a keyed colour."""

    subject: bool = Field(
        default=False,
        description="cut the main subject out of its background (OpenCV GrabCut, no model; "
        "the subject must stand clear of the picture's edges, in colours its background lacks; "
        "a video's cut follows the subject from frame to frame)",
    )
    key: Colour | None = Field(default=None, description="a chroma key: the backdrop's colour")
    tolerance: Fraction = Field(default=0.15, description="key: how far from it still keys")
    softness: Fraction = Field(default=0.1, description="key: the width of the soft edge")
    model: str | None = Field(
        default=None,
        description="a segmentation or matting model as an ONNX file: RGB 0-1 in, "
        "foreground probability out",
    )
    model_size: tuple[int, int] = Field(default=(256, 256), description="the model's input size")
    invert: bool = Field(default=False, description="show what the mask leaves out instead")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "subject":
            return {"subject": True}
        if isinstance(value, str) and value.startswith("#"):
            return {"key": value}
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Mask:
        ways = [self.subject, self.key is not None, self.model is not None]
        if sum(ways) != 1:
            raise ValueError("a mask needs exactly one of `subject: true`, `key:` or `model:`")
        return self


class DepthMap(Strict):
    """A layer's depth, pixel by pixel: from its generator, a file, or a depth model."""

    file: str | None = Field(default=None, description="a depth picture (8- or 16-bit grey PNG)")
    model: str | None = Field(
        default=None,
        description="a monocular depth model as an ONNX file (MiDaS, Depth Anything, DPT); "
        "run once on the picture",
    )
    near: Literal["dark", "light"] = Field(
        default="dark", description="file: which end of the grey scale is near"
    )
    model_size: tuple[int, int] = Field(default=(256, 256), description="the model's input size")
    output: Literal["inverse", "depth"] = Field(
        default="inverse", description="model: inverse depth (MiDaS; larger is nearer) or depth"
    )
    range: tuple[Fraction, Fraction] = Field(
        default=(0.0, 1.0), description="the shot's depths the map spans, nearest to farthest"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {} if value == "generated" else value

    @model_validator(mode="after")
    def _one_source(self) -> DepthMap:
        if self.file is not None and self.model is not None:
            raise ValueError("a depth map comes from one of `file:` or `model:`, not both")
        return self

    def is_generated(self) -> bool:
        """Does the map come from the layer's generator (a set that knows its geometry)?"""
        return self.file is None and self.model is None


Depth = Annotated[
    Fraction | DepthMap,
    Field(
        description="where the layer stands: a depth from 0 (nearest) to 1 (farthest), or a "
        "map: `generated` (the generator's own), {file: ...} or {model: ...}"
    ),
]


Speed = Annotated[float, Field(gt=0, le=100)]


class Retime(Strict):
    """A video layer played slower or faster, in-between frames made from optical flow."""

    speed: Speed | tuple[Speed, Speed] | None = Field(
        default=None,
        description="0.25: four times slower; 2: twice as fast; [1, 0.25]: a ramp from the "
        "first speed to the second while the layer shows",
    )
    duration: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="stretch or squeeze the (trimmed) clip to this many seconds"
    )
    frames: Literal["flow", "blend", "nearest"] = Field(
        default="flow",
        description="in-between frames: flow (optical flow, OpenCV DIS), blend (a crossfade) "
        "or nearest (repeat frames)",
    )
    model: str | None = Field(
        default=None,
        description="in-between frames from a frame-interpolation network instead: a RIFE "
        "4.6 weights file (Practical-RIFE's flownet.pkl, MIT licence; filmkit never "
        "downloads it)",
    )

    @model_validator(mode="after")
    def _one_rate(self) -> Retime:
        if (self.speed is None) == (self.duration is None):
            raise ValueError("a retime needs exactly one of `speed:` or `duration:`")
        if self.model is not None and self.frames != "flow":
            raise ValueError("`model:` makes the in-between frames: leave `frames:` out")
        return self


class Camera(Strict):
    """The shot's lens and move over its layers' depths: focus, aperture, parallax."""

    focus: tuple[Fraction, Fraction] = Field(
        default=(0.0, 0.0), description="the depth in focus, from the first value to the second"
    )
    pull: tuple[Seconds, Seconds] | None = Field(
        default=None, description="when focus moves, seconds into the shot (default: all of it)"
    )
    aperture: Annotated[float, Field(ge=0, le=60)] = Field(
        default=0.0, description="blur in pixels at 720p of what is farthest out of focus"
    )
    x: tuple[float, float] = Field(
        default=(0.0, 0.0),
        description="sideways move: how far the nearest depth shifts, in frame widths",
    )
    y: tuple[float, float] = Field(
        default=(0.0, 0.0), description="vertical move, in frame heights, at the nearest depth"
    )
    push: tuple[float, float] = Field(
        default=(1.0, 1.0), description="push in: the nearest depth's zoom, first to second"
    )

    @field_validator("focus", mode="before")
    @classmethod
    def _one_focus(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int | float) else value

    def moves(self) -> bool:
        """Does the camera move (so layers shift by depth)?"""
        return any(self.x) or any(self.y) or self.push != (1.0, 1.0)


class Style(Strict):
    """A shot restyled frame by frame by networks filmkit trains on one style image."""

    image: str = Field(description="the style: a picture (a sketch, a painting) in the project")
    models: Annotated[int, Field(ge=1, le=6)] = Field(
        default=3,
        description="networks trained on the image with different seeds; each frame takes one "
        "at random, so the drawing boils",
    )
    every: Annotated[int, Field(ge=1)] = Field(
        default=2, description="frames each pick of a network holds"
    )
    strength: Fraction = Field(default=1.0, description="how much of the restyled frame shows")
    steady: Annotated[float, Field(ge=0, le=0.95)] = Field(
        default=0.0,
        description="how much of the previous frame's drawing carries on along the motion, "
        "so strokes stay put (0: a new drawing every frame; 0.8: steady)",
    )
    steps: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="training steps per network (default: the trainer's)"
    )


BLENDS = (
    "normal",
    "multiply",
    "screen",
    "overlay",
    "soft-light",
    "hard-light",
    "add",
    "lighten",
    "darken",
    "difference",
)
Blend = Annotated[
    Literal[BLENDS],  # type: ignore[valid-type]
    Field(
        description="how the layer mixes with what is below: normal, multiply (darkens: "
        "shadows, paper), screen (lightens: light leaks, glows), overlay, soft-light, "
        "hard-light, add, lighten, darken, difference"
    ),
]
EASES = ("linear", "in", "out", "in-out", "hold")


class Key(Strict):
    """A keyframe: where a layer is, how big, how turned and how opaque at a time.

    Between two keys each value eases from one to the next as the later key's
    ``ease`` says; a value a key leaves out is the key before's (or the layer's own).
    """

    at: Seconds = Field(description="seconds into the shot")
    position: tuple[float, float] | None = Field(
        default=None, description="where the layer's anchor is, in frame fractions"
    )
    scale: Annotated[float, Field(gt=0, le=20)] | None = Field(
        default=None, description="size, times the layer's own (`fit` and `scale`)"
    )
    rotation: float | None = Field(
        default=None, description="degrees clockwise, about the layer's anchor"
    )
    opacity: Fraction | None = Field(default=None, description="times the layer's opacity")
    ease: Literal[EASES] = Field(  # type: ignore[valid-type]
        default="in-out",
        description="how the values get here from the key before: linear, in (start slow), "
        "out (end slow), in-out, hold (jump at this key)",
    )


Upscale = Annotated[
    str | None,
    Field(
        description="enlarge the picture once by an ESRGAN-class network: an RRDBNet weights "
        "file (ESRGAN, Real-ESRGAN x4 or x2; check its licence, some are non-commercial). "
        "Without it, pictures are scaled by Lanczos"
    ),
]
