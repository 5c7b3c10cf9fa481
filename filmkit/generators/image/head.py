"""Proportions of a portrait and the large forms: head, ears and neck.

Positions follow classical head proportions (eyes half way down the head,
nose and mouth at fixed fractions towards the chin) scaled by the person's
traits. Light comes from the upper left; form shading treats the head as an
ellipsoid, which is what makes a flat outline read as a rounded face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from filmkit.generators.image.face import Person
from filmkit.generators.image.paint import (
    Canvas,
    Mask,
    curve,
    mix,
    noise,
    smoothstep,
    stream,
)
from filmkit.lazy import numpy as np

LIGHT = np.array([-0.42, -0.5, 0.76], np.float32) / np.linalg.norm([-0.42, -0.5, 0.76])

# Per face shape: width factor, height factor, jaw taper, lower superellipse exponent.
SHAPES = {
    "oval": (1.0, 1.0, 0.3, 2.0),
    "round": (1.06, 0.95, 0.16, 2.2),
    "square": (1.03, 0.98, 0.16, 3.0),
    "long": (0.95, 1.07, 0.26, 2.3),
}


@dataclass
class Layout:
    """Where everything goes on the canvas, in canvas pixels."""

    cx: float
    cy: float
    a: float
    b: float
    jaw: float
    chin: float
    eye_y: float
    eye_dx: float
    eye_w: float
    eye_h: float
    brow_y: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_h: float
    neck_w: float
    neck_y: float
    shoulder_w: float
    height: float

    @classmethod
    def of(cls, person: Person, width: int, height: int) -> Layout:
        """Proportions for ``person`` on a canvas of the given size."""
        s = min(width, height)
        wf, hf, jaw, chin = SHAPES[person.face_shape]
        a, b = 0.175 * s * wf * person.width, 0.248 * s * hf
        cx, cy = width / 2, height * 0.405
        eye_w = 0.21 * a * person.eye_size
        nose_y = cy + 0.40 * b * person.nose_length
        return cls(
            cx=cx,
            cy=cy,
            a=a,
            b=b,
            jaw=jaw,
            chin=chin,
            eye_y=cy + 0.03 * b,
            eye_dx=0.4 * a * person.eye_gap,
            eye_w=eye_w,
            eye_h=0.42 * eye_w,
            brow_y=cy - 0.17 * b,
            nose_y=nose_y,
            nose_w=0.2 * a * person.nose_width,
            mouth_y=nose_y + 0.34 * (cy + b - nose_y),
            mouth_w=0.35 * a * person.mouth_width,
            lip_h=0.09 * a * person.lip_fullness,
            neck_w=0.55 * a * person.neck_width,
            neck_y=cy + 1.3 * b,
            shoulder_w=2.75 * a,
            height=height,
        )

    def outline(self, grow: float = 0.0, n: int = 180) -> list[tuple[float, float]]:
        """Silhouette of the skull and face: an ellipse above, a tapered jaw below."""
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        s, c = np.sin(t), -np.cos(t)
        lower = c > 0
        p = np.where(lower, self.chin, 2.25)
        xs = np.sign(s) * np.abs(s) ** (2 / p)
        ys = np.sign(c) * np.abs(c) ** (2 / p)
        taper = 1 - self.jaw * np.clip(ys, 0, 1) ** 1.6
        x = self.cx + (self.a + grow) * xs * taper
        y = self.cy + (self.b + grow) * ys
        return list(zip(x.tolist(), y.tolist(), strict=True))

    def half_width(self, y: float) -> float:
        """Half the face's width at height ``y`` (to place ears, hair, lines)."""
        pts = np.asarray(self.outline(n=360))
        right = pts[pts[:, 0] >= self.cx]
        return float(
            np.interp(y, np.sort(right[:, 1]), right[np.argsort(right[:, 1]), 0]) - self.cx
        )

    def boxes(self, factor: float) -> dict[str, list[tuple[int, int, int, int]] | tuple[int, ...]]:
        """Boxes around mouth and eyes, scaled by ``factor``, for the metadata."""

        def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
            return (
                int(x0 * factor),
                int(y0 * factor),
                math.ceil(x1 * factor),
                math.ceil(y1 * factor),
            )

        w, h = self.eye_w * 1.25, self.eye_h * 1.7
        eyes = [
            box(x - w, self.eye_y - h, x + w, self.eye_y + h * 0.9)
            for x in (self.cx - self.eye_dx, self.cx + self.eye_dx)
        ]
        mw = self.mouth_w * 1.2
        mouth = box(
            self.cx - mw,
            self.mouth_y - self.lip_h * 2.2,
            self.cx + mw,
            self.mouth_y + self.lip_h * 5,
        )
        return {"eyes": eyes, "mouth": mouth}


def skin_ramp(person: Person, light: np.ndarray) -> np.ndarray:
    """Skin colour for a light level in [0, 1]: warm, reddish shadows into a soft highlight."""
    skin = person.skin
    shadow = skin * np.array([0.62, 0.47, 0.46], np.float32)
    bright = skin + (1 - skin) * np.array([0.2, 0.16, 0.12], np.float32)
    lit = mix(shadow, skin, smoothstep(0.0, 0.62, light))
    return mix(lit, bright, smoothstep(0.62, 1.0, light))


