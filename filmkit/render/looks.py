"""A shot's look: a colour grade from a .cube LUT, lo-fi, vignette, grain, dust and scratches.

Applied to each composited frame, in that order. Everything that does not
change from frame to frame is made once per shot: the grade expanded from
the LUT's grid to a table of every 8-bit colour (trilinear, the way colour
tools apply a LUT), the vignette's gain, a few fields of grain. Per frame,
the grade is one table lookup and the rest a handful of numpy and OpenCV
operations; what varies (which grain field and where, the dust, a scratch)
comes from the shot's seed and the frame's number, so a frame is the same
every time it is rendered.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from filmkit.errors import MediaError

GRAIN_FIELDS = 6  # distinct grain patterns a shot cycles through (each also shifted)
GRAIN_LEVELS = 48.0  # the grain's standard deviation at grain: 1, in 8-bit levels
DUST_SPECKS = 24  # specks a frame at dust: 1, on average


def read_cube(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A .cube 3D LUT: its ``(n, n, n, 3)`` float32 table indexed ``[red, green, blue]``,
    and the input values its first and last points stand for (per channel).

    The format (Adobe/Resolve): ``LUT_3D_SIZE n``, optional ``TITLE``,
    ``DOMAIN_MIN``/``DOMAIN_MAX`` (default 0 and 1) and ``#`` comments, then
    ``n³`` lines of ``r g b`` with red changing fastest.
    """
    size = None
    domain = {"DOMAIN_MIN": np.zeros(3), "DOMAIN_MAX": np.ones(3)}
    rows: list[list[float]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, *rest = line.split()
        try:
            if word == "LUT_3D_SIZE":
                size = int(rest[0])
            elif word in domain:
                domain[word] = np.array([float(v) for v in rest[:3]])
            elif word == "LUT_1D_SIZE":
                raise MediaError(f"{path.name}:{number}: a 1D LUT; a grade needs a 3D .cube LUT")
            elif word[0].isdigit() or word[0] in "-.":
                rows.append([float(v) for v in [word, *rest]])
            elif word != "TITLE" and not word.startswith("LUT_"):
                raise ValueError(f"unknown keyword {word}")
        except (ValueError, IndexError) as exc:
            raise MediaError(f"{path.name}:{number}: not a .cube LUT line ({exc})") from None
    if size is None or size < 2:
        raise MediaError(f"{path.name}: no LUT_3D_SIZE (of at least 2) in this .cube file")
    if len(rows) != size**3 or any(len(row) != 3 for row in rows):
        raise MediaError(
            f"{path.name}: {len(rows)} rows of r g b; LUT_3D_SIZE {size} needs {size**3}"
        )
    low, high = domain["DOMAIN_MIN"], domain["DOMAIN_MAX"]
    if (high <= low).any():
        raise MediaError(f"{path.name}: DOMAIN_MAX must be above DOMAIN_MIN")
    table = np.asarray(rows, dtype=np.float32).reshape(size, size, size, 3)  # [b][g][r]
    return np.ascontiguousarray(table.transpose(2, 1, 0, 3)), low, high


def expanded(lut: np.ndarray, low: np.ndarray, high: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Every 8-bit colour through ``lut`` (trilinear), mixed ``amount`` with the original.

    A ``(2**24, 3)`` uint8 table indexed by ``red << 16 | green << 8 | blue``.
    Trilinear interpolation is separable: along red, then green, then blue.
    """
    n = lut.shape[0]
    value = np.arange(256, dtype=np.float32) / 255
    lower, f = [], []
    for channel in range(3):
        x = np.clip((value - low[channel]) / (high[channel] - low[channel]), 0, 1) * (n - 1)
        below = np.minimum(x.astype(np.int64), n - 2)
        lower.append(below)
        f.append((x - below).astype(np.float32))
    (lr, lg, lb), (fr, fg, fb) = lower, f
    along_r = lut[lr] * (1 - fr)[:, None, None, None] + lut[lr + 1] * fr[:, None, None, None]
    along_g = along_r[:, lg] * (1 - fg)[None, :, None, None]
    along_g += along_r[:, lg + 1] * fg[None, :, None, None]
    table = np.empty((256, 256, 256, 3), dtype=np.uint8)
    for red in range(256):
        graded = along_g[red][:, lb] * (1 - fb)[None, :, None]
        graded += along_g[red][:, lb + 1] * fb[None, :, None]
        if amount < 1:
            plain = np.stack(np.broadcast_arrays(value[red], value[:, None], value), -1)
            graded = plain * (1 - amount) + graded * amount
        table[red] = np.clip(graded * 255 + 0.5, 0, 255).astype(np.uint8)
    return table.reshape(-1, 3)


@lru_cache(maxsize=2)
def _packed_grade(stamp: tuple[str, int, int], amount: float) -> np.ndarray:
    """The grade of the .cube file ``stamp`` names, as ``2**24`` little-endian uint32 of
    ``r | g << 8 | b << 16``, indexed the same way; kept for the next shot in this process."""
    table = expanded(*read_cube(Path(stamp[0])), amount).reshape(256, 256, 256, 3)
    packed = np.zeros((256, 256, 256, 4), dtype=np.uint8)
    packed[..., :3] = table.transpose(2, 1, 0, 3)  # index blue, green, red from the top
    return packed.reshape(-1, 4).view("<u4")[:, 0]


class Look:
    """A shot's look, ready to apply to its frames (see :func:`Look.apply`)."""

    def __init__(self, params: dict[str, Any], grade: Path | None, size: tuple[int, int]) -> None:
        width, height = size
        self.seed: int = params["seed"]
        self.lofi: int = params["lofi"]
        self.dust: float = params["dust"]
        self.scratches: float = params["scratches"]
        self.table = None
        if grade is not None and params["grade_amount"] > 0:
            info = grade.stat()
            stamp = (str(grade), info.st_size, info.st_mtime_ns)
            self.table = _packed_grade(stamp, params["grade_amount"])
        self.gain = None
        if params["vignette"] > 0:
            x = (np.arange(width) - (width - 1) / 2) / (width / 2)
            y = (np.arange(height) - (height - 1) / 2) / (height / 2)
            radius = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2) / np.sqrt(2)  # 1 at a corner
            edge = np.clip((radius - 0.35) / 0.65, 0, 1)  # untouched in the middle
            falloff = edge * edge * (3 - 2 * edge)
            gain = np.rint((1 - params["vignette"] * falloff) * 255).astype(np.uint8)
            self.gain = np.repeat(gain[:, :, None], 3, axis=2)  # in 255ths
        self.grain = None
        if params["grain"] > 0:
            rng = np.random.default_rng([self.seed, 1])
            sigma = params["grain"] * GRAIN_LEVELS
            fields = rng.normal(0, sigma, (GRAIN_FIELDS, height, width)).astype(np.float32)
            # Film grain is a little larger than a pixel: soften each field, keep its strength.
            for field in fields:
                cv2.GaussianBlur(field, (3, 3), 0.6, dst=field)
                field *= sigma / max(float(field.std()), 1e-6)
            self.grain = np.clip(np.rint(fields), -127, 127).astype(np.int16)

    @property
    def animated(self) -> bool:
        """Does the look change from one frame to the next (so no frame repeats)?"""
        return self.grain is not None or self.dust > 0 or self.scratches > 0

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        """Frame ``i`` of the shot with the look: a new ``(h, w, 3)`` uint8 array."""
        height, width = frame.shape[:2]
        out = frame
        if self.table is not None:
            # Each pixel's r, g, b bytes (and a zero) read as one little-endian uint32
            # index the packed table: one gather a pixel.
            padded = np.zeros((height, width, 4), dtype=np.uint8)
            padded[..., :3] = out
            graded = np.take(self.table, padded.view("<u4")[..., 0])
            out = np.ascontiguousarray(graded.view(np.uint8).reshape(height, width, 4)[..., :3])
        if self.lofi > 1:
            small = (max(1, width // self.lofi), max(1, height // self.lofi))
            out = cv2.resize(cv2.resize(out, small, interpolation=cv2.INTER_AREA),
                             (width, height), interpolation=cv2.INTER_NEAREST)  # fmt: skip
        if self.gain is not None:
            out = cv2.multiply(np.ascontiguousarray(out), self.gain, scale=1 / 255)
        rng = np.random.default_rng([self.seed, 2, i])
        if self.grain is not None:
            field = self.grain[rng.integers(GRAIN_FIELDS)]
            field = np.roll(field, (rng.integers(height), rng.integers(width)), axis=(0, 1))
            out = np.clip(out.astype(np.int16) + field[:, :, None], 0, 255).astype(np.uint8)
        if out is frame:
            out = np.array(frame, copy=True)
        if self.dust > 0 or self.scratches > 0:
            self._marks(out, rng)
        return out

    def _marks(self, out: np.ndarray, rng: np.random.Generator) -> None:
        """Dust specks and, now and then, a scratch, drawn onto ``out`` in place."""
        height, width = out.shape[:2]
        unit = max(1, round(height / 360))
        for _ in range(rng.poisson(self.dust * DUST_SPECKS)):
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            shade = (20,) * 3 if rng.random() < 0.7 else (235,) * 3  # dirt, or a hole
            radius = int(rng.integers(1, 3)) * unit
            cv2.circle(out, centre, radius, shade, -1, lineType=cv2.LINE_AA)
        if rng.random() < self.scratches:
            x = int(rng.integers(width))
            drift = int(rng.integers(-3, 4)) * unit
            cv2.line(out, (x, 0), (x + drift, height - 1), (200,) * 3, unit, cv2.LINE_AA)
