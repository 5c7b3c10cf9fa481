"""Hair: a shaded mass per style, its shadow on the skin, and strands along the flow.

Each style is a silhouette (polygons on the canvas) plus a list of strand
paths. Strands run from the parting to the ends through waypoints on a shell
just outside the skull (crown, temple, beside the jaw), so they wrap over the
head's volume instead of cutting across the face.
"""

from __future__ import annotations

import math

from filmkit.generators.image.face import Person
from filmkit.generators.image.head import Layout, form_light
from filmkit.generators.image.paint import (
    Canvas,
    Mask,
    mix,
    radial,
    scale,
    smoothstep,
    spline,
    stream,
    tapered,
)
from filmkit.lazy import numpy as np

Points = list[tuple[float, float]]


def _arc(
    lay: Layout, start: float, end: float, rx: float, ry: float, dy: float = 0.0, n: int = 40
) -> Points:
    """Points on an ellipse about the skull; angles in degrees, 0 = straight up, clockwise."""
    t = np.radians(np.linspace(start, end, n))
    return list(
        zip(
            (lay.cx + rx * np.sin(t)).tolist(), (lay.cy + dy - ry * np.cos(t)).tolist(), strict=True
        )
    )


def _cap(person: Person, lay: Layout, down: float) -> Points:
    """Hair over the skull: from one side at ``down``, over the top, back along the hairline."""
    a, b, cx, cy, v = lay.a, lay.b, lay.cx, lay.cy, person.volume
    rx, ry = a * (1.04 + 0.06 * v), b * (1.03 + 0.07 * v)
    angle = math.degrees(math.acos(max(min((down - cy) / -ry, 1), -1)))
    # Towards the ears the hair thins out and hugs the skull instead of standing off it.
    outer = [
        (cx + (x - cx) * (1 - t) + math.copysign(lay.half_width(y) + 0.05 * a, x - cx) * t, y)
        for x, y in _arc(lay, -angle, angle, rx, ry)
        for t in [float(smoothstep(cy - 0.5 * b, down + 0.05 * b, np.float32(y)))]
    ]
    # Hair combed away from the parting hangs lower over the forehead on the far side;
    # with age the temples recede into an M.
    swoop = [0.12 * b * max(0.0, -person.part * side) for side in (1, -1)]
    recede = {"young": 0.0, "middle": 0.06, "old": 0.14}[person.age] * b
    hairline = spline(
        [
            (cx + 0.97 * a, down),
            (cx + 0.88 * a, cy - 0.32 * b - recede),
            (cx + 0.66 * a, cy - 0.52 * b + swoop[0] - 1.6 * recede),
            (cx + 0.36 * a, cy - 0.58 * b + swoop[0] - 0.4 * recede),
            (cx, cy - 0.62 * b + sum(swoop) / 3),
            (cx - 0.36 * a, cy - 0.58 * b + swoop[1] - 0.4 * recede),
            (cx - 0.66 * a, cy - 0.52 * b + swoop[1] - 1.6 * recede),
            (cx - 0.88 * a, cy - 0.32 * b - recede),
            (cx - 0.97 * a, down),
        ],
        6,
    )
    return outer + hairline


def _curtain(lay: Layout, side: int, end: float, flare: float, rng: np.random.Generator) -> Points:
    """A fall of hair beside the face from the temple to a ragged end at ``end``."""
    a, b, cx = lay.a, lay.b, lay.cx
    face_end = min(end - 0.05 * b, lay.mouth_y)
    inner = [
        (cx + side * lay.half_width(y) * 0.93, y)
        for y in np.linspace(lay.cy - 0.35 * b, face_end, 8)
    ]
    if end > lay.mouth_y + 0.3 * b:
        inner += spline(
            [
                inner[-1],
                (cx + side * (lay.neck_w + 0.12 * a), lay.neck_y - 0.2 * b),
                (cx + side * (lay.neck_w + (0.3 + flare) * a), end),
            ],
            6,
        )[1:]
    out_x = cx + side * (1.2 + 2 * flare) * a
    tips = np.linspace(0, 1, 9)[1:-1]
    ragged = [
        (inner[-1][0] + (out_x - inner[-1][0]) * t, end + rng.uniform(-0.025, 0.025) * b)
        for t in tips
    ]
    outer = spline(
        [
            (out_x, end - 0.03 * b),
            (cx + side * (1.25 + flare) * a, (end + lay.cy) / 2 + 0.1 * b),
            (cx + side * 1.17 * a, lay.cy + 0.1 * b),
            (cx + side * 1.1 * a, lay.cy - 0.4 * b),
            (cx + side * 0.6 * a, lay.cy - 0.95 * b),
        ],
        6,
    )
    return inner + spline(ragged, 3) + outer


