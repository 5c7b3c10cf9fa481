"""The instruments: band-limited wavetable and FM voices, envelopes, synthesized drums.

Every voice renders one whole note as a numpy array. Tones come from
one-cycle wavetables built by inverse FFT from a list of harmonic amplitudes,
so they are free of aliasing, and "filtering" a tone is weighting its
harmonics by a low-pass magnitude response. Timbre that changes during a note
(a piano's bright attack, a pad's opening filter) is a crossfade between a
bright and a dark table.
"""

from __future__ import annotations

from collections.abc import Callable

from filmkit.generators.music.effects import RATE, filtered, highpass, lowpass
from filmkit.lazy import numpy as np

TABLE = 4096
MAX_HARMONICS = 80


def hz(pitch: float) -> float:
    """Frequency of a MIDI pitch."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def harmonic_count(freq: float) -> int:
    """How many harmonics of ``freq`` fit below Nyquist (with some margin)."""
    return max(1, min(MAX_HARMONICS, int(0.45 * RATE / freq)))


def wavetable(amplitudes: np.ndarray) -> np.ndarray:
    """One cycle with the given sine-phase harmonic amplitudes, plus a wrap sample."""
    spectrum = np.zeros(TABLE // 2 + 1, dtype=complex)
    spectrum[1 : len(amplitudes) + 1] = -0.5j * TABLE * np.asarray(amplitudes)
    cycle = np.fft.irfft(spectrum, TABLE)
    return np.append(cycle, cycle[0])


def saw_table(freq: float, cutoff: float, order: int = 2) -> np.ndarray:
    """A sawtooth at ``freq`` through a low-pass at ``cutoff`` Hz."""
    k = np.arange(1, harmonic_count(freq) + 1)
    return wavetable(lowpass(k * freq, cutoff, order) / k)


def read(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Linearly interpolated table lookup at ``phase`` (in cycles)."""
    pos = phase * TABLE
    whole = np.floor(pos)
    pos -= whole
    index = whole.astype(np.int64) & (TABLE - 1)  # wraps: TABLE is a power of two
    lower = table[index]
    out = table[index + 1]
    out -= lower
    out *= pos
    out += lower
    return out


def phases(
    freq: float, n: int, cents: float = 0.0, wobble: float = 0.0, start: float = 0.0
) -> np.ndarray:
    """Phase in cycles of a tone detuned by ``cents``, with slow pitch wobble (in cents)."""
    ratio = 2.0 ** (cents / 1200.0)
    t = np.arange(n) / RATE
    if wobble <= 0.0:
        return start + freq * ratio * t
    drift = 2.0 ** (wobble / 1200.0 * np.sin(2 * np.pi * 0.6 * t + start * 7.0))
    return start + np.cumsum(freq * ratio * drift) / RATE


def envelope(
    t: np.ndarray, attack: float, decay: float, sustain: float, gate: float, release: float
) -> np.ndarray:
    """ADSR: linear attack, exponential decay to ``sustain``, cubic release after ``gate``."""

    def held(x):
        rise = np.clip(x / attack, 0.0, 1.0)
        return rise * (sustain + (1.0 - sustain) * np.exp(-np.maximum(x - attack, 0.0) / decay))

    env = held(np.minimum(t, gate))
    fall = np.clip((t - gate) / release, 0.0, 1.0)
    return env * (1.0 - fall) ** 3


def tail(t: np.ndarray, seconds: float) -> np.ndarray:
    """A short fade to zero over the last ``seconds`` so truncated notes never click."""
    return np.clip((t[-1] - t) / seconds, 0.0, 1.0) if len(t) else t


