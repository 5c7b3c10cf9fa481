"""Loudness: measure (ITU-R BS.1770), normalise to a target, hold a true-peak ceiling.

Integrated loudness follows BS.1770-4: K-weighting (pyloudnorm's filter
design), 400 ms blocks, absolute and relative gates. The blocks are kept as
numbers so that stretches measured apart (the scenes) pool into one film
loudness. True peak is the sample peak of the signal oversampled four
times (scipy's polyphase resampler), as BS.1770 annex 2 describes. The
ceiling is kept by a look-ahead limiter whose gain never rises above what
the true peak in its window allows, so it cannot overshoot; it only acts on
the few peaks left above the ceiling after the gain to the target.

A scene's sound is measured and limited as it is made, a block at a time
(:class:`BlockPowers`, :class:`TruePeak`, :func:`limited_blocks`), with the
results of the whole-signal functions and in memory that does not grow with
the scene.

Audio is float ``(samples, channels)``; levels are in LUFS and dBTP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from filmkit.lazy import numpy as np

OVERSAMPLE = 4
# Oversampling works on blocks of this many samples, with this many more either side,
# at most this many neighbouring blocks at once.
BLOCK = 4096
MARGIN = 256
RUN_BLOCKS = 32
# Streaming measures work on pieces of at most this many samples.
PIECE = 2**16
# 6 dB: how far under a level a block's samples may sit and still matter.
HEADROOM = 0.5
LOOKAHEAD_SECONDS = 0.004
SMOOTH_SECONDS = 0.004
# Loudness of silence: keep JSON finite.
FLOOR_LUFS = -70.0
ABSOLUTE_GATE = -70.0
BLOCK_SECONDS = 0.4


@dataclass(frozen=True)
class Levels:
    """What a meter reads on a signal."""

    integrated: float
    true_peak: float

    def as_meta(self) -> dict[str, float]:
        """JSON-able, rounded."""
        return {"lufs": round(self.integrated, 2), "true_peak_dbtp": round(self.true_peak, 2)}


def block_powers(audio: np.ndarray, rate: int) -> np.ndarray:
    """K-weighted mean square of every 400 ms gating block (75 % overlap), channels summed.

    The blocks of separate stretches of audio can be pooled and gated
    together (:func:`gated_loudness`): that is how a film mixed scene by
    scene gets one integrated loudness without ever being held whole.
    """
    meter = BlockPowers(rate)
    meter.feed(audio)
    return meter.powers()


class BlockPowers:
    """The gating-block powers (:func:`block_powers`) of audio fed in order, piece by piece.

    The K-weighting filters carry their state from one piece to the next and
    the running energy is summed in the same order as over the whole signal,
    so the powers are those of :func:`block_powers` on all of it, while only
    a piece and the last block's energies are held.
    """

    def __init__(self, rate: int) -> None:
        from pyloudnorm import IIRfilter

        self.size, self.hop = round(BLOCK_SECONDS * rate), round(BLOCK_SECONDS * rate / 4)
        self._stages = [
            (stage.b, stage.a)
            for stage in (
                IIRfilter(4.0, 1 / math.sqrt(2), 1500.0, rate, "high_shelf"),
                IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
            )
        ]
        self._states: list[np.ndarray] = []
        # Running energy from sample ``_base`` on: ``_energy[i]`` sums the first
        # ``_base + i`` samples.
        self._energy = np.zeros(1)
        self._base = 0
        self._next = 0  # the first sample of the next block
        self._powers: list[np.ndarray] = []

    def feed(self, audio: np.ndarray) -> None:
        """Measure the next ``(samples, channels)`` of the signal."""
        # In small pieces: the float64 copies stay small, and the sums are the same.
        for start in range(0, audio.shape[0], PIECE):
            self._feed(audio[start : start + PIECE])

    def _feed(self, audio: np.ndarray) -> None:
        from scipy.signal import lfilter

        weighted = audio.astype(np.float64)
        if not self._states:
            self._states = [
                np.zeros((max(len(a), len(b)) - 1, weighted.shape[1])) for b, a in self._stages
            ]
        for k, (b, a) in enumerate(self._stages):
            weighted, self._states[k] = lfilter(b, a, weighted, axis=0, zi=self._states[k])
        # One sequential running sum, carried on from the last piece's total.
        energy = np.cumsum(np.concatenate([self._energy[-1:], np.square(weighted).sum(axis=1)]))
        self._energy = np.concatenate([self._energy, energy[1:]])
        fed = self._base + self._energy.size - 1
        starts = np.arange(self._next, fed - self.size + 1, self.hop)
        if starts.size:
            at = starts - self._base
            self._powers.append((self._energy[at + self.size] - self._energy[at]) / self.size)
            self._next = int(starts[-1]) + self.hop
        keep = min(self._next, fed) - self._base
        self._energy = self._energy[keep:].copy()
        self._base += keep

    def powers(self) -> np.ndarray:
        """The powers of every whole block fed so far."""
        return np.concatenate(self._powers) if self._powers else np.zeros(0)


def gated_loudness(powers: np.ndarray) -> float:
    """Integrated loudness (LUFS) from gating-block powers, gated per BS.1770-4."""
    powers = np.asarray(powers, dtype=np.float64)
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10.0 * np.log10(powers)
    audible = levels >= ABSOLUTE_GATE
    if not audible.any():
        return FLOOR_LUFS
    relative = -0.691 + 10.0 * math.log10(powers[audible].mean()) - 10.0
    value = -0.691 + 10.0 * math.log10(powers[audible & (levels > relative)].mean())
    return max(value, FLOOR_LUFS)


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Gated integrated loudness in LUFS (``FLOOR_LUFS`` for silence or very short audio)."""
    return gated_loudness(block_powers(audio, rate))


