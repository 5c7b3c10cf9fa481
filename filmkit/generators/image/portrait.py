"""Layer order for a portrait: back to front, so each part overlaps the right neighbours."""

from __future__ import annotations

from collections.abc import Iterable

from filmkit.generators.image import eyes, features, hair
from filmkit.generators.image.clothes import paint_clothes
from filmkit.generators.image.face import Person
from filmkit.generators.image.head import Layout, paint_ears, paint_head, paint_neck, skin_texture
from filmkit.generators.image.paint import Canvas


def paint_portraits(
    person: Person, canvas: Canvas, variants: Iterable[tuple[str, bool, bool]]
) -> tuple[dict[str, Canvas], Layout]:
    """Paint ``person`` once per (name, eyes_open, mouth_open) variant on copies of ``canvas``.

    Everything beneath the eyes and mouth is painted once and shared; the
    features and what lies over them (brows, front hair, glasses) are painted
    per variant, so the frames differ only where the features do.
    """
    lay = Layout.of(person, canvas.width, canvas.height)
    texture = skin_texture(person, canvas)
    hair.paint_back(person, canvas, lay)
    paint_neck(person, canvas, lay, texture)
    paint_clothes(person, canvas, lay)
    paint_ears(person, canvas, lay)
    head = paint_head(person, canvas, lay, texture)
    features.paint_nose(person, canvas, lay, head)
    features.paint_age(person, canvas, lay, head)
    features.paint_facial_hair(person, canvas, lay, head)
    frames = {}
    for name, eyes_open, mouth_open in variants:
        frame = canvas.copy()
        features.paint_mouth(person, frame, lay, head, mouth_open)
        eyes.paint_eyes(person, frame, lay, head, eyes_open)
        eyes.paint_brows(person, frame, lay)
        hair.paint_front(person, frame, lay, head)
        if person.glasses:
            eyes.paint_glasses(person, frame, lay, head)
        frames[name] = frame
    return frames, lay