def _silhouette(
    person: Person, lay: Layout
) -> tuple[list[Points], list[tuple[float, float, float]]]:
    """Front hair polygons and round parts (cx, cy, r) for the person's style."""
    a, b, style = lay.a, lay.b, person.hair_style
    rng = stream(person.seed, "silhouette")
    if style == "long":
        end = lay.neck_y + 0.6 * b
        cap = _cap(person, lay, lay.cy - 0.1 * b)
        return [cap, _curtain(lay, -1, end, 0.15, rng), _curtain(lay, 1, end, 0.15, rng)], []
    if style == "bob":
        end = lay.mouth_y + 0.15 * b
        fringe = spline(
            [
                (lay.cx + 0.98 * a, lay.cy - 0.25 * b),
                (lay.cx + 0.6 * a, lay.brow_y - 0.12 * b),
                (lay.cx, lay.brow_y - 0.1 * b),
                (lay.cx - 0.6 * a, lay.brow_y - 0.12 * b),
                (lay.cx - 0.98 * a, lay.cy - 0.25 * b),
            ],
            8,
        )
        top = _arc(lay, -90, 90, a * 1.14, b * 1.1, n=40)
        return [top + fringe, _curtain(lay, -1, end, 0.0, rng), _curtain(lay, 1, end, 0.0, rng)], []
    if style == "bun":
        lean = 0.1 * a * person.part
        return [_cap(person, lay, lay.brow_y)], [(lay.cx + lean, lay.cy - 1.12 * b, 0.36 * a)]
    if style == "curly":
        rng = stream(person.seed, "curls")
        blobs = [
            (x, y, 0.2 * a * rng.uniform(0.8, 1.2))
            for x, y in _arc(lay, -115, 115, a * 1.12, b * 1.1, dy=0.05 * b, n=26)
        ]
        return [_cap(person, lay, lay.eye_y)], blobs
    if style == "short":
        down = lay.brow_y + 0.06 * b
        burns = [
            [
                (lay.cx + side * x * a, y)
                for x, y in (
                    (0.9, down - 0.1 * b),
                    (1.01, down - 0.1 * b),
                    (1.0, lay.eye_y),
                    (0.95, lay.eye_y),
                )
            ]
            for side in (-1, 1)
        ]
        return [_cap(person, lay, down), *burns], []
    return [], []


def paint_back(person: Person, canvas: Canvas, lay: Layout) -> None:
    """Hair behind the head and neck, in shadow."""
    a, b, cx, style = lay.a, lay.b, lay.cx, person.hair_style
    if style in ("long", "bob", "curly"):
        bottom = {
            "long": lay.neck_y + 0.5 * b,
            "bob": lay.mouth_y + 0.1 * b,
            "curly": lay.cy + 0.45 * b,
        }[style]
        width = {"long": 1.28, "bob": 1.1, "curly": 1.32}[style] * a
        mid = (lay.cy + bottom) / 2
        shape = _arc(lay, -90, 90, width, b * 1.12, n=30) + spline(
            [
                (cx + width, lay.cy),
                (cx + width * 1.02, mid),
                (cx + width * 0.9, bottom),
                (cx - width * 0.9, bottom),
                (cx - width * 1.02, mid),
                (cx - width, lay.cy),
            ],
            6,
        )
        if style == "curly":
            shape = _arc(lay, -180, 180, width, b * 1.05, dy=-0.15 * b, n=60)
        mass = canvas.polygon(shape, 0.01 * a)
        canvas.fill(
            mass,
            mix(
                scale(person.hair, 0.3), scale(person.hair, 0.6), radial(mass, (cx, lay.cy), 2 * a)
            ),
        )


