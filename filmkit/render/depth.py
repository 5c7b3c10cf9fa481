"""Depth maps and what a camera does with them: focus blur and 2.5D parallax.

Pictures are ``(height, width, 3)`` uint8 RGB; a depth map is ``(height, width)``
uint8, 0 nearest and 255 farthest. Focus is on the same scale, from 0 to 1.

* :func:`focus_blur` is layered depth of field. A pixel's circle of confusion
  is ``radius * |depth/255 - focus|`` pixels. The frame is blurred at up to
  ``levels - 1`` evenly spaced radii, at least ``MIN_STEP`` pixels apart (a
  slight blur gets fewer), as Gaussians with the second moment of a disc of
  that radius (sigma = r/2). The levels are made on a quarter-size copy (an
  eighth for wide steps), each through a further image pyramid so that a
  wide blur costs what a narrow one does; each pixel blends the two levels
  around its own circle, and the sharp frame at full size is level 0. A
  level gathers only from pixels blurred at least about as much (a weighted,
  renormalised blur), and where the small blur is grown back to full size
  sharp cells take their blurred neighbours' value, so a sharp subject
  neither smears into the blurred background behind it nor leaves a rim. A
  blurred foreground does spread over what is behind it: the near field's
  circles are blurred outwards first. Measured on the 2-core build machine
  (1280x720, radius 20, 6 levels, a depth ramp and a room): 18 to 33 ms a
  frame (OpenCV ran these calls on one core; the spread is other jobs
  sharing the machine, load average 1.5 to 3).
* :func:`parallax` moves the camera over the map: a pixel at depth d moves
  by ``shift * (1 - d/255)`` and scales by ``zoom`` about the frame's centre
  weighted the same way. It samples backwards like parallax occlusion
  mapping: for each output pixel it steps through the nearness values from
  far to near (a step per pixel of the largest move, at most ``MAX_STEPS``,
  or ``MAX_ZOOM_STEPS`` with a zoom, where a step costs a warp), keeps the
  nearest surface that lands there (so near surfaces win where they overlap
  far ones) and refines it with a secant step. Where the ray came in
  through the side of a cliff in the map (a hole opened up behind a near
  object) it shows the background just beyond the cliff instead, which
  stretches the background's edge into the hole; the frame's own edges are
  stretched too. Pixels of in-between depth on an anti-aliased edge are
  first snapped to its near or far side, so they do not fly off on their
  own. Measured as above on a room: 45 to 75 ms a frame for a sideways
  move of 10 or 64 pixels, 85 to 110 ms with a zoom as well.
* :func:`read_depth` reads a user's depth picture; :func:`model_depth` runs a
  user's monocular depth network (MiDaS, Depth Anything, DPT as ONNX).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from filmkit.render.onnx import run_model

MAX_LEVELS = 16  # blur levels focus_blur allows (its coc is quantised to 255 steps)
MIN_STEP = 2.5  # pixels of blur between focus_blur's levels, at least
MAX_STEPS = 64  # nearness steps parallax marches (a step is a shifted view: cheap)
MAX_ZOOM_STEPS = 32  # the same with a zoom (a step is a warp); beyond, a step spans pixels
EDGE = 24  # depth levels across 3x3 pixels that make an edge, not a slope (parallax)
GRAZE = 0.02  # how far interpolation may fall short of a march's landing (parallax)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LEVELS = np.arange(256, dtype=np.float32)


def _check(pixels: np.ndarray, depth: np.ndarray | None = None) -> None:
    """Raise ValueError unless ``pixels`` is a picture and ``depth`` (if given) its depth map."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a (height, width, 3) uint8 picture, got {pixels.shape}")
    if depth is not None and (depth.shape != pixels.shape[:2] or depth.dtype != np.uint8):
        raise ValueError(f"expected a {pixels.shape[:2]} uint8 depth map, got {depth.shape}")


