"""Nose, mouth, age marks and facial hair, painted as soft light and shadow on the skin."""

from __future__ import annotations

import math

from filmkit.generators.image.face import Person
from filmkit.generators.image.head import Layout, form_light, skin_ramp
from filmkit.generators.image.paint import (
    Canvas,
    Mask,
    curve,
    mix,
    noise,
    radial,
    scale,
    smoothstep,
    stream,
)
from filmkit.lazy import numpy as np

TEETH = np.array([0.9, 0.87, 0.8], np.float32)
INK_MOUTH = np.array([0.08, 0.02, 0.03], np.float32)


def _dark(person: Person, level: float = 0.05) -> np.ndarray:
    """Deep skin shadow colour."""
    return skin_ramp(person, np.float32(level))


def paint_nose(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """Bridge highlight, shadowed side away from the light, round tip, wings, nostrils."""
    u, b, cx, ny, nw = lay.a, lay.b, lay.cx, lay.nose_y, lay.nose_w
    lit, dark = skin_ramp(person, np.float32(1.0)), _dark(person)
    bridge = canvas.line(
        curve(
            [
                (cx - 0.02 * u, lay.eye_y - 0.05 * b),
                (cx - 0.05 * u, ny - 0.25 * b),
                (cx - 0.03 * u, ny - 0.1 * b),
            ],
            12,
        ),
        0.07 * u,
        0.05 * u,
    )
    canvas.shade(bridge, lit, 0.35)
    side = canvas.line(
        curve(
            [
                (cx + 0.1 * u, lay.eye_y - 0.02 * b),
                (cx + 0.15 * u, ny - 0.25 * b),
                (cx + 0.6 * nw, ny - 0.08 * b),
            ],
            14,
        ),
        0.1 * u,
        0.07 * u,
    )
    canvas.shade(side.times(head), dark, 0.3)
    under = canvas.ellipse(cx + 0.04 * u, ny + 0.05 * b, 1.2 * nw, 0.045 * b, 0.05 * u)
    canvas.shade(under.times(head), dark, 0.4)
    for s in (-1, 1):
        wing = canvas.ellipse(cx + s * 0.82 * nw, ny - 0.045 * b, 0.42 * nw, 0.055 * b, 0.02 * u)
        wing_light = form_light(wing, cx + s * 0.7 * nw, ny - 0.06 * b, 0.5 * nw, 0.08 * b)
        canvas.shade(wing, skin_ramp(person, 0.2 + 0.6 * wing_light), 0.7)
        crease = canvas.mask(
            lambda d, s=s: d.arc(
                (
                    cx + s * 0.82 * nw - 0.45 * nw,
                    ny - 0.11 * b,
                    cx + s * 0.82 * nw + 0.45 * nw,
                    ny + 0.02 * b,
                ),
                start=100 if s < 0 else -70,
                end=250 if s < 0 else 80,
                fill=255,
                width=max(int(0.02 * u), 1),
            ),
            0.012 * u,
        )
        canvas.shade(crease, dark, 0.45)
        nostril = canvas.ellipse(
            cx + s * 0.42 * nw, ny - 0.012 * b, 0.26 * nw, 0.022 * b, 0.012 * u
        )
        canvas.shade(nostril, scale(dark, 0.5), 0.8)
    tip = canvas.ellipse(cx - 0.005 * u, ny - 0.07 * b, 0.55 * nw, 0.075 * b, 0.02 * u)
    canvas.shade(
        tip,
        skin_ramp(person, 0.35 + 0.65 * form_light(tip, cx, ny - 0.06 * b, 0.6 * nw, 0.09 * b)),
        0.75,
    )
    glint = canvas.ellipse(cx - 0.2 * nw, ny - 0.1 * b, 0.16 * nw, 0.016 * b, 0.015 * u)
    canvas.shade(glint, np.ones(3, np.float32), 0.25, mode="screen")
    for s in (-1, 1):
        ridge = canvas.line(
            [(cx + s * 0.08 * u, ny + 0.03 * b), (cx + s * 0.1 * u, lay.mouth_y - lay.lip_h)],
            0.02 * u,
            0.02 * u,
        )
        canvas.shade(ridge, dark if s > 0 else lit, 0.18)


def _lip_paths(lay: Layout, drop: float) -> tuple[list, list, list, list]:
    """Upper lip, its lower edge, the lower lip's top edge and outline; ``drop`` opens it."""
    cx, my, w, h = lay.cx, lay.mouth_y, lay.mouth_w, lay.lip_h
    left, right = (cx - w, my + 0.05 * h), (cx + w, my + 0.05 * h)
    top = curve(
        [left, (cx - 0.45 * w, my - 0.6 * h), (cx - 0.22 * w, my - 1.25 * h), (cx, my - 0.8 * h)],
        16,
    )
    top += [(2 * cx - x, y) for x, y in top[::-1]][1:]
    lift = 0.25 * h if drop else 0.0
    seam = curve(
        [
            right,
            (cx + 0.4 * w, my - 0.05 * h - lift),
            (cx, my + 0.1 * h - lift),
            (cx - 0.4 * w, my - 0.05 * h - lift),
            left,
        ],
        24,
    )
    inner = (
        seam[::-1]
        if not drop
        else curve(
            [left, (cx - 0.5 * w, my + 0.9 * drop), (cx + 0.5 * w, my + 0.9 * drop), right], 24
        )
    )
    bottom = curve(
        [
            right,
            (cx + 0.55 * w, my + 0.2 * h + drop),
            (cx + 0.35 * w, my + 1.55 * h + drop),
            (cx - 0.35 * w, my + 1.55 * h + drop),
            (cx - 0.55 * w, my + 0.2 * h + drop),
            left,
        ],
        30,
    )
    return top, seam, inner, bottom


def paint_mouth(person: Person, canvas: Canvas, lay: Layout, head: Mask, mouth_open: bool) -> None:
    """Lips with form light; open, a dark mouth with upper teeth and a tongue."""
    u, cx, my, w, h = lay.a, lay.cx, lay.mouth_y, lay.mouth_w, lay.lip_h
    drop = 2.6 * h if mouth_open else 0.0
    top, seam, inner, bottom = _lip_paths(lay, drop)
    lips, dark = person.lips, _dark(person)
    chin_shadow = canvas.ellipse(cx + 0.02 * u, my + 1.95 * h + drop, 0.55 * w, 0.32 * h, 0.06 * u)
    canvas.shade(chin_shadow.times(head), dark, 0.35)
    if mouth_open:
        hole = canvas.polygon(seam + inner[1:-1], 0.5)
        depth = radial(hole, (cx, my + 0.5 * drop), 0.9 * w, drop)
        canvas.fill(hole, mix(np.array([0.36, 0.12, 0.12], np.float32), INK_MOUTH, depth))
        teeth = canvas.polygon(seam + [(x, y + 0.7 * h) for x, y in seam[::-1]], 0.012 * u).times(
            hole
        )
        xs, _ = teeth.grid()
        side = np.clip(np.abs(xs - cx) / w, 0, 1)
        canvas.fill(teeth, mix(TEETH, scale(TEETH, 0.55), np.clip(side * 1.6 - 0.7, 0, 1)))
        tongue = canvas.ellipse(cx, my + 0.98 * drop, 0.5 * w, 0.45 * drop, 0.03 * u).times(hole)
        canvas.fill(tongue, np.array([0.62, 0.27, 0.28], np.float32), 0.9)
        under_lip = canvas.line(seam, 0.04 * u, 0.03 * u).times(hole)
        canvas.shade(under_lip, INK_MOUTH, 0.3)
    upper = canvas.polygon(top + seam[1:-1], 0.012 * u)
    light = form_light(upper, cx - 0.2 * w, my + 0.5 * h, w, 2.2 * h)
    canvas.fill(upper, mix(scale(lips, 0.58), scale(lips, 0.92), light))
    lower = canvas.polygon(inner + bottom[1:-1], 0.012 * u)
    light = form_light(lower, cx - 0.25 * w, my - 0.5 * h + drop, 1.1 * w, 2.4 * h)
    canvas.fill(lower, mix(scale(lips, 0.7), np.clip(lips * 1.12 + 0.03, 0, 1), light))
    shine = canvas.ellipse(cx - 0.25 * w, my + 0.6 * h + drop, 0.22 * w, 0.15 * h, 0.02 * u)
    canvas.shade(shine, np.ones(3, np.float32), 0.22, mode="screen")
    if not mouth_open:
        canvas.shade(canvas.line(seam, 0.02 * u, 0.012 * u), scale(lips, 0.3), 0.8)
    for s in (-1, 1):
        corner = canvas.ellipse(cx + s * 1.02 * w, my + 0.05 * h, 0.05 * w, 0.18 * h, 0.02 * u)
        canvas.shade(corner, dark, 0.6)
    border = canvas.line(top, 0.02 * u, 0.015 * u)
    canvas.shade(border.minus(upper), skin_ramp(person, np.float32(1.0)), 0.3)


def _line(
    canvas: Canvas, person: Person, head: Mask, path: list, width: float, opacity: float
) -> None:
    """A soft crease: shadow on the path with a faint highlight just below it."""
    canvas.shade(canvas.line(path, width, width * 0.7).times(head), _dark(person, 0.08), opacity)
    below = [(x, y + width * 1.1) for x, y in path]
    canvas.shade(
        canvas.line(below, width, width).times(head),
        skin_ramp(person, np.float32(1.0)),
        opacity * 0.5,
    )


def paint_age(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """Laugh lines, forehead creases, crow's feet, bags and dark circles by age and mood."""
    u, b, cx = lay.a, lay.b, lay.cx
    depth = {"young": 0.0, "middle": 0.45, "old": 1.0}[person.age]
    for s in (-1, 1):
        fold = curve(
            [
                (cx + s * 1.15 * lay.nose_w, lay.nose_y - 0.05 * b),
                (cx + s * 1.45 * lay.mouth_w, lay.mouth_y - 0.12 * b),
                (cx + s * 1.2 * lay.mouth_w, lay.mouth_y + 0.1 * b),
            ],
            16,
        )
        _line(canvas, person, head, fold, 0.05 * u, 0.12 + 0.3 * depth)
        ex, ey = cx + s * lay.eye_dx, lay.eye_y
        bag = curve(
            [
                (ex - s * 0.8 * lay.eye_w, ey + 0.9 * lay.eye_h),
                (ex, ey + (1.5 + depth) * lay.eye_h),
                (ex + s * 0.9 * lay.eye_w, ey + 0.8 * lay.eye_h),
            ],
            16,
        )
        if person.tired or depth:
            _line(canvas, person, head, bag, 0.035 * u, 0.15 + 0.25 * depth)
        if person.tired:
            ring = canvas.ellipse(
                ex - s * 0.05 * lay.eye_w,
                ey + 1.2 * lay.eye_h,
                0.95 * lay.eye_w,
                0.7 * lay.eye_h,
                0.3 * lay.eye_w,
            )
            canvas.shade(
                ring.times(head), np.array([0.42, 0.3, 0.36], np.float32), 0.3, mode="multiply"
            )
        if depth > 0.5:
            for k in (-1, 0, 1):
                start = (ex + s * 1.15 * lay.eye_w, ey + k * 0.6 * lay.eye_h)
                end = (
                    start[0] + s * 0.45 * lay.eye_w,
                    start[1] + k * 0.5 * lay.eye_h - 0.1 * lay.eye_h,
                )
                _line(canvas, person, head, [start, end], 0.025 * u, 0.3)
            marionette = [
                (cx + s * 1.05 * lay.mouth_w, lay.mouth_y + 0.08 * b),
                (cx + s * 1.1 * lay.mouth_w, lay.mouth_y + 0.28 * b),
            ]
            _line(canvas, person, head, marionette, 0.04 * u, 0.3)
    worry = 0.2 if person.brows == "worried" else 0.0
    for k in range(3 if depth > 0.5 else (2 if worry else 0)):
        y = lay.brow_y - (0.14 + 0.09 * k) * b
        reach = (0.5 - 0.08 * k) * u if depth > 0.5 else 0.22 * u
        crease = curve(
            [
                (cx - reach, y + 0.02 * b),
                (cx - reach / 3, y - 0.015 * b),
                (cx + reach / 3, y + 0.01 * b),
                (cx + reach, y - 0.01 * b),
            ],
            20,
        )
        _line(canvas, person, head, crease, 0.03 * u, 0.18 * depth + worry)
    if depth > 0.5:
        rng = stream(person.seed, "spots")
        for _ in range(7):
            x = cx + rng.uniform(-0.7, 0.7) * u
            y = lay.brow_y - rng.uniform(0.05, 0.5) * b
            r = rng.uniform(0.012, 0.03) * u
            spot = canvas.ellipse(x, y, r, r * 0.8, r * 0.6).times(head)
            canvas.shade(spot, np.array([0.72, 0.55, 0.45], np.float32), 0.3, mode="multiply")


def paint_facial_hair(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """Stubble as fine dark speckle; moustache and beard as stroked hair masses."""
    if person.facial_hair == "none":
        return
    u, b, cx = lay.a, lay.b, lay.cx
    tone = scale(person.hair, 0.8)
    below = lay.nose_y + 0.03 * b
    jaw = canvas.polygon(
        [(x, y) for x, y in lay.outline(0.01 * u) if y > lay.nose_y - 0.1 * b], 0.1 * u
    )
    zone = jaw.weighted(smoothstep(below - 0.05 * b, below + 0.15 * b, jaw.grid()[1]))
    speckle = noise(stream(person.seed, "stubble"), *zone.values.shape, 0.006 * u)
    stubble = zone.weighted(smoothstep(0.45, 0.75, speckle)).times(head)
    canvas.shade(stubble, tone, 0.25 if person.facial_hair == "stubble" else 0.4)
    canvas.shade(zone.times(head), tone, 0.07)
    rng = stream(person.seed, "beard")
    if person.facial_hair == "beard":
        beard = canvas.polygon(
            [
                (x, y + 0.05 * b * max(0.0, (y - lay.mouth_y) / b) * 4)
                for x, y in lay.outline(0.02 * u)
                if y > lay.nose_y
            ],
            0.04 * u,
        )
        beard = beard.weighted(smoothstep(lay.nose_y, lay.nose_y + 0.22 * b, beard.grid()[1]))
        light = form_light(beard, cx - 0.1 * u, lay.mouth_y, 1.1 * u, 0.7 * b)
        canvas.fill(beard, mix(scale(tone, 0.5), np.clip(tone * 1.4, 0, 1), light), 0.92)
        _strands(canvas, rng, beard, tone, 0.08 * u, 500, (0.0, 1.0))
    if person.facial_hair in ("moustache", "beard"):
        w, y = lay.mouth_w, lay.mouth_y - lay.lip_h
        stache = canvas.polygon(
            curve(
                [
                    (cx - 1.1 * w, y + 0.9 * lay.lip_h),
                    (cx - 0.6 * w, y - 1.6 * lay.lip_h),
                    (cx, y - 1.6 * lay.lip_h),
                    (cx + 0.6 * w, y - 1.6 * lay.lip_h),
                    (cx + 1.1 * w, y + 0.9 * lay.lip_h),
                ],
                30,
            )
            + curve(
                [
                    (cx + 1.1 * w, y + 0.9 * lay.lip_h),
                    (cx, y + 0.2 * lay.lip_h),
                    (cx - 1.1 * w, y + 0.9 * lay.lip_h),
                ],
                16,
            ),
            0.015 * u,
        )
        light = form_light(stache, cx - 0.1 * u, y + lay.lip_h, w, 0.12 * b)
        canvas.fill(stache, mix(scale(tone, 0.5), np.clip(tone * 1.3, 0, 1), light), 0.95)
        _strands(canvas, rng, stache, tone, 0.06 * u, 160, (0.0, 1.0))


def _strands(
    canvas: Canvas,
    rng: np.random.Generator,
    area: Mask,
    tone: np.ndarray,
    length: float,
    count: int,
    direction: tuple[float, float],
) -> None:
    """Short hair strokes scattered over ``area``, lighter and darker than ``tone``."""
    x0, y0, x1, y1 = area.box
    ys, xs = np.nonzero(area.values > 0.5)
    if len(xs) == 0:
        return
    picks = rng.integers(0, len(xs), count)
    px, py = xs[picks] + x0, ys[picks] + y0
    angle = (
        math.atan2(direction[1], direction[0])
        + rng.normal(0, 0.35, count)
        + (px - (x0 + x1) / 2) / (x1 - x0)
    )
    reach = length * rng.uniform(0.5, 1, count)
    lines = np.stack([px, py, px + np.cos(angle) * reach, py + np.sin(angle) * reach], axis=1)
    buckets = rng.integers(0, 3, count)
    width = max(int(round(length * 0.06)), 1)
    for bucket, factor in enumerate((0.5, 1.0, 1.5)):
        chosen = lines[buckets == bucket].tolist()

        def draw(d, chosen=chosen):
            for xa, ya, xb, yb in chosen:
                d.line([(xa, ya), (xb, yb)], fill=255, width=width)

        canvas.shade(canvas.mask(draw, 0.4).times(area), np.clip(tone * factor, 0, 1), 0.5)