def paint_front(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """Hair on and around the head: cast shadow, shaded mass, strands and sheen."""
    a, b = lay.a, lay.b
    polygons, blobs = _silhouette(person, lay)
    if person.hair_style == "bald":
        _paint_bald(person, canvas, lay, head)
        return

    def draw(d):
        for poly in polygons:
            d.polygon(poly, fill=255)
        for x, y, r in blobs:
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)

    hair = canvas.mask(draw, 0.006 * a)
    if person.hair_style in ("short", "bun"):
        # Close-cropped or pulled-back sides let the scalp show through.
        xs, ys = hair.grid()
        side = smoothstep(0.6 * a, 0.95 * a, np.abs(xs - lay.cx)) * smoothstep(
            lay.cy - 0.55 * b, lay.brow_y, ys
        )
        hair = hair.weighted(1 - 0.45 * side)
    drop = canvas.mask(
        lambda d: [
            d.polygon([(x + 0.03 * a, y + 0.06 * b) for x, y in p], fill=255) for p in polygons
        ],
        0.05 * a,
    )
    canvas.shade(drop.times(head).minus(hair), scale(person.skin, 0.45), 0.45)
    light = form_light(hair, lay.cx - 0.05 * a, lay.cy - 0.1 * b, 1.25 * a, 1.3 * b, flat=0.75)
    dark, base = scale(person.hair, 0.35), person.hair
    bright = person.hair + (1 - person.hair) * 0.4
    canvas.fill(
        hair,
        mix(mix(dark, base, np.clip(light * 1.6, 0, 1)), bright, np.clip(light * 1.6 - 1, 0, 1)),
    )
    # A band of sheen across the crown, broken up by the strands painted over it.
    band = radial(hair, (lay.cx - 0.2 * a, lay.cy - 0.8 * b), 0.85 * a, 0.2 * b)
    canvas.shade(hair.weighted(band), np.clip(person.hair * 0.6 + 0.3, 0, 1), 0.35, mode="screen")
    _paint_strands(person, canvas, lay, hair, polygons, blobs)


def _flow(person: Person, lay: Layout, rng: np.random.Generator, count: int) -> list[Points]:
    """Strand paths for the style, as splines through waypoints that hug the skull."""
    a, b, cx, cy, style = lay.a, lay.b, lay.cx, lay.cy, person.hair_style
    part_x = cx + 0.35 * a * person.part
    out = []
    for _ in range(count):
        side = -1 if rng.random() < 0.5 else 1
        t, depth, reach = rng.random(), rng.uniform(0.8, 1.0), rng.uniform(0.0, 1.0)
        start = (part_x + rng.normal(0, 0.04) * a, cy - b * (0.6 + 0.55 * t))
        # Over the crown: a point on the hair's shell, further round for strands from the back.
        crown = math.radians(side * (30 + 35 * t))
        over = (cx + 1.08 * a * depth * math.sin(crown), cy - 1.1 * b * depth * math.cos(crown))
        temple = (cx + side * a * (1.0 + 0.12 * reach), cy - 0.25 * b)
        if style == "long":
            points = [
                start,
                over,
                temple,
                (cx + side * a * (1.05 + 0.25 * reach), lay.mouth_y),
                (
                    cx + side * a * (0.95 + 0.5 * reach),
                    lay.neck_y + 0.5 * b * rng.uniform(0.7, 1.0),
                ),
            ]
        elif style == "bob":
            start = (cx + rng.normal(0, 0.08) * a, cy - 1.12 * b)
            spread = rng.uniform(-1, 1)
            if rng.random() < 0.45:
                # A fringe falls from the crown straight over the forehead.
                x = cx + spread * 0.95 * a
                points = [start, ((start[0] + x) / 2, cy - 0.75 * b), (x, lay.brow_y - 0.09 * b)]
            else:
                end = (cx + side * a * (0.88 + 0.32 * reach), lay.mouth_y + 0.12 * b)
                points = [start, over, temple, end]
        elif style == "bun":
            start = (cx + side * a * rng.uniform(0.05, 0.95), cy - b * (0.5 + 0.3 * rng.random()))
            points = [
                start,
                (start[0] * 0.6 + cx * 0.4, cy - b * (0.95 + 0.1 * depth)),
                (cx + 0.1 * a * person.part, cy - 1.08 * b),
            ]
        else:
            # Combed sideways from the parting: front strands to the temples, back ones higher.
            angle = math.radians(side * (45 + 55 * (1 - t)))
            end = (cx + 1.08 * a * math.sin(angle), cy - 1.08 * b * math.cos(angle))
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            lift = 0.2 * a * depth / (math.hypot(mx - cx, my - cy) or 1.0)
            points = [start, (mx + (mx - cx) * lift, my + (my - cy) * lift), end]
        out.append(spline(points, 6))
    return out