def form_light(
    mask: Mask, cx: float, cy: float, rx: float, ry: float, flat: float = 0.85
) -> np.ndarray:
    """Lambert light on an ellipsoid centred at (cx, cy), over the mask's patch."""
    xs, ys = mask.grid()
    nx, ny = (xs - cx) / rx, (ys - cy) / ry
    nz = np.sqrt(np.clip(1 - flat * (nx * nx + ny * ny), 0.02, 1))
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    return np.clip((nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2]) / norm, 0, 1)


def skin_texture(person: Person, canvas: Canvas) -> np.ndarray:
    """Faint blotchy variation so skin does not look like plastic."""
    rng = stream(person.seed, "skin")
    return noise(rng, canvas.height, canvas.width, canvas.width / 60, octaves=3)


def paint_head(person: Person, canvas: Canvas, lay: Layout, texture: np.ndarray) -> Mask:
    """Fill the head with form-shaded skin; returns the head's mask for clipping."""
    head = canvas.polygon(lay.outline(), 1.0)
    light = form_light(head, lay.cx - 0.05 * lay.a, lay.cy + 0.1 * lay.b, lay.a * 1.05, lay.b * 1.1)
    light = light * (0.92 + 0.16 * texture[head.slices])
    canvas.fill(head, skin_ramp(person, light))
    # Rosy cheeks and a cooler jaw break the single-ellipsoid look.
    rosy = np.array([0.78, 0.36, 0.34], np.float32)
    for side in (-1, 1):
        cheek = canvas.ellipse(
            lay.cx + side * 0.55 * lay.a,
            lay.nose_y - 0.1 * lay.b,
            0.28 * lay.a,
            0.2 * lay.b,
            0.18 * lay.a,
        )
        canvas.shade(cheek.times(head), rosy, 0.13)
    jaw = canvas.polygon(lay.outline(), 0.1 * lay.a).times(head)
    chin_zone = smoothstep(lay.mouth_y, lay.cy + lay.b, jaw.grid()[1])
    canvas.shade(
        jaw.weighted((1 - jaw.values) * 3.2 * (0.4 + chin_zone)),
        skin_ramp(person, np.float32(0.1)),
        0.4,
    )
    return head


def paint_ears(person: Person, canvas: Canvas, lay: Layout) -> None:
    """Two ears, with a darker bowl and a lit rim, tucked under the skull's outline."""
    top, bottom = lay.brow_y + 0.02 * lay.b, lay.nose_y + 0.02 * lay.b
    for side in (-1, 1):
        root = lay.cx + side * lay.half_width((top + bottom) / 2) * 0.94
        out = root + side * 0.2 * lay.a
        shape = curve(
            [
                (root, top),
                (out + side * 0.02 * lay.a, top - 0.12 * lay.b),
                (out + side * 0.04 * lay.a, bottom - 0.2 * lay.b),
                (out - side * 0.08 * lay.a, bottom),
                (root, bottom - 0.02 * lay.b),
            ],
            40,
        )
        ear = canvas.polygon(shape, 0.8)
        light = form_light(
            ear, root + side * 0.1 * lay.a, (top + bottom) / 2, 0.2 * lay.a, 0.35 * lay.b
        )
        canvas.fill(ear, skin_ramp(person, 0.35 + 0.5 * light))
        canvas.shade(ear, np.array([0.8, 0.35, 0.32], np.float32), 0.12)
        bowl = canvas.ellipse(
            root + side * 0.1 * lay.a,
            (top + bottom) / 2 + 0.03 * lay.b,
            0.055 * lay.a,
            0.14 * lay.b,
            0.04 * lay.a,
        )
        canvas.shade(bowl.times(ear), skin_ramp(person, np.float32(0.05)), 0.55)
        rim = canvas.line(shape[2:30], 0.025 * lay.a, 0.015 * lay.a).times(ear)
        canvas.shade(rim, skin_ramp(person, np.float32(0.95)), 0.35)


def paint_neck(person: Person, canvas: Canvas, lay: Layout, texture: np.ndarray) -> None:
    """Neck and upper chest, darkened where the head shades them."""
    w, top, base = lay.neck_w, lay.cy + 0.45 * lay.b, lay.neck_y
    flare = lay.shoulder_w * 0.6
    left = curve(
        [
            (lay.cx - w, top),
            (lay.cx - w * 0.96, base - 0.1 * lay.b),
            (lay.cx - w * 1.3, base + 0.08 * lay.b),
            (lay.cx - flare, base + 0.3 * lay.b),
        ],
        20,
    )
    right = [(2 * lay.cx - x, y) for x, y in left[::-1]]
    outline = left + [(lay.cx - flare, lay.height), (lay.cx + flare, lay.height)] + right
    neck = canvas.polygon(outline, 0.8)
    xs, ys = neck.grid()
    roundness = 1 - np.clip(np.abs(xs - lay.cx - 0.15 * w) / (1.2 * w), 0, 1) ** 2
    light = 0.28 + 0.3 * roundness + 0.2 * smoothstep(base - 0.1 * lay.b, base + 0.5 * lay.b, ys)
    canvas.fill(neck, skin_ramp(person, light * (0.94 + 0.12 * texture[neck.slices])))
    # The jaw throws a soft shadow down onto the neck.
    shadow = canvas.polygon([(x, y + 0.13 * lay.b) for x, y in lay.outline()], 0.07 * lay.a)
    canvas.shade(shadow.times(neck), skin_ramp(person, np.float32(0.02)), 0.55)
    notch = canvas.ellipse(lay.cx, base + 0.06 * lay.b, 0.16 * w, 0.05 * lay.b, 0.06 * lay.a)
    canvas.shade(notch.times(neck), skin_ramp(person, np.float32(0.1)), 0.35)