def _down(a: np.ndarray, s: int) -> np.ndarray:
    """``a`` shrunk by the factor ``s`` (area average, rounding the size up)."""
    if s == 1:
        return a
    h, w = a.shape[:2]
    return cv2.resize(a, (-(-w // s), -(-h // s)), interpolation=cv2.INTER_AREA)


def _blur(stack: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels, done small enough that the kernel stays short."""
    h, w = stack.shape[:2]
    s = 1
    while sigma >= 2 * s and min(h, w) >= 16 * s:
        s *= 2
    small = _down(stack, s)
    # Shrinking and bilinear growing blur by about s/2 themselves: take that off the kernel.
    sig = math.sqrt(max(sigma * sigma - (s * s / 4 if s > 1 else 0.0), (s / 2) ** 2)) / s
    k = 2 * math.ceil(2.5 * sig) + 1
    small = cv2.GaussianBlur(small, (k, k), sig, borderType=cv2.BORDER_REFLECT)
    return small if s == 1 else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def focus_blur(
    pixels: np.ndarray, depth: np.ndarray, focus: float, radius: float, levels: int = 6
) -> np.ndarray:
    """``pixels`` seen through a lens focused at ``focus``, blurred by depth (see the module)."""
    _check(pixels, depth)
    if not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be 2 to {MAX_LEVELS}, not {levels}")
    coc = np.abs(_LEVELS / 255 - np.float32(focus)) * np.float32(radius)
    largest = float(max(coc[int(depth.min())], coc[int(depth.max())]))
    if largest < 0.5:
        return pixels.copy()
    # Levels at least MIN_STEP apart (fewer than asked for a slight blur), made at a quarter
    # of the size (an eighth for wide steps), or half when one narrow level is all there is.
    levels = min(levels, max(2, 1 + int(largest / MIN_STEP)))
    step = largest / (levels - 1)
    scale = 2 if step < MIN_STEP else 4 if step < 6 else 8
    # Per pixel, circles are looked up in 256-entry tables of the depth: cheaper than arithmetic.
    u_of = (coc / np.float32(step)).reshape(1, 256)  # the circle in level steps
    blurred = cv2.LUT(depth, np.minimum(u_of, 1))  # 0: the sharp frame, 1: level 1 or beyond
    small = _down(depth, scale)
    u = cv2.LUT(small, u_of)
    near = np.where(focus * 255 > _LEVELS, u_of[0], 0).astype(np.float32).reshape(1, 256)
    if depth.min() < focus * 255:
        # Blur the near field's circles outwards so a blurred foreground spreads over its edge.
        down = max(8 // scale, 1)
        circles = _down(cv2.LUT(small, near), down)
        sigma = max(float(circles.max()) * step / (2 * scale * down), 0.5)
        spread = _grow(cv2.GaussianBlur(circles, (0, 0), sigma), u.shape)
        u = cv2.max(u, spread)
        blurred = cv2.max(blurred, cv2.min(_grow(spread, depth.shape), 1.0))
    image = cv2.cvtColor(_down(pixels, scale).astype(np.float32), cv2.COLOR_RGB2RGBA)
    total = _levels(image, u, levels, step / 2 / scale)
    # Growing the blur back to full size mixes each cell with its neighbours. A sharp cell
    # (where the full-size frame will show) takes its blurred neighbours' value instead, so a
    # sharp subject leaves no bright rim in the blur around it.
    cover = cv2.min(u, 1.0)
    around = cv2.blur(cv2.multiply(total, cv2.merge([cover, cover, cover, cover])), (3, 3))
    fix = (cover < 1) & (around[..., 3] > 1e-3)
    total[fix] = around[fix] / around[fix][:, 3:]
    soft = _grow(cv2.cvtColor(cv2.convertScaleAbs(total), cv2.COLOR_RGBA2RGB), depth.shape)
    return cv2.blendLinear(pixels, soft, 1 - blurred, blurred)


def _grow(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` resized bilinearly to ``shape`` (height, width)."""
    return cv2.resize(a, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _levels(image: np.ndarray, u: np.ndarray, levels: int, sigma: float) -> np.ndarray:
    """Each pixel of ``image`` (RGB + 1) blurred between the two levels around its circle ``u``.

    Level i is a Gaussian of ``i * sigma``; below level 1, level 1 (the sharp
    frame is blended in later, at full size).
    """
    scale = 255 // (levels - 1)
    q = cv2.convertScaleAbs(u, alpha=scale)  # the circle in 1/scale steps, as a table index
    q4 = cv2.merge([q, q, q, q])
    present = np.bincount(q.ravel(), minlength=256) > 0
    x = _LEVELS / scale
    total = np.zeros(image.shape, np.float32)
    for i in range(1, levels):
        tent = np.clip(1 - np.abs(np.maximum(x, 1) - i), 0, 1)
        if i == levels - 1:
            tent[x >= i] = 1
        if not (present & (tent > 0)).any():
            continue
        share = cv2.LUT(q, tent.reshape(1, 256))
        if i == 1:
            level = _blur(image, sigma)
        else:
            # Gather only from pixels blurred about as much or more: sharper ones (in front of
            # a blurred background) are left out and the blur renormalised by what is left.
            weight = np.clip(x - (i - 2), 1e-3, 1).reshape(1, 256)
            level = _blur(cv2.multiply(image, cv2.LUT(q4, weight)), i * sigma)
            share = cv2.divide(share, np.ascontiguousarray(level[..., 3]))
        cv2.accumulateProduct(level, cv2.merge([share, share, share, share]), total)
    return total


@lru_cache(maxsize=4)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's x and y, full size (shared between calls, so read-only)."""
    ys, xs = np.indices((height, width), dtype=np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def _source(
    a: np.ndarray, shift: tuple[float, float], zoom: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel comes from if the surface there has nearness ``a``.

    That is ``c + (p - c - shift * a) / g`` with ``g = 1 + (zoom - 1) * a`` about
    the frame's centre ``c``, computed as ``(p + (c * (zoom - 1) - shift) * a) / g``.
    """
    h, w = a.shape
    grow = None if zoom == 1 else cv2.addWeighted(a, zoom - 1, a, 0, 1.0)
    maps = []
    for grid, move, centre in zip(_grid(w, h), shift, ((w - 1) / 2, (h - 1) / 2), strict=True):
        back = cv2.scaleAdd(a, centre * (zoom - 1) - move, grid)
        if grow is not None:
            cv2.divide(back, grow, dst=back)
        maps.append(back)
    return maps[0], maps[1]


def _sample(
    image: np.ndarray, maps: tuple[np.ndarray, np.ndarray], how: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """``image`` sampled at ``maps`` (x, y), edges stretched."""
    return cv2.remap(image, *maps, how, borderMode=cv2.BORDER_REPLICATE)


def parallax(
    pixels: np.ndarray, depth: np.ndarray, shift: tuple[float, float], zoom: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``pixels`` and ``depth`` after a camera move: near moves most (see the module)."""
    _check(pixels, depth)
    sx, sy = float(shift[0]), float(shift[1])
    if sx == 0 and sy == 0 and zoom == 1:
        return pixels.copy(), depth.copy()
    h, w = depth.shape
    near = _snap(cv2.bitwise_not(depth))  # nearness in 8 bits: 255 nearest
    cx, cy = (w - 1) / 2, (h - 1) / 2
    reach = math.hypot(sx, sy) + abs(zoom - 1) * math.hypot(cx, cy)
    steps = min(max(math.ceil(reach), 1), MAX_STEPS if zoom == 1 else MAX_ZOOM_STEPS)
    last = _march(near, (sx, sy), zoom, steps)
    # The surface crosses between that step (lo) and the one above it (hi): a secant step.
    # (At lo = 1, hi overshoots; the secant then stays at lo.) Per-step values come from
    # tables indexed by the step, comparisons are made in 8 bits: fewer passes over the frame.
    level = np.minimum(_LEVELS / steps, 1)
    lo = cv2.LUT(last, level.reshape(1, 256))
    hi = cv2.LUT(last, (level + 1 / steps).reshape(1, 256))
    at_lo = _source(lo, (sx, sy), zoom)
    seen_lo = _sample(near, at_lo)
    seen_hi = _sample(near, _source(hi, (sx, sy), zoom))
    unit = (_LEVELS / 255).reshape(1, 256)
    above = cv2.subtract(cv2.LUT(seen_lo, unit), lo)
    span = cv2.max(cv2.subtract(cv2.add(above, hi), cv2.LUT(seen_hi, unit)), 1e-6)
    final = cv2.scaleAdd(np.clip(cv2.divide(above, span), 0, 1), 1 / steps, lo)
    # Where the surface at lo stands above hi, the ray came in through the side of a cliff: a
    # hole opened up behind a near edge. Show the background a step beyond it. Likewise where
    # the landing does not hold: a thin near thing only grazed, which would otherwise smear
    # across the hole. Both are judged on the pixel itself (interpolating across an edge
    # would make a slope of it).
    pixel = _sample(near, at_lo, cv2.INTER_NEAREST)
    top = np.clip(np.ceil((level + 1 / steps) * 255), 0, 255).astype(np.uint8)
    floor = np.clip(np.ceil((level - GRAZE) * 255), 0, 255).astype(np.uint8)
    side = cv2.compare(pixel, cv2.LUT(last, top), cv2.CMP_GE)
    side |= cv2.compare(pixel, cv2.LUT(last, floor), cv2.CMP_LT)
    behind = np.minimum(level + 2 / steps, 1).reshape(1, 256)
    cv2.copyTo(cv2.LUT(last, behind), side, final)
    # Picture and depth go through one 4-channel remap (OpenCV's fast path for 8-bit RGBA).
    both = cv2.cvtColor(pixels, cv2.COLOR_RGB2RGBA)
    cv2.insertChannel(cv2.bitwise_not(near), both, 3)
    moved = _sample(both, _source(final, (sx, sy), zoom))
    return cv2.cvtColor(moved, cv2.COLOR_RGBA2RGB), cv2.extractChannel(moved, 3)


def _snap(near: np.ndarray) -> np.ndarray:
    """``near`` with pixels on a depth edge moved to the nearer or farther side of it.

    An anti-aliased edge leaves pixels of in-between depth that a camera move
    would carry off on their own (flying pixels); each pixel whose 3x3
    neighbourhood spans more than ``EDGE`` takes that neighbourhood's highest
    or lowest value, whichever it is closer to. Smooth slopes are untouched.
    """
    kernel = np.ones((3, 3), np.uint8)
    top, bottom = cv2.dilate(near, kernel), cv2.erode(near, kernel)
    edge = cv2.compare(cv2.subtract(top, bottom), EDGE, cv2.CMP_GT)
    # Closer to the top when near - bottom > top - near, i.e. 2 near > top + bottom.
    upper = cv2.compare(
        cv2.add(near, near, dtype=cv2.CV_16U), cv2.add(top, bottom, dtype=cv2.CV_16U), cv2.CMP_GT
    )
    snapped = near.copy()
    cv2.copyTo(top, edge & upper, snapped)
    cv2.copyTo(bottom, edge & ~upper, snapped)
    return snapped


def _march(near: np.ndarray, shift: tuple[float, float], zoom: float, steps: int) -> np.ndarray:
    """Per pixel, the last of ``steps`` nearness steps (0 = far) whose surface lands on it.

    Marching from far to near and keeping the last step that lands finds the
    nearest surface there. Each step samples the whole map at one nearness,
    to the nearest pixel (the secant step after it interpolates): a shifted
    view of a padded copy, or for a zoom one warpAffine.
    """
    h, w = near.shape
    sx, sy = shift
    cx, cy = (w - 1) / 2, (h - 1) / 2
    last = np.zeros((h, w), np.uint8)
    px, py = math.ceil(abs(sx)) + 1, math.ceil(abs(sy)) + 1
    padded = cv2.copyMakeBorder(near, py, py, px, px, cv2.BORDER_REPLICATE)
    for j in range(1, steps + 1):
        a = j / steps
        if zoom == 1:
            ox, oy = px - round(sx * a), py - round(sy * a)
            seen = padded[oy : oy + h, ox : ox + w]
        else:
            k = 1 / (1 + (zoom - 1) * a)
            back = np.array([[k, 0, cx - (cx + sx * a) * k], [0, k, cy - (cy + sy * a) * k]])
            flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
            seen = cv2.warpAffine(near, back, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        _, landed = cv2.threshold(seen, math.ceil(a * 255) - 1, j, cv2.THRESH_BINARY)
        cv2.max(last, landed, dst=last)
    return last


def read_depth(
    path: Path | str, size: tuple[int, int], near: Literal["dark", "light"] = "dark"
) -> np.ndarray:
    """A depth picture file (8- or 16-bit grey, or colour as luminance) at ``size`` (w, h).

    Scaled by its bit depth, not stretched, so a map's own scale survives (black
    is 0, full white 255). ``near="light"`` reads maps that are light where
    near, such as MiDaS's. A file that cannot be read raises ValueError.
    """
    if near not in ("dark", "light"):
        raise ValueError(f"near must be 'dark' or 'light', not {near!r}")
    path = Path(path)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ValueError(f"{path}: cannot read the depth picture")
    full = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}
    if data.dtype not in full:
        raise ValueError(f"{path}: unsupported depth picture type {data.dtype}")
    values = data.astype(np.float32) / np.float32(full[data.dtype])
    if values.ndim == 3:
        # OpenCV reads colour as BGR(A): luminance by Rec. 601 weights, alpha dropped.
        values = values[..., :3] @ np.array([0.114, 0.587, 0.299], np.float32)
    grow = size[0] > values.shape[1] or size[1] > values.shape[0]
    values = cv2.resize(values, size, interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    if near == "light":
        values = 1 - values
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


def model_depth(
    pixels: np.ndarray,
    model: Path | str,
    size: tuple[int, int] = (256, 256),
    output: Literal["inverse", "depth"] = "inverse",
    normalise: bool = True,
) -> np.ndarray:
    """A depth map of ``pixels`` from a user's monocular depth model, run by OpenCV's DNN module.

    Contract: the model takes one input, ``(1, 3, H, W)`` float32 RGB in [0, 1]
    where ``size`` is ``(W, H)`` (the picture is resized to it, aspect ratio
    not kept), standardised with the ImageNet mean and standard deviation
    when ``normalise`` (MiDaS, DPT and Depth Anything expect that). Its first
    output is ``(1, h, w)`` or ``(1, 1, h, w)``: relative inverse depth
    (``output="inverse"``, larger is nearer, as MiDaS gives) or depth
    (``"depth"``, larger is farther). The map is stretched between its 2nd
    and 98th percentiles (relative models have no scale or offset of their
    own; the percentiles ignore stray extremes) to 0 nearest ... 255 farthest,
    linear in what the model gives, then resized back to the picture
    bilinearly. A constant map comes back mid-grey. Networks are cached per
    file (and its modification time). A file that cannot be read or run, or
    an output of the wrong shape, raises ValueError naming the file.
    """
    _check(pixels)
    if output not in ("inverse", "depth"):
        raise ValueError(f"output must be 'inverse' or 'depth', not {output!r}")
    path = Path(model)
    standard = (IMAGENET_MEAN, IMAGENET_STD) if normalise else (None, None)
    result = run_model(pixels, path, size, "depth model", *standard)
    if result.ndim not in (3, 4) or result.shape[:-2] not in ((1,), (1, 1)):
        raise ValueError(
            f"{path}: expected an output of shape (1, h, w) or (1, 1, h, w), got {result.shape}"
        )
    plane = result.reshape(result.shape[-2:])
    lo, hi = (float(v) for v in np.percentile(plane, [2, 98]))
    if not hi - lo > 1e-12:
        return np.full(pixels.shape[:2], 128, np.uint8)
    far = (hi - plane) / (hi - lo) if output == "inverse" else (plane - lo) / (hi - lo)
    h, w = pixels.shape[:2]
    far = cv2.resize(np.clip(far, 0, 1).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.rint(far * 255).astype(np.uint8)
