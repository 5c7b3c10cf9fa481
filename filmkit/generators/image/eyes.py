"""Eyes, eyebrows and glasses: the parts a viewer reads a face by first."""

from __future__ import annotations

import math

from filmkit.generators.image.face import Person
from filmkit.generators.image.head import Layout, form_light, skin_ramp
from filmkit.generators.image.paint import (
    Canvas,
    Mask,
    curve,
    linear,
    mix,
    radial,
    scale,
    stream,
    tapered,
)
from filmkit.lazy import numpy as np

WHITE = np.array([0.88, 0.85, 0.82], np.float32)
INK = np.array([0.07, 0.05, 0.05], np.float32)


def _lids(
    lay: Layout, side: int, tired: bool
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Upper and lower lid curves of one eye, each from inner to outer corner."""
    ex, ey, ew, eh = lay.cx + side * lay.eye_dx, lay.eye_y, lay.eye_w, lay.eye_h
    inner, outer = (ex - side * ew, ey + 0.06 * eh), (ex + side * ew, ey - 0.1 * eh)
    lift = 1.0 if tired else 1.3
    upper = curve(
        [
            inner,
            (ex - side * 0.45 * ew, ey - lift * eh),
            (ex + side * 0.55 * ew, ey - lift * eh * 0.95),
            outer,
        ],
        30,
    )
    lower = curve(
        [
            inner,
            (ex - side * 0.45 * ew, ey + 0.78 * eh),
            (ex + side * 0.45 * ew, ey + 0.72 * eh),
            outer,
        ],
        30,
    )
    return upper, lower


def paint_eyes(person: Person, canvas: Canvas, lay: Layout, head: Mask, eyes_open: bool) -> None:
    """Sockets, lids and, when open, whites, irises and catch-lights."""
    u = lay.a
    for side in (-1, 1):
        ex, ey, ew, eh = lay.cx + side * lay.eye_dx, lay.eye_y, lay.eye_w, lay.eye_h
        upper, lower = _lids(lay, side, person.tired)
        socket = canvas.ellipse(
            ex - side * 0.15 * ew, ey - 0.6 * eh, 1.45 * ew, 1.5 * eh, 0.45 * ew
        )
        canvas.shade(socket.times(head), skin_ramp(person, np.float32(0.2)), 0.28)
        crease_y = 1.0 if person.tired else 1.9
        crease = curve(
            [
                (ex - side * 0.95 * ew, ey - 0.5 * eh),
                (ex - side * 0.2 * ew, ey - crease_y * eh),
                (ex + side * 0.6 * ew, ey - crease_y * 0.95 * eh),
                (ex + side * 1.15 * ew, ey - 0.2 * eh),
            ],
            24,
        )
        canvas.shade(
            canvas.line(crease, 0.022 * u, 0.018 * u), skin_ramp(person, np.float32(0.05)), 0.45
        )
        if eyes_open:
            _open_eye(person, canvas, lay, side, upper, lower)
        else:
            _closed_eye(person, canvas, lay, side, upper, lower)


def _open_eye(
    person: Person, canvas: Canvas, lay: Layout, side: int, upper: list, lower: list
) -> None:
    """Whites, iris with fibres and a limbal ring, pupil, lid shadow, lashes and catch-lights."""
    u, ex, ey, ew, eh = lay.a, lay.cx + side * lay.eye_dx, lay.eye_y, lay.eye_w, lay.eye_h
    eye = canvas.polygon(upper + lower[::-1], 0.6)
    whites = mix(
        mix(scale(person.skin, 0.7), WHITE, 0.8), WHITE, radial(eye, (ex, ey), 1.2 * ew, 1.3 * eh)
    )
    canvas.fill(eye, whites)
    ix, iy, ir = ex + person.gaze[0] * ew, ey + person.gaze[1] * eh, 0.45 * ew
    iris = canvas.ellipse(ix, iy, ir, ir, 0.5).times(eye)
    rim = radial(iris, (ix, iy), ir)
    canvas.fill(iris, mix(scale(person.eye, 0.45), np.clip(person.eye * 1.35, 0, 1), rim**0.7))
    rng = stream(person.seed, "iris", side)
    angles = np.linspace(0, 2 * math.pi, 60, endpoint=False) + rng.uniform(0, 0.1, 60)
    reach = ir * rng.uniform(0.75, 0.97, 60)
    tones = rng.integers(0, 2, 60)
    for tone, factor in ((0, 0.55), (1, 1.6)):
        chosen = [(a, r) for a, r, t in zip(angles, reach, tones, strict=True) if t == tone]

        def fibres(d, chosen=chosen):
            for angle, r in chosen:
                d.line(
                    [
                        (ix + 0.42 * ir * math.cos(angle), iy + 0.42 * ir * math.sin(angle)),
                        (ix + r * math.cos(angle), iy + r * math.sin(angle)),
                    ],
                    fill=255,
                    width=max(int(0.01 * u), 1),
                )

        canvas.shade(canvas.mask(fibres, 0.5).times(iris), np.clip(person.eye * factor, 0, 1), 0.3)
    ring = canvas.mask(
        lambda d: d.ellipse(
            (ix - ir, iy - ir, ix + ir, iy + ir), outline=255, width=max(int(0.022 * u), 1)
        ),
        0.012 * u,
    ).times(eye)
    canvas.shade(ring, scale(person.eye, 0.25), 0.8)
    canvas.fill(canvas.ellipse(ix, iy, 0.4 * ir, 0.4 * ir, 0.8).times(eye), INK)
    # The upper lid and lashes shade the top of the eyeball.
    top = eye.weighted(1 - linear(eye, (ex, ey - eh), (ex, ey + 0.15 * eh)))
    canvas.shade(top, scale(person.skin, 0.3), 0.55)
    lash_w = [0.012 * u + (0.014 + 0.02 * person.lashes) * u * (k / 29) ** 1.3 for k in range(30)]
    canvas.fill(
        canvas.polygon(tapered(upper, lash_w), 0.6), scale(person.hair, 0.35) * 0.5 + INK * 0.5
    )
    for k in range(round(4 * person.lashes)):
        x, y = upper[-1 - 3 * k]
        flick = curve(
            [
                (x, y),
                (x + side * 0.12 * ew, y - 0.3 * eh),
                (x + side * (0.3 - 0.04 * k) * ew, y - 0.45 * eh),
            ],
            8,
        )
        canvas.fill(canvas.line(flick, 0.012 * u, 0.4), INK, 0.7)
    canvas.shade(canvas.line(lower, 0.012 * u, 0.012 * u), skin_ramp(person, np.float32(0.1)), 0.45)
    glint = canvas.ellipse(ix - 0.35 * ir, iy - 0.38 * ir, 0.15 * ir, 0.13 * ir, 0.6).times(eye)
    canvas.fill(glint, np.ones(3, np.float32), 0.95)
    canvas.fill(
        canvas.ellipse(ix + 0.3 * ir, iy + 0.3 * ir, 0.06 * ir, 0.06 * ir, 0.5).times(eye),
        np.ones(3, np.float32),
        0.55,
    )


def _closed_eye(
    person: Person, canvas: Canvas, lay: Layout, side: int, upper: list, lower: list
) -> None:
    """A lowered lid: rounded skin over the eyeball and a downward lash line."""
    u, ex, ey, ew, eh = lay.a, lay.cx + side * lay.eye_dx, lay.eye_y, lay.eye_w, lay.eye_h
    lid = canvas.polygon(upper + lower[::-1], 0.025 * u)
    light = form_light(lid, ex + 0.3 * ew, ey + 0.3 * eh, 1.3 * ew, 1.6 * eh)
    canvas.shade(lid, skin_ramp(person, 0.15 + 0.45 * light), 1.0)
    inner, outer = upper[0], upper[-1]
    seam = curve(
        [
            inner,
            (ex - side * 0.45 * ew, ey + 0.55 * eh),
            (ex + side * 0.45 * ew, ey + 0.5 * eh),
            outer,
        ],
        30,
    )
    widths = [
        0.01 * u + 0.02 * u * math.sin(math.pi * k / 29) + 0.012 * u * k / 29 for k in range(30)
    ]
    canvas.fill(
        canvas.polygon(tapered(seam, widths), 0.6), scale(person.hair, 0.3) * 0.4 + INK * 0.6
    )
    for k in range(6, 30, 4):
        x, y = seam[k]
        lash = [(x, y), (x + side * 0.08 * ew * k / 29, y + 0.35 * eh)]
        canvas.fill(canvas.line(lash, 0.01 * u, 0.4), INK, 0.55)


def paint_brows(person: Person, canvas: Canvas, lay: Layout) -> None:
    """Tapered brows built from short hair strokes, shaped by the expression."""
    u = lay.a
    inner_up = {"neutral": 0.0, "worried": 0.08, "raised": 0.05, "stern": -0.05}[person.brows]
    whole_up = {"neutral": 0.0, "worried": 0.01, "raised": 0.05, "stern": -0.01}[person.brows]
    arch = {"neutral": 0.05, "worried": 0.02, "raised": 0.08, "stern": 0.03}[person.brows]
    tone = (
        scale(person.hair, 0.75)
        if person.age != "old"
        else mix(person.hair, scale(person.hair, 0.5), 0.4)
    )
    for side in (-1, 1):
        ex, by, ew, b = lay.cx + side * lay.eye_dx, lay.brow_y - whole_up * lay.b, lay.eye_w, lay.b
        path = curve(
            [
                (ex - side * 1.05 * ew, by + (0.03 - inner_up) * b),
                (ex - side * 0.1 * ew, by - (arch + 0.02 - inner_up * 0.3) * b),
                (ex + side * 0.7 * ew, by - arch * b),
                (ex + side * 1.35 * ew, by + 0.05 * b),
            ],
            30,
        )
        widths = [0.085 * u * person.brow_weight * (1 - 0.7 * k / 29) for k in range(30)]
        shape = tapered(path, widths)
        canvas.fill(canvas.polygon(shape, 0.02 * u), tone, 0.65)
        rng = stream(person.seed, "brow", side)
        pts = np.asarray(path)
        k = rng.integers(0, 28, 110)
        across = rng.uniform(-0.45, 0.45, 110) * np.asarray(widths)[k]
        step = pts[k + 1] - pts[k]
        step /= np.linalg.norm(step, axis=1, keepdims=True)
        roots = pts[k] + np.stack([-step[:, 1], step[:, 0]], axis=1) * across[:, None]
        # Hairs at the inner end grow upwards, the rest lie along the brow.
        grow = step - np.stack([np.zeros(110), 1.2 * (1 - k / 28) + 0.25], axis=1)
        grow *= (0.07 * u * rng.uniform(0.6, 1.1, 110) / np.linalg.norm(grow, axis=1))[:, None]
        tips = roots + grow
        shade = rng.integers(0, 2, 110)
        area = canvas.polygon(shape, 0.01 * u)
        for group, factor in ((0, 0.6), (1, 1.3)):
            chosen = [
                (tuple(r), tuple(t))
                for r, t, g in zip(roots, tips, shade, strict=True)
                if g == group
            ]

            def hairs(d, chosen=chosen):
                for root, tip in chosen:
                    d.line([root, tip], fill=255, width=max(int(0.011 * u), 1))

            canvas.fill(canvas.mask(hairs, 0.3).times(area), scale(tone, factor), 0.55)


def paint_glasses(person: Person, canvas: Canvas, lay: Layout, head: Mask) -> None:
    """Frames with a cast shadow, faint lens tint and a diagonal reflection."""
    u, ew, ey = lay.a, lay.eye_w, lay.eye_y + 0.05 * lay.eye_h
    rx, ry = 1.5 * ew, (1.45 if person.round_glasses else 1.05) * ew
    frames = []
    for side in (-1, 1):
        ex = lay.cx + side * lay.eye_dx
        box = (ex - rx, ey - ry, ex + rx, ey + ry * 0.95)
        radius = ry if person.round_glasses else 0.35 * ew
        frames.append((box, radius, ex))
    width = max(int(0.04 * u), 1)

    def rims(d, dx=0.0, dy=0.0):
        for (x0, y0, x1, y1), r, _ in frames:
            d.rounded_rectangle(
                (x0 + dx, y0 + dy, x1 + dx, y1 + dy), radius=r, outline=255, width=width
            )
        inner_l, inner_r = frames[0][0][2], frames[1][0][0]
        d.line(
            curve(
                [
                    (inner_l + dx, ey - 0.3 * ew + dy),
                    (lay.cx + dx, ey - 0.75 * ew + dy),
                    (inner_r + dx, ey - 0.3 * ew + dy),
                ],
                10,
            ),
            fill=255,
            width=width,
        )
        for (x0, y0, x1, _), _, ex in frames:
            edge = x0 if ex < lay.cx else x1
            far = lay.cx + (lay.half_width(ey) + 0.02 * u) * (1 if ex > lay.cx else -1)
            d.line(
                [(edge + dx, y0 + 0.35 * ry + dy), (far + dx, y0 + 0.3 * ry + dy)],
                fill=255,
                width=width,
            )

    canvas.shade(
        canvas.mask(lambda d: rims(d, 0.04 * u, 0.07 * u), 0.03 * u).times(head),
        skin_ramp(person, np.float32(0.0)),
        0.4,
    )
    for (x0, y0, x1, y1), r, _ in frames:
        lens = canvas.mask(
            lambda d, b=(x0, y0, x1, y1), r=r: d.rounded_rectangle(b, radius=r, fill=255)
        )
        canvas.shade(lens, np.array([0.85, 0.9, 0.95], np.float32), 0.08)
        band = 1 - np.abs(linear(lens, (x0, y0), (x1, y1)) - 0.35) / 0.12
        canvas.shade(
            lens.weighted(np.clip(band, 0, 1)), np.ones(3, np.float32), 0.22, mode="screen"
        )
    frame = canvas.mask(rims, 0.6)
    light = 0.6 + 0.6 * (1 - linear(frame, (lay.cx - 3 * ew, ey - ry), (lay.cx + 3 * ew, ey + ry)))
    canvas.fill(
        frame,
        mix(
            scale(person.frame, 0.6),
            np.clip(person.frame * 1.8 + 0.08, 0, 1),
            np.clip(light - 0.6, 0, 1),
        ),
    )
