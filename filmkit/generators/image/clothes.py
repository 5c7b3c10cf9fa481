"""Clothing for a portrait: shoulders, necklines, collars, a jacket with lapels, a tie.

Fabric is shaded as one soft form lit from the upper left (the same light as
the head), with a woven noise and a couple of folds, which is enough for
clothes that are mostly cropped by the frame's bottom edge.
"""

from __future__ import annotations

from filmkit.generators.image.face import Person
from filmkit.generators.image.head import Layout
from filmkit.generators.image.paint import (
    Canvas,
    Colour,
    Mask,
    curve,
    linear,
    mix,
    noise,
    radial,
    scale,
    smoothstep,
    spline,
    stream,
)
from filmkit.lazy import numpy as np


def _body_outline(lay: Layout, neckline: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Shoulders and torso down to the frame's bottom edge, closed over ``neckline``."""
    sw, y0, b = lay.shoulder_w, lay.neck_y, lay.b
    left = spline(
        [
            (lay.cx - sw, lay.height),
            (lay.cx - sw * 0.98, y0 + 0.7 * b),
            (lay.cx - sw * 0.86, y0 + 0.3 * b),
            (lay.cx - sw * 0.55, y0 + 0.12 * b),
            neckline[0],
        ],
        8,
    )
    right = [(2 * lay.cx - x, y) for x, y in left[::-1]]
    return left + neckline + right


def _neckline(person: Person, lay: Layout) -> list[tuple[float, float]]:
    """The garment's top edge from left to right across the neck."""
    w, base, b = lay.neck_w, lay.neck_y, lay.b
    style = person.clothing_style
    if style == "vneck":
        return curve(
            [
                (lay.cx - w * 1.2, base - 0.04 * b),
                (lay.cx - w * 0.3, base + 0.2 * b),
                (lay.cx, base + 0.42 * b),
            ],
            10,
        ) + curve(
            [
                (lay.cx, base + 0.42 * b),
                (lay.cx + w * 0.3, base + 0.2 * b),
                (lay.cx + w * 1.2, base - 0.04 * b),
            ],
            10,
        )
    if style == "turtleneck":
        return curve(
            [
                (lay.cx - w * 1.08, base - 0.34 * b),
                (lay.cx, base - 0.26 * b),
                (lay.cx + w * 1.08, base - 0.34 * b),
            ],
            16,
        )
    return curve(
        [
            (lay.cx - w * 1.25, base - 0.05 * b),
            (lay.cx, base + 0.16 * b),
            (lay.cx + w * 1.25, base - 0.05 * b),
        ],
        16,
    )


def _shade_cloth(person: Person, canvas: Canvas, mask: Mask, base: Colour, lay: Layout) -> None:
    """Soft light on fabric: lit from the upper left, darker low and at the sides, woven noise."""
    xs, ys = mask.grid()
    light = 0.55 + 0.35 * (
        1
        - linear(mask, (lay.cx - lay.shoulder_w, lay.neck_y), (lay.cx + lay.shoulder_w, lay.height))
    )
    light = light - 0.25 * smoothstep(0.6, 1.05, np.abs(xs - lay.cx) / lay.shoulder_w)
    weave = noise(stream(person.seed, "cloth"), *mask.values.shape, lay.a * 0.05, octaves=2)
    light = light * (0.95 + 0.1 * weave)
    dark, bright = scale(base, 0.45), base + (1 - base) * 0.22
    canvas.fill(
        mask,
        mix(mix(dark, base, smoothstep(0.2, 0.75, light)), bright, smoothstep(0.75, 1.1, light)),
    )


def paint_clothes(person: Person, canvas: Canvas, lay: Layout) -> None:
    """Garment over the shoulders with folds, a neckline per style and a collar where apt."""
    w, base, b = lay.neck_w, lay.neck_y, lay.b
    body = canvas.polygon(_body_outline(lay, _neckline(person, lay)), 0.8)
    _shade_cloth(person, canvas, body, person.clothing, lay)
    dark = scale(person.clothing, 0.4)
    for side in (-1, 1):
        fold = curve(
            [
                (lay.cx + side * lay.shoulder_w * 0.8, lay.height),
                (lay.cx + side * lay.shoulder_w * 0.78, base + 0.9 * b),
                (lay.cx + side * lay.shoulder_w * 0.7, base + 0.55 * b),
            ],
            16,
        )
        canvas.shade(canvas.line(fold, 0.08 * lay.a, 0.07 * lay.a).times(body), dark, 0.3)
        ridge = [(x - side * 0.07 * lay.a, y) for x, y in fold]
        canvas.shade(
            canvas.line(ridge, 0.05 * lay.a, 0.05 * lay.a).times(body),
            person.clothing,
            0.25,
            "screen",
        )
    style = person.clothing_style
    if style == "crew":
        band = canvas.line(_neckline(person, lay), 0.07 * lay.a, 0.6)
        canvas.shade(band.times(body), scale(person.clothing, 0.8), 0.6)
    elif style == "turtleneck":
        for k in range(1, 4):
            y = base - 0.34 * b + k * 0.08 * b
            fold = curve(
                [(lay.cx - w * 1.05, y), (lay.cx, y + 0.08 * b), (lay.cx + w * 1.05, y)], 12
            )
            canvas.shade(canvas.line(fold, 0.03 * lay.a, 0.025 * lay.a).times(body), dark, 0.3)
    elif style in ("collar", "jacket"):
        _paint_collar(person, canvas, lay, body)


def _paint_collar(person: Person, canvas: Canvas, lay: Layout, body: Mask) -> None:
    """Shirt collar points; for a jacket, a shirt front (and maybe a tie) framed by lapels."""
    w, base, b, u = lay.neck_w, lay.neck_y, lay.b, lay.a
    jacket = person.clothing_style == "jacket"
    shirt = person.shirt if jacket else person.clothing
    bottom = min(base + 1.0 * b, lay.height)
    if jacket:
        front = canvas.polygon(
            [
                (lay.cx - w * 1.2, base - 0.06 * b),
                (lay.cx + w * 1.2, base - 0.06 * b),
                (lay.cx, bottom),
            ],
            0.8,
        )
        _shade_cloth(person, canvas, front, shirt, lay)
    for side in (-1, 1):
        point = [
            (lay.cx + side * w * 1.12, base - 0.2 * b),
            (lay.cx + side * w * 0.05, base + 0.12 * b),
            (lay.cx + side * w * 0.75, base + 0.3 * b),
            (lay.cx + side * w * 1.4, base + 0.02 * b),
        ]
        flap = canvas.polygon(point, 0.8)
        canvas.shade(
            canvas.polygon([(x + side * 0.04 * u, y + 0.05 * b) for x, y in point], 0.05 * u).times(
                body
            ),
            scale(shirt, 0.35),
            0.45,
        )
        light = 0.75 + 0.3 * radial(flap, (lay.cx + side * w * 0.8, base), w)
        canvas.fill(flap, mix(scale(shirt, 0.7), shirt, light))
        canvas.shade(
            canvas.line(point + point[:1], 0.02 * u, 0.6).times(flap), scale(shirt, 0.6), 0.6
        )
    if jacket and person.tie is not None:
        _paint_tie(person, canvas, lay, bottom)
    if jacket:
        for side in (-1, 1):
            edge = [(lay.cx + side * w * 1.22, base - 0.12 * b), (lay.cx + side * w * 0.02, bottom)]
            lapel = canvas.polygon(
                edge
                + [
                    (lay.cx + side * w * 1.1, bottom),
                    (lay.cx + side * w * 1.75, base + 0.3 * b),
                    (lay.cx + side * w * 1.5, base + 0.18 * b),
                    (lay.cx + side * w * 1.75, base - 0.02 * b),
                ],
                0.8,
            )
            fold = canvas.line(
                [
                    edge[0],
                    (lay.cx + side * w * 1.75, base - 0.02 * b),
                    (lay.cx + side * w * 1.5, base + 0.18 * b),
                    (lay.cx + side * w * 1.75, base + 0.3 * b),
                    (lay.cx + side * w * 1.1, bottom),
                ],
                0.05 * u,
                0.04 * u,
            )
            canvas.shade(fold.minus(lapel), scale(person.clothing, 0.35), 0.7)
            _shade_cloth(person, canvas, lapel, np.clip(person.clothing * 1.12 + 0.02, 0, 1), lay)
            canvas.shade(
                canvas.line(edge, 0.025 * u, 0.6).times(lapel),
                np.clip(person.clothing * 1.6 + 0.08, 0, 1),
                0.6,
            )
    else:
        placket = canvas.line([(lay.cx, base + 0.12 * b), (lay.cx, lay.height)], 0.025 * u, 0.6)
        canvas.shade(placket.times(body), scale(shirt, 0.55), 0.5)


def _paint_tie(person: Person, canvas: Canvas, lay: Layout, bottom: float) -> None:
    """A knotted tie with faint diagonal stripes."""
    w, base, b, u, cx = lay.neck_w, lay.neck_y, lay.b, lay.a, lay.cx
    tie_colour = person.tie if person.tie is not None else person.clothing
    knot = canvas.polygon(
        [
            (cx - 0.2 * w, base + 0.0 * b),
            (cx + 0.2 * w, base + 0.0 * b),
            (cx + 0.13 * w, base + 0.13 * b),
            (cx - 0.13 * w, base + 0.13 * b),
        ],
        0.8,
    )
    blade = canvas.polygon(
        [
            (cx - 0.13 * w, base + 0.12 * b),
            (cx + 0.13 * w, base + 0.12 * b),
            (cx + 0.3 * w, bottom),
            (cx - 0.3 * w, bottom),
        ],
        0.8,
    )
    for part in (blade, knot):
        light = 0.7 + 0.4 * (1 - linear(part, (cx - 0.3 * w, base), (cx + 0.3 * w, base + 0.4 * b)))
        canvas.fill(part, mix(scale(tie_colour, 0.5), tie_colour, np.clip(light, 0, 1)))
    stripes = canvas.mask(
        lambda d: [
            d.line(
                [(cx - w + k * 0.18 * w, base), (cx + w + k * 0.18 * w, base + 2 * w)],
                fill=255,
                width=max(int(0.02 * u), 1),
            )
            for k in range(-12, 8)
        ],
        0.6,
    )
    canvas.shade(stripes.times(blade), np.clip(tie_colour * 1.6 + 0.1, 0, 1), 0.35)
    canvas.shade(
        canvas.line(
            [(cx - 0.13 * w, base + 0.14 * b), (cx + 0.13 * w, base + 0.14 * b)], 0.02 * u, 0.02 * u
        ).times(blade),
        scale(tie_colour, 0.3),
        0.6,
    )
