"""Layer order for a portrait: back to front, so each part overlaps the right neighbours."""

from __future__ import annotations

from filmkit.generators.image import eyes, features, hair
from filmkit.generators.image.face import Person
from filmkit.generators.image.head import (
    Layout,
    paint_clothes,
    paint_ears,
    paint_head,
    paint_neck,
    skin_texture,
)
from filmkit.generators.image.paint import Canvas


def paint_portrait(person: Person, canvas: Canvas, eyes_open: bool, mouth_open: bool) -> tuple[Canvas, Layout]:
    """Paint ``person`` onto ``canvas``; only eyes and mouth depend on the two flags."""
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
    features.paint_mouth(person, canvas, lay, head, mouth_open)
    eyes.paint_eyes(person, canvas, lay, head, eyes_open)
    eyes.paint_brows(person, canvas, lay)
    hair.paint_front(person, canvas, lay, head)
    if person.glasses:
        eyes.paint_glasses(person, canvas, lay, head)
    return canvas, lay