def peak_envelope(audio: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per-sample true peak: the largest oversampled magnitude near each sample, any channel.

    Only blocks whose sample peak reaches ``floor`` are oversampled; elsewhere
    the envelope is the sample magnitude. Callers pass a floor 6 dB under the
    level they care about: a reconstructed wave overshoots its samples by at
    most about 3 dB in real audio, so a quieter block cannot matter, and
    skipping it saves most of the work on a long film.
    """
    return _envelope(audio, floor, 0, audio.shape[0])


def _envelope(audio: np.ndarray, floor: float, first: int, last: int) -> np.ndarray:
    """:func:`peak_envelope` of ``audio[first:last]``, on a grid of blocks from ``first``.

    The oversampling filter reads up to ``MARGIN`` samples of ``audio`` either
    side: where ``first`` is on the whole signal's block grid and ``audio``
    holds that margin (or the signal ends there), the envelope is exactly the
    whole signal's. Runs of hot blocks are oversampled ``RUN_BLOCKS`` at a
    time, so the memory does not grow with a run's length.
    """
    from scipy.signal import resample_poly

    loud = magnitude(audio[first:last])
    hot = _block_peaks(loud) >= floor
    envelope = loud.astype(np.float32)
    # Runs of neighbouring hot blocks, oversampled a stretch at a time with a margin.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    for run_first, run_last in zip(edges[::2], edges[1::2], strict=True):
        for part in range(run_first, run_last, RUN_BLOCKS):
            lo = first + part * BLOCK
            hi = min(first + min(run_last, part + RUN_BLOCKS) * BLOCK, last)
            start, stop = max(0, lo - MARGIN), min(audio.shape[0], hi + MARGIN)
            up = resample_poly(audio[start:stop].astype(np.float32), OVERSAMPLE, 1, axis=0)
            up = magnitude(up)
            frames = up.size // OVERSAMPLE
            per_sample = up[: frames * OVERSAMPLE].reshape(frames, OVERSAMPLE).max(axis=1)
            into = envelope[lo - first : hi - first]
            np.maximum(into, per_sample[lo - start : hi - start], out=into)
    return envelope


def magnitude(audio: np.ndarray) -> np.ndarray:
    """The largest absolute value across channels, per sample.

    Channel by channel: numpy reduces a short last axis (2 channels) far
    more slowly than it compares two long arrays.
    """
    loudest = np.abs(audio[:, 0])
    for channel in range(1, audio.shape[1]):
        np.maximum(loudest, np.abs(audio[:, channel]), out=loudest)
    return loudest


def true_peak(audio: np.ndarray) -> float:
    """True peak in dBTP."""
    if not audio.size:
        return -120.0
    floor = float(magnitude(audio).max()) * HEADROOM
    peak = float(peak_envelope(audio, floor).max())
    return 20.0 * math.log10(peak) if peak > 0 else -120.0


def _block_peaks(values: np.ndarray) -> np.ndarray:
    """The largest of ``values`` in each ``BLOCK`` of them (the last block may be short)."""
    blocks = -(-values.size // BLOCK)
    padded = np.zeros(blocks * BLOCK, dtype=values.dtype)
    padded[: values.size] = values
    return padded.reshape(blocks, BLOCK).max(axis=1)


class TruePeak:
    """The true peak (:func:`true_peak`) of audio fed in order, piece by piece.

    Blocks are oversampled as they come, against a floor under the loudest
    sample so far: the final floor can only be higher, so every block the
    whole-signal measure oversamples is oversampled here too, with the same
    filter margin, and the result is the same. Only a piece and a margin of
    samples are held, and two numbers per block.
    """

    def __init__(self) -> None:
        self._held: np.ndarray | None = None
        self._measured = 0  # in ``_held``: samples before it are measured (a margin kept)
        self._loudest = 0.0
        self._sample_peaks: list[np.ndarray] = []  # per block: its loudest sample
        self._true_peaks: list[np.ndarray] = []  # and the loudest of its envelope

    def feed(self, audio: np.ndarray) -> None:
        """Measure the next ``(samples, channels)`` of the signal."""
        if audio.shape[0] == 0:
            return
        self._loudest = max(self._loudest, float(magnitude(audio).max()))
        held = [audio] if self._held is None else [self._held, audio]
        self._held = np.concatenate(held)  # a copy: the caller may reuse its array
        # Whole blocks with the filter's margin after them can be measured now.
        ready = (self._held.shape[0] - MARGIN - self._measured) // BLOCK * BLOCK
        if ready > 0:
            self._measure(self._measured + ready)

    def _measure(self, last: int) -> None:
        assert self._held is not None
        first = self._measured
        envelope = _envelope(self._held, self._loudest * HEADROOM, first, last)
        self._sample_peaks.append(_block_peaks(magnitude(self._held[first:last])))
        self._true_peaks.append(_block_peaks(envelope))
        keep = max(0, last - MARGIN)
        self._held = self._held[keep:].copy()
        self._measured = last - keep

    def result(self) -> float:
        """The true peak in dBTP of everything fed."""
        if self._held is None:
            return -120.0
        if self._measured < self._held.shape[0]:
            self._measure(self._held.shape[0])
        # The blocks the whole-signal measure oversamples: those that reach its floor.
        hot = np.concatenate(self._sample_peaks) >= self._loudest * HEADROOM
        peak = float(np.float32(self._loudest))
        if hot.any():
            peak = max(peak, float(np.concatenate(self._true_peaks)[hot].max()))
        return 20.0 * math.log10(peak) if peak > 0 else -120.0


def measure(audio: np.ndarray, rate: int) -> Levels:
    """Integrated loudness and true peak of ``audio``."""
    return Levels(integrated_loudness(audio, rate), true_peak(audio))


def limit(audio: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """Keep the true peak under ``ceiling_db`` with a smooth look-ahead gain."""
    ceiling = 10.0 ** (ceiling_db / 20.0)
    peak = peak_envelope(audio, ceiling * HEADROOM)
    if peak.max() <= ceiling:
        return audio
    return audio * _limiter_gain(peak, rate, ceiling)[:, None]


def limited_blocks(
    read: Callable[[int, int], np.ndarray], total: int, rate: int, ceiling_db: float, block: int
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`limit` of a ``total``-sample signal, ``block`` samples at a time.

    ``read(start, stop)`` gives the signal's samples ``start`` to ``stop``.
    Yields each block's first sample and its limited samples. Each block is
    limited with the signal around it, from the oversampling grid's blocks
    that reach the limiter's look-ahead and smoothing beyond it, so its gain
    is the whole signal's gain there. (To the bit wherever it was compared:
    scipy's running mean could, in principle, round a last bit otherwise.)
    """
    ceiling = 10.0 ** (ceiling_db / 20.0)
    half, width = _limiter_widths(rate)
    reach = half + width
    for first in range(0, total, block):
        last = min(total, first + block)
        lo = max(0, (first - reach) // BLOCK * BLOCK)
        hi = min(total, -(-(last + reach) // BLOCK) * BLOCK)
        start, stop = max(0, lo - MARGIN), min(total, hi + MARGIN)
        audio = read(start, stop)
        peak = _envelope(audio, ceiling * HEADROOM, lo - start, hi - start)
        if peak.max() <= ceiling:  # the gain here is 1
            yield first, audio[first - start : last - start]
        else:
            gain = _limiter_gain(peak, rate, ceiling)[first - lo : last - lo]
            yield first, audio[first - start : last - start] * gain[:, None]


def _limiter_widths(rate: int) -> tuple[int, int]:
    half = max(1, round(LOOKAHEAD_SECONDS * rate))
    return half, max(1, min(half, round(SMOOTH_SECONDS * rate)))


def _limiter_gain(peak: np.ndarray, rate: int, ceiling: float) -> np.ndarray:
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    needed = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    half, width = _limiter_widths(rate)
    # Hold the lowest gain needed within +-half samples, then smooth over at most
    # half on each side: every average only mixes gains at or below what the
    # centre sample needs, so the result never lets a peak through.
    held = minimum_filter1d(needed, size=2 * half + 1, mode="nearest")
    return uniform_filter1d(held, size=width, mode="nearest")


def normalise(
    audio: np.ndarray, rate: int, target_lufs: float, ceiling_db: float
) -> tuple[np.ndarray, float]:
    """Gain ``audio`` to ``target_lufs`` and limit it to ``ceiling_db``; return it and the gain.

    Limiting lowers the loudness a little; a second pass makes that up, so
    the result lands within a few hundredths of a LU of the target whenever
    the target is reachable.
    """
    measured = integrated_loudness(audio, rate)
    if measured <= FLOOR_LUFS:
        return audio, 0.0
    total = 0.0
    for _ in range(3):
        gain_db = target_lufs - measured
        total += gain_db
        audio = limit(audio * 10.0 ** (gain_db / 20.0), rate, ceiling_db)
        measured = integrated_loudness(audio, rate)
        if abs(measured - target_lufs) < 0.05:
            break
    return audio, total
