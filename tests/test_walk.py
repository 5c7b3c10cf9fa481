"""Latent paths for moving GAN faces: seeds, slerp, walks, loops, keys and drive."""

from __future__ import annotations

import numpy as np
import pytest

from filmkit.generators.gan.walk import latent, slerp, walk

NZ = 64
FPS = 24


def frames(seconds: float, start: float = 0.0) -> np.ndarray:
    return start + np.arange(round(seconds * FPS)) / FPS


def path_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def test_a_seed_names_one_latent() -> None:
    assert np.array_equal(latent(7, NZ), latent(7, NZ))
    assert not np.array_equal(latent(7, NZ), latent(8, NZ))
    assert latent(7, NZ).shape == (NZ,)
    assert abs(float(latent(7, 4096).std()) - 1.0) < 0.05


def test_slerp_is_exact_at_its_ends_and_keeps_the_norm() -> None:
    a, b = latent(1, NZ), latent(2, NZ)
    assert np.array_equal(slerp(a, b, 0.0), a)
    assert np.array_equal(slerp(a, b, 1.0), b)
    path = slerp(a, b, np.linspace(0.0, 1.0, 11))
    assert path.shape == (11, NZ)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    # Between two vectors of about the same length it stays about that long (lerp sags).
    norms = np.linalg.norm(path, axis=1)
    assert norms.min() > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))
    # Nearly parallel vectors: a straight line, without dividing by zero.
    near = slerp(a, a * 2.0, 0.5)
    assert np.allclose(near, a * 1.5)
    assert np.allclose(slerp(a, a, np.array([0.0, 0.3, 1.0])), a)


def test_a_walk_repeats_per_seed_and_differs_between_seeds() -> None:
    times = frames(10)
    one = walk(NZ, times, seed=3)
    assert one.shape == (len(times), NZ)
    assert np.array_equal(one, walk(NZ, times, seed=3))
    assert not np.allclose(one, walk(NZ, times, seed=4))
    # A frame depends on its time only, not on which other frames were asked for.
    assert np.array_equal(walk(NZ, times[100:130], seed=3), one[100:130])


def test_a_walk_moves_smoothly() -> None:
    path = walk(NZ, frames(20), seed=5)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    norms = np.linalg.norm(path, axis=1)
    assert steps.max() < 0.05 * norms.min()
    assert path_length(path) > norms.mean()  # it does go somewhere
    # Eased: no jump in velocity either (consecutive steps alike).
    assert np.abs(np.diff(steps)).max() < 0.1 * steps.max()


def test_a_looping_walk_repeats_exactly() -> None:
    period = 6.0
    times = frames(period)
    path = walk(NZ, times, seed=2, loop=period)
    for shift in (1, 3):
        later = walk(NZ, times + shift * period, seed=2, loop=period)
        assert np.array_equal(later, path)
    # It closes up smoothly: the step across the seam is like any other.
    seam = walk(NZ, np.array([period - 1 / FPS, period]), seed=2, loop=period)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert np.linalg.norm(seam[1] - seam[0]) <= steps.max() + 1e-12
    assert np.array_equal(seam[1], path[0])


def test_keys_are_reached_on_time_and_held() -> None:
    face = latent(11, NZ)
    keys = [(1.0, 42, 0.5), (3.0, face, 1.0), (6.0, 7, 0.0)]
    times = np.array([0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 9.0])
    path = walk(NZ, times, seed=0, keys=keys)
    held = {0.0: 42, 0.5: 42, 1.0: 42, 1.25: 42, 1.5: 42, 9.0: 7, 6.0: 7}
    for t, seed in held.items():
        assert np.array_equal(path[list(times).index(t)], latent(seed, NZ)), t
    for t in (3.0, 3.5, 4.0):
        assert np.array_equal(path[list(times).index(t)], face), t
    # Between keys it moves, and smoothly (frames at 24 fps).
    between = path[list(times).index(2.0)]
    assert not np.allclose(between, latent(42, NZ)) and not np.allclose(between, face)
    dense = walk(NZ, frames(8), seed=0, keys=keys)
    steps = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    assert steps.max() < 0.1 * np.linalg.norm(dense, axis=1).min()
    # Keys in any order.
    assert np.array_equal(walk(NZ, times, seed=0, keys=keys[::-1]), path)


def test_a_louder_drive_moves_further() -> None:
    times = frames(12)
    quiet = walk(NZ, times, seed=9, drive=np.zeros(len(times)))
    loud = walk(NZ, times, seed=9, drive=np.ones(len(times)))
    plain = walk(NZ, times, seed=9)
    assert path_length(quiet) < path_length(plain) < path_length(loud)
    # Half-way drive keeps the undriven pace exactly.
    assert np.allclose(walk(NZ, times, seed=9, drive=np.full(len(times), 0.5)), plain)


def test_walk_arguments_are_checked() -> None:
    times = frames(2)
    with pytest.raises(ValueError, match="drive"):
        walk(NZ, times, seed=1, loop=4.0, drive=np.zeros(len(times)))
    with pytest.raises(ValueError, match="drive has"):
        walk(NZ, times, seed=1, drive=np.zeros(3))
    with pytest.raises(ValueError, match="nz"):
        walk(NZ, times, seed=1, keys=[(0.0, np.zeros(3), 1.0)])
    with pytest.raises(ValueError, match="speed"):
        walk(NZ, times, seed=1, speed=0.0)