def piano(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """A struck string: bright hammer attack that mellows, two detuned strings beating."""
    f = hz(pitch)
    ring = float(np.clip(2.4 * (262.0 / f) ** 0.5, 0.6, 5.0))
    n = int((min(gate, 4.0 * ring) + 0.15) * RATE)
    t = np.arange(n) / RATE
    k = np.arange(1, harmonic_count(f) + 1)
    hammer = np.abs(np.sin(np.pi * k / 7.3)) + 0.15  # the strike point mutes some harmonics
    bright = wavetable(hammer / k * lowpass(k * f, 900.0 + 3500.0 * brightness, 2))
    mellow = wavetable(lowpass(k * f, 500.0 + 300.0 * brightness, 2) / k**1.5)
    attack = np.clip(t / 0.002, 0.0, 1.0)
    body = 0.55 * np.exp(-t / (0.25 * ring)) + 0.45 * np.exp(-t / ring)
    tone = read(bright, phases(f, n, 0.7)) * np.exp(-t / (0.08 + 0.1 * ring)) * 0.6
    tone += read(mellow, phases(f, n, -0.7, start=0.3)) * body
    damper = envelope(t, 1e-3, 1.0, 1.0, gate, 0.12)
    return tone * attack * damper * tail(t, 0.01)


def pad(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """Three detuned saws whose filter opens as the note swells."""
    f = hz(pitch)
    release = 1.4
    n = int((gate + release) * RATE)
    t = np.arange(n) / RATE
    cutoff = 300.0 + 3000.0 * brightness
    dark, bright = saw_table(f, 0.4 * cutoff), saw_table(f, cutoff)
    attack = min(1.2, 0.45 * gate)
    opening = np.clip(t / (attack + 0.8), 0.0, 1.0) ** 0.7
    tone = np.zeros(n)
    for cents, start in ((-9.0, 0.0), (0.0, 0.37), (8.0, 0.71)):
        phase = phases(f, n, cents, start=start)
        tone += read(dark, phase) * (1.0 - opening) + read(bright, phase) * opening
    return tone * envelope(t, attack, 1.5, 0.75, gate, release) / 3.0


def pluck(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """A plucked string or synth pluck: a quick filter snap and short decay."""
    f = hz(pitch)
    n = int((gate + 0.08) * RATE)
    t = np.arange(n) / RATE
    cutoff = 900.0 + 4000.0 * brightness
    snap = np.exp(-t / 0.04)
    phase = phases(f, n)
    # Odd harmonics only: a hollow, woody tone that stands apart from the saw pads.
    k = np.arange(1, harmonic_count(f) + 1)
    odd = (k % 2 == 1) / k
    bright = wavetable(odd * lowpass(k * f, cutoff, 2))
    dark = wavetable(odd * lowpass(k * f, 0.3 * cutoff, 2))
    tone = read(bright, phase) * snap + read(dark, phase) * (1.0 - snap)
    return tone * envelope(t, 0.002, 0.22, 0.15, gate, 0.08)


def bass(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """A round electric-style bass: fundamental plus a few soft harmonics."""
    f = hz(pitch)
    n = int((gate + 0.15) * RATE)
    t = np.arange(n) / RATE
    k = np.arange(1, harmonic_count(f) + 1)
    table = wavetable(lowpass(k * f, 250.0 + 600.0 * brightness, 2) / k)
    return read(table, phases(f, n)) * envelope(t, 0.008, 0.6, 0.6, gate, 0.15)


def lead(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """A soft, breathy flute-like lead with delayed vibrato."""
    f = hz(pitch)
    n = int((gate + 0.3) * RATE)
    t = np.arange(n) / RATE
    table = wavetable(np.array([1.0, 0.18, 0.12, 0.05, 0.03]))
    depth = 12.0 * np.clip((t - 0.35) / 0.5, 0.0, 1.0)
    vibrato = 2.0 ** (depth / 1200.0 * np.sin(2 * np.pi * 5.1 * t))
    phase = np.cumsum(f * vibrato) / RATE
    if wobble > 0.0:
        phase += phases(f, n, wobble=wobble) - f * t
    return read(table, phase) * envelope(t, 0.07, 0.4, 0.8, gate, 0.3)


def bell(pitch: int, gate: float, brightness: float, wobble: float) -> np.ndarray:
    """A music-box tine: FM with an inharmonic ratio and a fast-falling index."""
    f = hz(pitch)
    ring = float(np.clip(1.1 * (523.0 / f) ** 0.5, 0.35, 2.2))
    n = int(min(ring * 4.5, 6.0) * RATE)  # tines ring on whatever the gate
    t = np.arange(n) / RATE
    carrier = phases(f, n, wobble=wobble)
    # High tines get a gentler index so that their sidebands stay below Nyquist.
    index = (2.2 * np.exp(-t / 0.12) + 0.25) * min(1.0, 1000.0 / f)
    tone = np.sin(2 * np.pi * carrier + index * np.sin(2 * np.pi * 3.5 * carrier))
    tone += 0.3 * np.sin(2 * np.pi * 5.4 * f * t) * np.exp(-t / 0.04)  # the metallic "tink"
    return tone * np.clip(t / 0.001, 0.0, 1.0) * np.exp(-t / ring) * tail(t, 0.02)


# Every voice takes (pitch, gate seconds, brightness 0..1, wobble cents) and ignores
# what it has no use for.
VOICES: dict[str, Callable[[int, float, float, float], np.ndarray]] = {
    "piano": piano,
    "pad": pad,
    "pluck": pluck,
    "bass": bass,
    "lead": lead,
    "bell": bell,
}


def kick(rng: np.random.Generator) -> np.ndarray:
    """A soft kick: a sine swept from 140 Hz down to 48 Hz, with a little click."""
    n = int(0.45 * RATE)
    t = np.arange(n) / RATE
    freq = 48.0 + 95.0 * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.exp(-t / 0.16)
    click = filtered(rng.standard_normal(n), lambda f: lowpass(f, 3000.0)) * np.exp(-t / 0.004)
    return (body + 0.25 * click) * tail(t, 0.02)


def snare(rng: np.random.Generator) -> np.ndarray:
    """A snare: two damped drum-head modes plus band-passed noise for the wires."""
    n = int(0.35 * RATE)
    t = np.arange(n) / RATE
    head = (np.sin(2 * np.pi * 185.0 * t) + 0.5 * np.sin(2 * np.pi * 330.0 * t)) * np.exp(-t / 0.05)
    wires = filtered(rng.standard_normal(n), lambda f: highpass(f, 1200.0) * lowpass(f, 8000.0))
    return (0.6 * head + 0.5 * wires * np.exp(-t / 0.1)) * tail(t, 0.02)


def hat(rng: np.random.Generator, open_: bool = False) -> np.ndarray:
    """A hi-hat: high-passed noise with a short (closed) or longer (open) decay."""
    n = int(0.3 * RATE)
    t = np.arange(n) / RATE
    noise = filtered(rng.standard_normal(n), lambda f: highpass(f, 7000.0, 3))
    return noise * np.exp(-t / (0.11 if open_ else 0.025)) * tail(t, 0.02)
