"""Sound effects and ambience, synthesised offline: the default of ``sound`` steps.

Each effect is a small physical sketch in numpy, played into the same
convolution room as the score (:mod:`filmkit.generators.music.effects`):

* ``chime``: the two-note "ding-dong" of a public-address system, struck
  bars with inharmonic partials that ring out;
* ``room_tone``: the sound of an empty room: soft brown noise (air,
  ventilation) with the buzz of fluorescent tubes at twice the mains
  frequency and its harmonics;
* ``footsteps``: heel-and-toe thumps at a walking pace, each one a little
  different;
* ``knock``: knuckles on a wooden door, in a rhythm.

One seeded ``np.random.default_rng`` drives every choice, so the same seed,
params and length give the same bytes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.generators.base import Generator, Request
from filmkit.generators.music.effects import (
    RATE,
    convolve,
    filtered,
    highpass,
    impulse_response,
    limit,
    lowpass,
)
from filmkit.lazy import numpy as np
from filmkit.media import write_wav

Effect = Literal["chime", "room_tone", "footsteps", "knock"]


class SoundParams(BaseModel):
    """Params of the procedural sound effects."""

    model_config = ConfigDict(extra="forbid")

    effect: Effect = Field("chime", description="chime, room_tone, footsteps or knock")
    pitch: float = Field(0.0, ge=-12.0, le=12.0, description="semitones up or down (chime, knock)")
    mains: Literal[50, 60] = Field(50, description="mains frequency in Hz (room_tone's hum)")
    hum: float = Field(0.5, ge=0.0, le=1.0, description="how loud the fluorescent buzz is")
    pace: float = Field(1.8, gt=0.2, le=5.0, description="steps or knocks per second")
    room: float = Field(0.6, ge=0.0, le=3.0, description="reverb time of the room in seconds")
    level_db: float = Field(-6.0, le=0.0, description="peak level of the effect in dBFS")


def _chime(rng: np.random.Generator, n: int, params: SoundParams) -> np.ndarray:
    base = 659.25 * 2.0 ** (params.pitch / 12.0)  # E5, then C5: the classic falling third
    out = np.zeros(n)
    for start, freq in ((0.0, base), (0.55, base * 0.7937)):
        first = int(start * RATE)
        if first >= n:
            break
        t = np.arange(n - first) / RATE
        # A struck bar: partials at 1, 2.76 and 5.40 times the note, highs dying fastest.
        decays = sum(
            amp
            * np.sin(2 * np.pi * freq * ratio * t + rng.uniform(0, 2 * np.pi))
            * np.exp(-t / decay)
            for ratio, amp, decay in ((1.0, 1.0, 1.6), (2.756, 0.45, 0.5), (5.404, 0.2, 0.18))
        )
        strike = np.clip(t / 0.002, 0.0, 1.0)
        out[first:] += decays * strike
    return out


def _room_tone(rng: np.random.Generator, n: int, params: SoundParams) -> np.ndarray:
    t = np.arange(n) / RATE
    air = np.cumsum(rng.standard_normal(n))  # brown noise: the rumble of a building
    air = filtered(air, lambda f: highpass(f, 40.0) * lowpass(f, 900.0))
    air /= np.max(np.abs(air)) + 1e-12
    buzz_freq = 2.0 * params.mains  # a tube flickers at twice the mains frequency
    buzz = sum(
        np.sin(2 * np.pi * buzz_freq * k * t + rng.uniform(0, 2 * np.pi)) / k**1.5
        for k in range(1, 12)
    )
    buzz *= 1.0 + 0.15 * np.sin(2 * np.pi * 0.13 * t)  # it drifts
    return 0.8 * air + 0.12 * params.hum * buzz


def _impacts(rng: np.random.Generator, n: int, pace: float, make: Any, jitter: float) -> np.ndarray:
    out = np.zeros(n)
    clock = 0.05
    while clock * RATE < n:
        hit = make(rng)
        first = int(clock * RATE)
        out[first : first + hit.size] += hit[: n - first]
        clock += (1.0 / pace) * rng.uniform(1.0 - jitter, 1.0 + jitter)
    return out


def _step(rng: np.random.Generator) -> np.ndarray:
    size = int(0.25 * RATE)
    t = np.arange(size) / RATE
    heel = filtered(rng.standard_normal(size), lambda f: lowpass(f, 600.0, 2)) * np.exp(-t / 0.02)
    toe_at = int(rng.uniform(0.06, 0.09) * RATE)
    toe = np.zeros(size)
    scuff = filtered(rng.standard_normal(size - toe_at), lambda f: highpass(f, 1500.0))
    toe[toe_at:] = 0.3 * scuff * np.exp(-t[: size - toe_at] / 0.015)
    return rng.uniform(0.7, 1.0) * (heel + toe)


def _knuckle(pitch: float) -> Any:
    def make(rng: np.random.Generator) -> np.ndarray:
        size = int(0.2 * RATE)
        t = np.arange(size) / RATE
        wood = 180.0 * 2.0 ** (pitch / 12.0) * rng.uniform(0.97, 1.03)
        body = np.sin(2 * np.pi * wood * t) + 0.5 * np.sin(2 * np.pi * wood * 2.3 * t)
        tap = filtered(rng.standard_normal(size), lambda f: lowpass(f, 2500.0))
        return rng.uniform(0.8, 1.0) * (body * np.exp(-t / 0.03) + 0.6 * tap * np.exp(-t / 0.004))

    return make


def synthesise(params: SoundParams, seconds: float, seed: int) -> np.ndarray:
    """The effect as stereo float audio at :data:`RATE`, peak at ``level_db``."""
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds * RATE))
    if params.effect == "chime":
        dry = _chime(rng, n, params)
    elif params.effect == "room_tone":
        dry = _room_tone(rng, n, params)
    elif params.effect == "footsteps":
        dry = _impacts(rng, n, params.pace, _step, 0.08)
    else:
        dry = _impacts(rng, n, params.pace, _knuckle(params.pitch), 0.15)
    if params.room > 0:
        wet = convolve(dry, impulse_response(rng, params.room, 0.5))
        audio = np.stack([dry, dry], axis=1) + 0.35 * wet * np.sqrt(RATE * params.room) / 40
    else:
        audio = np.stack([dry, dry], axis=1)
    fade = min(n // 2, int(0.01 * RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)[:, None]
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(audio))) or 1.0
    ceiling = 10.0 ** (params.level_db / 20.0)
    return limit(audio * (ceiling / peak), ceiling)


class ProceduralSound(Generator):
    """Offline sound effects and ambience: chime, room tone, footsteps, knocks."""

    kind = "sound"
    name = "procedural"
    version = "1"
    Params = SoundParams
    outputs: ClassVar[dict[str, str]] = {"audio": ".wav"}
    licence = "filmkit (GPL-3.0-or-later); the sounds it makes are yours"

    def generate(self, request: Request) -> dict[str, Any]:
        """Write ``request.duration`` seconds of the effect to ``outputs["audio"]``."""
        params = request.params
        assert isinstance(params, SoundParams)
        seconds = request.duration if request.duration else 4.0
        audio = synthesise(params, seconds, request.seed)
        write_wav(request.outputs["audio"], audio, RATE)
        return {"duration": round(audio.shape[0] / RATE, 6), "effect": params.effect}
