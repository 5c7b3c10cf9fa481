"""Paths through a GAN's latent space: one latent vector per frame, numpy only.

A seed names a face: :func:`latent` turns it into the generator's input, the
same vector ``image/gan`` draws for a request with that seed (before its
``truncation``, which the renderer applies to walks too). :func:`walk` gives
the latents of a moving face:

* keyless, a seeded wander through waypoints drawn from the seed, one every
  ``1 / speed`` seconds, eased in and out of each (smoothstep), optionally
  repeating every ``loop`` seconds, or hurrying where a ``drive`` signal (the
  loudness of the sound) is high;
* keyed, a path through given faces at given times, each held for a while
  (an expression kept through a line), eased from one to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from filmkit.generators.training import derive

# Below this sine of the angle between two latents, slerp is a straight line.
PARALLEL = 1e-6
# A looping walk's time is rounded to this many decimals before it wraps, so that
# t and t + period (both a little off in floating point) land on the same frame.
LOOP_DECIMALS = 9


def latent(seed: int, nz: int) -> np.ndarray:
    """The standard normal latent vector (float64, length ``nz``) that ``seed`` names."""
    return np.random.default_rng(seed).standard_normal(nz)


def slerp(a: Any, b: Any, t: Any) -> np.ndarray:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1), exact at both ends.

    ``t`` is a number or an array; the result has shape ``t.shape + a.shape``.
    Nearly parallel (or zero) vectors are interpolated on a straight line.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)[..., None]
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na > 0.0 and nb > 0.0:
        omega = float(np.arccos(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0)))
        so = float(np.sin(omega))
        if so > PARALLEL:
            return (np.sin((1.0 - tt) * omega) / so) * a + (np.sin(tt * omega) / so) * b
    return (1.0 - tt) * a + tt * b


def smoothstep(u: Any) -> np.ndarray:
    """Ease in and out on [0, 1]: 3u^2 - 2u^3 (zero slope at both ends)."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def walk(
    nz: int,
    times: Any,
    seed: int,
    speed: float = 0.25,
    loop: float | None = None,
    keys: Sequence[tuple[float, Any, float] | tuple[float, Any]] = (),
    drive: Any = None,
) -> np.ndarray:
    """Latents (len(times) x nz, float64) of a face moving through time ``times`` (seconds).

    Without ``keys``: waypoints drawn from ``seed``, one every ``1 / speed``
    seconds of phase, slerped with smoothstep easing. ``loop`` (seconds): the
    path repeats exactly with that period (it passes ``round(speed * loop)``
    waypoints, at least 2, per period). ``drive`` (one value in [0, 1] per time,
    times ascending): the phase advances at ``speed * (0.3 + 1.4 * drive)``
    per second, so a loud passage moves the face faster and a silent one
    slower; it cannot be combined with ``loop``.

    With ``keys``, ``[(at, face, hold), ...]`` where ``face`` is a latent vector
    or a seed (:func:`latent` of it): the path is at each key's face from ``at``
    to ``at + hold`` (or until the next key's ``at``, if sooner), eases to the
    next key's face by its ``at``, holds the first face before the first key
    and the last after the last. ``speed``, ``loop``, ``drive`` and ``seed`` are
    then unused.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if keys:
        return _keyed(nz, times, keys)
    if speed <= 0.0:
        raise ValueError(f"speed must be above 0, not {speed}")
    if loop is not None:
        if drive is not None:
            raise ValueError("a looping walk cannot follow a drive (its phase would not repeat)")
        if loop <= 0.0:
            raise ValueError(f"loop must be a period above 0 seconds, not {loop}")
        count = max(2, round(speed * loop))
        wrapped = np.round(np.mod(times, loop), LOOP_DECIMALS)
        wrapped = np.where(wrapped >= loop, 0.0, wrapped)
        phase = wrapped * (count / loop)
    elif drive is not None:
        count = None
        phase = _driven_phase(times, speed, drive)
    else:
        count = None
        phase = times * speed
    index = np.floor(phase).astype(np.int64)
    ease = smoothstep(phase - index)
    out = np.empty((len(times), nz), dtype=np.float64)
    for k in np.unique(index):
        here = index == k
        start = _waypoint(seed, int(k), nz, count)
        end = _waypoint(seed, int(k) + 1, nz, count)
        out[here] = slerp(start, end, ease[here])
    return out


def _waypoint(seed: int, k: int, nz: int, count: int | None) -> np.ndarray:
    """Waypoint ``k`` of the walk ``seed`` names (``k`` modulo ``count`` for a loop)."""
    if count is not None:
        k %= count
    return latent(derive(seed, "gan-walk", k), nz)


def _driven_phase(times: np.ndarray, speed: float, drive: Any) -> np.ndarray:
    """The cumulative integral (trapezoids) of ``speed * (0.3 + 1.4 * drive)`` over ``times``."""
    drive = np.clip(np.asarray(drive, dtype=np.float64).reshape(-1), 0.0, 1.0)
    if len(drive) != len(times):
        raise ValueError(f"drive has {len(drive)} values for {len(times)} times")
    if len(times) == 0:
        return times.copy()
    steps = np.diff(times)
    if np.any(steps < 0.0):
        raise ValueError("a driven walk needs its times in ascending order")
    rate = speed * (0.3 + 1.4 * drive)
    phase = np.empty_like(times)
    phase[0] = times[0] * speed
    phase[1:] = phase[0] + np.cumsum(0.5 * (rate[1:] + rate[:-1]) * steps)
    return phase


def _keyed(nz: int, times: np.ndarray, keys: Sequence[Any]) -> np.ndarray:
    """The path through ``keys`` (see :func:`walk`)."""
    parsed = []
    for key in keys:
        if len(key) not in (2, 3):
            raise ValueError(f"a key is (at, latent or seed, hold), not {key!r}")
        at, face = float(key[0]), key[1]
        hold = float(key[2]) if len(key) == 3 else 0.0
        if hold < 0.0:
            raise ValueError(f"a key's hold must be 0 or more seconds, not {hold}")
        if isinstance(face, int | np.integer):
            vector = latent(int(face), nz)
        else:
            vector = np.asarray(face, dtype=np.float64).reshape(-1)
            if vector.shape != (nz,):
                raise ValueError(f"a key's latent has {vector.size} values, not nz = {nz}")
        parsed.append((at, vector, hold))
    parsed.sort(key=lambda item: item[0])
    starts = np.array([at for at, _, _ in parsed])
    faces = [vector for _, vector, _ in parsed]
    # Each key holds until its hold ends or the next key begins, whichever is sooner.
    ends = np.array(
        [
            min(at + hold, starts[i + 1]) if i + 1 < len(parsed) else at + hold
            for i, (at, _, hold) in enumerate(parsed)
        ]
    )
    which = np.searchsorted(starts, times, side="right") - 1
    out = np.empty((len(times), nz), dtype=np.float64)
    out[which < 0] = faces[0]
    for i in np.unique(which[which >= 0]):
        here = which == i
        out[here] = faces[i]
        if i + 1 == len(parsed):
            continue
        moving = here & (times > ends[i])
        if np.any(moving):
            u = (times[moving] - ends[i]) / (starts[i + 1] - ends[i])
            out[moving] = slerp(faces[i], faces[i + 1], smoothstep(u))
    return out
