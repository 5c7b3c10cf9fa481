"""Whole-signal processing in numpy: FFT filters, a convolution reverb, panning, a limiter.

Everything works on float64 arrays at :data:`RATE` and is vectorised: filters
multiply a spectrum by a magnitude response instead of running a recursion
sample by sample in Python.
"""

from __future__ import annotations

from filmkit.lazy import numpy as np

RATE = 44100


def lowpass(freqs: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    """Magnitude response of a Butterworth low-pass (order 1 is a one-pole)."""
    return 1.0 / np.sqrt(1.0 + (freqs / cutoff) ** (2 * order))


def highpass(freqs: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    """Magnitude response of a Butterworth high-pass."""
    ratio = np.maximum(freqs, 1e-9) / cutoff
    return 1.0 / np.sqrt(1.0 + ratio ** (-2 * order))


def filtered(signal: np.ndarray, response) -> np.ndarray:
    """``signal`` through the zero-phase filter whose magnitude is ``response(freqs)``."""
    size = len(signal)
    freqs = np.fft.rfftfreq(size, 1.0 / RATE)
    return np.fft.irfft(np.fft.rfft(signal) * response(freqs), size)


def impulse_response(rng: np.random.Generator, seconds: float, damping: float) -> np.ndarray:
    """A stereo room: sparse early reflections, then decorrelated decaying noise.

    ``seconds`` is the RT60; ``damping`` (0..1) makes highs die faster than
    lows, as air and soft walls do.
    """
    length = int(seconds * 1.1 * RATE)
    t = np.arange(length) / RATE
    tau_low = seconds / 6.9
    tau_high = tau_low * (1.0 - 0.7 * damping)
    predelay = int(0.018 * RATE)
    channels = []
    for _ in range(2):
        noise = rng.standard_normal(length)
        low = filtered(noise, lambda f: lowpass(f, 1500.0, 1))
        tail = low * np.exp(-t / tau_low) + (noise - low) * np.exp(-t / tau_high)
        tail *= np.clip(t / 0.06, 0.0, 1.0)  # the diffuse tail builds up after the reflections
        taps = rng.integers(int(0.004 * RATE), int(0.07 * RATE), size=7)
        tail[taps] += rng.uniform(0.5, 1.5, size=7) * 6.0 * np.exp(-t[taps] / 0.05)
        channel = np.concatenate([np.zeros(predelay), tail])[:length]
        channels.append(channel / np.sqrt(np.sum(channel**2)))
    return np.stack(channels, axis=1)


def convolve(signal: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Mono ``signal`` convolved with a stereo ``ir``, cut to the signal's length.

    Overlap-add in blocks at least as long as the response: several small
    FFTs that stay in cache beat one huge one.
    """
    frames, reach = len(signal), len(ir)
    nfft = 1 << (2 * reach - 1).bit_length()
    block = nfft - reach
    count = -(-frames // block)
    blocks = np.zeros((count, block))
    blocks.reshape(-1)[:frames] = signal
    spectra = np.fft.rfft(blocks, nfft, axis=1)
    out = np.empty((frames, 2))
    for c in range(2):
        pieces = np.fft.irfft(spectra * np.fft.rfft(ir[:, c], nfft), nfft, axis=1)
        summed = pieces[:, :block].copy()
        summed[1:, :reach] += pieces[:-1, block:]  # each block's tail rings into the next
        out[:, c] = summed.reshape(-1)[:frames]
    return out


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power left/right gains for ``pan`` in [-1 (left), 1 (right)]."""
    angle = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def limit(audio: np.ndarray, ceiling: float, block: int = 256) -> np.ndarray:
    """Brick-wall limit ``audio`` (samples, channels) so no sample exceeds ``ceiling``.

    Gain is computed per block and interpolated between block centres; each
    block's gain is the minimum over its neighbours, so the interpolated gain
    never exceeds what any sample needs.
    """
    frames = len(audio)
    blocks = -(-frames // block)
    padded = np.zeros((blocks * block, audio.shape[1]))
    padded[:frames] = np.abs(audio)
    peaks = padded.reshape(blocks, -1).max(axis=1)
    gain = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    reach = 3  # blocks of look-ahead and hold either side, about 17 ms
    edged = np.pad(gain, reach, mode="edge")
    gain = np.lib.stride_tricks.sliding_window_view(edged, 2 * reach + 1).min(axis=1)
    centres = np.arange(blocks) * block + block / 2.0
    curve = np.interp(np.arange(frames), centres, gain)
    return np.clip(audio * curve[:, None], -ceiling, ceiling)