def _paint_strands(
    person: Person,
    canvas: Canvas,
    lay: Layout,
    hair: Mask,
    polygons: list[Points],
    blobs: list[tuple[float, float, float]],
) -> None:
    """Dark and light strands clipped to the hair, curls for curly hair, a sheen on the crown."""
    a, b = lay.a, lay.b
    rng = stream(person.seed, "strands")
    curly = person.hair_style == "curly"
    strands = [] if curly else _flow(person, lay, rng, 700)
    rng_c = stream(person.seed, "curl-strokes")
    if curly:
        x0, y0, x1, y1 = hair.box
        for _ in range(900):
            x, y, r = rng_c.uniform(x0, x1), rng_c.uniform(y0, y1), a * rng_c.uniform(0.03, 0.08)
            start = rng_c.uniform(0, 360)
            strands.append(_ring(x, y, r, start, start + rng_c.uniform(150, 280)))
    for x, y, r in blobs if person.hair_style == "bun" else []:
        for _ in range(24):
            start, rr = rng_c.uniform(0, 360), r * rng_c.uniform(0.3, 0.95)
            strands.append(_ring(x, y, rr, start, start + rng_c.uniform(120, 260)))
    groups = rng.integers(0, 3, len(strands))
    width = max(int(0.012 * a), 1)
    for group, factor, opacity in ((0, 0.35, 0.55), (1, 0.75, 0.4), (2, 1.9, 0.4)):
        chosen = [s for s, g in zip(strands, groups, strict=True) if g == group]

        def draw(d, chosen=chosen):
            for s in chosen:
                d.line(s, fill=255, width=width, joint="curve")

        lines = canvas.mask(draw, 0.5).times(hair)
        if group == 2:
            sheen = radial(lines, (lay.cx - 0.25 * a, lay.cy - 0.85 * b), 0.9 * a, 0.35 * b)
            lines = lines.weighted(0.25 + 0.75 * sheen)
        canvas.shade(
            lines, np.clip(person.hair * factor + (0.05 if group == 2 else 0), 0, 1), opacity
        )
    edge = hair.minus(hair.soft(0.03 * a).times(1.0)).times(1.0)
    canvas.shade(edge, scale(person.hair, 0.5), 0.3)


def _ring(x: float, y: float, r: float, start: float, end: float) -> Points:
    """An arc of a circle, angles in degrees."""
    t = np.radians(np.linspace(start, end, 10))
    return list(zip((x + r * np.cos(t)).tolist(), (y + r * np.sin(t)).tolist(), strict=True))


def _paint_bald(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """A shine on the scalp; for older people a fringe of hair around the back and sides."""
    a, b = lay.a, lay.b
    shine = canvas.ellipse(lay.cx - 0.3 * a, lay.cy - 0.8 * b, 0.3 * a, 0.12 * b, 0.12 * a)
    canvas.shade(shine.times(head), np.ones(3, np.float32), 0.18, mode="screen")
    if person.age == "young":
        fuzz = canvas.polygon(_cap(person, lay, lay.cy - 0.2 * b), 0.05 * a).times(head)
        canvas.shade(fuzz, person.hair, 0.18)
        return
    rng = stream(person.seed, "fringe")
    for side in (-1, 1):
        # A horseshoe of hair round the back shows as a band over each ear, thinning upwards.
        path = _arc(lay, side * 120, side * 52, 1.0 * a, 1.0 * b, n=24)
        widths = [
            0.16 * a * (1 - k / 23) ** 0.7 * min(1.0, (k + 2) / 6) + 0.005 * a for k in range(24)
        ]
        band = canvas.polygon(tapered(path, widths), 0.012 * a)
        light = form_light(band, lay.cx, lay.cy - 0.2 * b, 1.2 * a, 1.2 * b)
        canvas.fill(
            band, mix(scale(person.hair, 0.5), np.clip(person.hair * 1.2, 0, 1), light), 0.97
        )
        ticks = []
        for (x, y), w in zip(path[:-3], widths, strict=False):
            for _ in range(5):
                px, py = x + rng.normal(0, 0.3) * w, y + rng.normal(0, 0.03) * b
                ticks.append([(px, py), (px - side * 0.015 * a, py + rng.uniform(0.05, 0.1) * b)])
        canvas.shade(
            canvas.mask(
                lambda d, t=ticks: [d.line(k, fill=255, width=max(int(0.01 * a), 1)) for k in t],
                0.5,
            ).times(band),
            np.clip(person.hair * 1.5, 0, 1),
            0.5,
        )
