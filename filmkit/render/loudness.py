"""Loudness: measure (ITU-R BS.1770), normalise to a target, hold a true-peak ceiling.

Integrated loudness follows BS.1770-4: K-weighting (pyloudnorm's filter
design), 400 ms blocks, absolute and relative gates. The blocks are kept as
numbers so that stretches measured apart (the scenes) pool into one film
loudness. True peak is the sample peak of the signal oversampled four
times (scipy's polyphase resampler), as BS.1770 annex 2 describes. The
ceiling is kept by a look-ahead limiter whose gain never rises above what
the true peak in its window allows, so it cannot overshoot; it only acts on
the few peaks left above the ceiling after the gain to the target.

Audio is float ``(samples, channels)``; levels are in LUFS and dBTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from filmkit.lazy import numpy as np

OVERSAMPLE = 4
# Oversampling works on blocks of this many samples, with this many more either side.
BLOCK = 4096
MARGIN = 256
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
    from pyloudnorm import IIRfilter
    from scipy.signal import lfilter

    size, hop = round(BLOCK_SECONDS * rate), round(BLOCK_SECONDS * rate / 4)
    if audio.shape[0] < size:
        return np.zeros(0)
    weighted = audio.astype(np.float64)
    for stage in (
        IIRfilter(4.0, 1 / math.sqrt(2), 1500.0, rate, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
    ):
        weighted = lfilter(stage.b, stage.a, weighted, axis=0)
    energy = np.concatenate([[0.0], np.cumsum(np.square(weighted).sum(axis=1))])
    starts = np.arange(0, weighted.shape[0] - size + 1, hop)
    return (energy[starts + size] - energy[starts]) / size


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
    from scipy.signal import resample_poly

    loud = magnitude(audio)
    blocks = -(-loud.size // BLOCK)
    padded = np.zeros(blocks * BLOCK, dtype=loud.dtype)
    padded[: loud.size] = loud
    hot = padded.reshape(blocks, BLOCK).max(axis=1) >= floor
    envelope = loud.astype(np.float32)
    # Runs of neighbouring hot blocks, each oversampled with a margin for the filter.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    for first, last in zip(edges[::2] * BLOCK, edges[1::2] * BLOCK, strict=True):
        start, stop = max(0, first - MARGIN), min(loud.size, last + MARGIN)
        up = magnitude(resample_poly(audio[start:stop].astype(np.float32), OVERSAMPLE, 1, axis=0))
        frames = up.size // OVERSAMPLE
        per_sample = up[: frames * OVERSAMPLE].reshape(frames, OVERSAMPLE).max(axis=1)
        lo, hi = first - start, min(last, loud.size) - start
        np.maximum(
            envelope[first : first + hi - lo],
            per_sample[lo:hi],
            out=envelope[first : first + hi - lo],
        )
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


def measure(audio: np.ndarray, rate: int) -> Levels:
    """Integrated loudness and true peak of ``audio``."""
    return Levels(integrated_loudness(audio, rate), true_peak(audio))


def limit(audio: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """Keep the true peak under ``ceiling_db`` with a smooth look-ahead gain."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10.0 ** (ceiling_db / 20.0)
    peak = peak_envelope(audio, ceiling * HEADROOM)
    if peak.max() <= ceiling:
        return audio
    needed = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    half = max(1, round(LOOKAHEAD_SECONDS * rate))
    # Hold the lowest gain needed within +-half samples, then smooth over at most
    # half on each side: every average only mixes gains at or below what the
    # centre sample needs, so the result never lets a peak through.
    held = minimum_filter1d(needed, size=2 * half + 1, mode="nearest")
    width = max(1, min(half, round(SMOOTH_SECONDS * rate)))
    gain = uniform_filter1d(held, size=width, mode="nearest")
    return audio * gain[:, None]


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
