"""A seeded procedural score: the offline default music of a film.

The piece is composed by :mod:`~filmkit.generators.music.score` (harmony,
bass, accompaniment, melody, drums) and played here by the voices of
:mod:`~filmkit.generators.music.synth` into a stereo mix with a convolution
reverb, a master fade and a brick-wall limiter. Only numpy is used; one
``np.random.default_rng(seed)`` drives every choice, so the same seed, params
and duration give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.generators.base import Generator, Request
from filmkit.generators.music.effects import RATE, convolve, impulse_response, limit, pan_gains
from filmkit.generators.music.score import Score, Style, compose
from filmkit.generators.music.synth import VOICES, hat, kick, snare
from filmkit.generators.music.theory import MODES, Scale, mode_name, pitch_class
from filmkit.lazy import numpy as np
from filmkit.media import write_wav

DEFAULT_DURATION = 30.0
CEILING_DB = -1.2
LOUDNESS_DB = -18.0  # RMS before the limiter: room for dialogue over it

Mood = Literal["melancholy", "tense", "hopeful", "whimsical", "eerie"]
Mode = Literal[
    "major",
    "minor",
    "ionian",
    "dorian",
    "phrygian",
    "lydian",
    "mixolydian",
    "aeolian",
    "locrian",
    "harmonic_minor",
]
Texture = Literal["piano", "pad", "pulse", "music_box"]


@dataclass(frozen=True)
class MoodPreset:
    """What a mood means musically: the defaults a spec may override, and the rest."""

    mode: str
    tempo: float
    texture: str
    drums: bool
    swing: float
    progressions: tuple[tuple[int, ...], ...]  # scale degrees, 0 = tonic
    sevenths: float
    density: str
    brightness: float
    wobble: float
    reverb: float  # RT60 in seconds
    wet: float


MOODS: dict[str, MoodPreset] = {
    # i-VI-III-VII, i-iv-VI-v, VI-VII-i, i-VII-VI-v, i-v-VI-iv: bittersweet minor.
    "melancholy": MoodPreset(
        mode="aeolian",
        tempo=72,
        texture="piano",
        drums=False,
        swing=0.0,
        progressions=((0, 5, 2, 6), (0, 3, 5, 4), (5, 6, 0, 0), (0, 6, 5, 4), (0, 4, 5, 3)),
        sevenths=0.5,
        density="medium",
        brightness=0.45,
        wobble=0.0,
        reverb=2.4,
        wet=0.5,
    ),
    # Phrygian's flat second against the tonic is the sound of something wrong.
    "tense": MoodPreset(
        mode="phrygian",
        tempo=104,
        texture="pulse",
        drums=True,
        swing=0.0,
        progressions=((0, 1, 0, 1), (0, 5, 1, 0), (0, 0, 5, 1), (0, 3, 1, 0)),
        sevenths=0.0,
        density="sparse",
        brightness=0.55,
        wobble=0.0,
        reverb=1.4,
        wet=0.4,
    ),
    # I-V-vi-IV and friends, under a slow swell.
    "hopeful": MoodPreset(
        mode="ionian",
        tempo=84,
        texture="pad",
        drums=False,
        swing=0.0,
        progressions=((0, 4, 5, 3), (3, 0, 4, 5), (0, 2, 3, 4), (5, 3, 0, 4), (0, 3, 5, 4)),
        sevenths=0.35,
        density="medium",
        brightness=0.8,
        wobble=0.0,
        reverb=3.0,
        wet=0.75,
    ),
    # Lydian's raised fourth (I-II) is the classic sound of cartoon innocence.
    "whimsical": MoodPreset(
        mode="lydian",
        tempo=112,
        texture="music_box",
        drums=True,
        swing=0.35,
        progressions=((0, 1, 0, 1), (0, 1, 5, 4), (0, 5, 1, 4), (0, 2, 1, 4)),
        sevenths=0.2,
        density="busy",
        brightness=0.6,
        wobble=0.0,
        reverb=1.6,
        wet=0.5,
    ),
    # Harmonic minor's augmented III and diminished chords, on a music box out of tune.
    "eerie": MoodPreset(
        mode="harmonic_minor",
        tempo=60,
        texture="music_box",
        drums=False,
        swing=0.0,
        progressions=((0, 2, 0, 5), (0, 5, 1, 4), (0, 3, 6, 0), (0, 6, 5, 4)),
        sevenths=0.3,
        density="sparse",
        brightness=0.3,
        wobble=18.0,
        reverb=3.8,
        wet=0.9,
    ),
}

# Per-voice mix: level (linear, at full velocity) and reverb send.
LEVELS = {
    "piano": 0.32,
    "pad": 0.33,
    "pluck": 0.33,
    "bass": 0.3,
    "lead": 0.28,
    "bell": 0.22,
    "kick": 0.55,
    "snare": 0.8,
    "hat": 0.4,
    "open_hat": 0.3,
}
SENDS = {
    "piano": 0.35,
    "pad": 0.5,
    "pluck": 0.3,
    "bass": 0.04,
    "lead": 0.45,
    "bell": 0.5,
    "kick": 0.03,
    "snare": 0.2,
    "hat": 0.12,
    "open_hat": 0.15,
}


class Params(BaseModel):
    """Params of the procedural score; fields left unset take the mood's defaults."""

    model_config = ConfigDict(extra="forbid")

    mood: Mood = Field(
        "melancholy",
        description="Overall character; sets the default mode, tempo, chord progressions "
        "and instrumentation.",
    )
    tempo: float | None = Field(
        None, ge=40, le=200, description="Beats per minute (default: the mood's tempo)."
    )
    key: str = Field(
        "D", pattern=r"^[A-G][#b]?$", description="Tonic note, e.g. 'D', 'F#' or 'Bb'."
    )
    mode: Mode | None = Field(
        None, description="Scale mode, e.g. 'minor', 'dorian', 'lydian' (default: the mood's)."
    )
    texture: Texture | None = Field(
        None,
        description="Instrumentation: 'piano' (broken chords), 'pad' (slow detuned saws), "
        "'pulse' (ostinato and percussion) or 'music_box' (FM bells); default: the mood's.",
    )
    drums: bool | None = Field(
        None, description="Whether a drum kit plays (default: the mood's choice)."
    )
    swing: float | None = Field(
        None, ge=0, le=1, description="Swing of off-beat 8ths, 0 straight to 1 triplet."
    )
    gain_db: float = Field(
        0.0,
        ge=-60,
        le=12,
        description="Level change in dB; the limiter still keeps peaks below -1 dBFS.",
    )


def resolve(params: Params) -> tuple[Style, MoodPreset]:
    """The composer's style for ``params``, filling gaps from the mood preset."""
    preset = MOODS[params.mood]
    mode = mode_name(params.mode or preset.mode)
    style = Style(
        scale=Scale(pitch_class(params.key), MODES[mode]),
        mode=mode,
        tempo=float(params.tempo if params.tempo is not None else preset.tempo),
        texture=params.texture or preset.texture,
        drums=preset.drums if params.drums is None else params.drums,
        swing=preset.swing if params.swing is None else params.swing,
        progressions=preset.progressions,
        sevenths=preset.sevenths,
        density=preset.density,
        brightness=preset.brightness,
        wobble=preset.wobble,
    )
    return style, preset


def perform(score: Score, style: Style, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Play every note of ``score``: the dry stereo mix and the mono reverb send."""
    frames = int(round(score.duration * RATE))
    room = frames + 7 * RATE  # notes that ring past the end are cut by the fade
    dry = np.zeros((room, 2))
    send = np.zeros(room)
    drums = {
        "kick": [kick(rng) for _ in range(2)],
        "snare": [snare(rng) for _ in range(3)],
        "hat": [hat(rng) for _ in range(4)],
        "open_hat": [hat(rng, open_=True) for _ in range(2)],
    }
    rendered: dict[tuple, np.ndarray] = {}
    for i, note in enumerate(score.notes):
        if note.voice in drums:
            variants = drums[note.voice]
            sound = variants[i % len(variants)]
        else:
            # Quantised so that repeated notes share one render.
            gate = round(note.gate * 50) / 50
            bright = style.brightness
            if note.voice == "piano":
                bright = round(0.2 + 0.7 * note.velocity, 1)  # struck harder, sounds brighter
            key = (note.voice, note.pitch, gate, bright)
            if key not in rendered:
                rendered[key] = VOICES[note.voice](note.pitch, gate, bright, style.wobble)
            sound = rendered[key]
        start = int(round(note.time * RATE))
        sound = sound[: room - start] * (LEVELS[note.voice] * note.velocity**1.5)
        end = start + len(sound)
        left, right = pan_gains(note.pan)
        dry[start:end, 0] += left * sound
        dry[start:end, 1] += right * sound
        send[start:end] += SENDS[note.voice] * sound
    return dry[:frames], send[:frames]


def master(mix: np.ndarray, score: Score, gain_db: float) -> np.ndarray:
    """Set the level, fade the final chord out, and limit peaks below the ceiling."""
    frames = len(mix)
    rms = float(np.sqrt(np.mean(mix**2))) or 1.0
    mix = mix * (10 ** ((LOUDNESS_DB + gain_db) / 20) / rms)
    last_bar = score.duration - score.beats[-4]
    fade = int(min(0.6 * last_bar, 2.5) * RATE)
    x = np.linspace(0.0, 1.0, fade)
    mix[frames - fade :] *= (0.5 * (1.0 + np.cos(np.pi * x)))[:, None]
    attack = min(frames, int(0.005 * RATE))
    mix[:attack] *= np.linspace(0.0, 1.0, attack)[:, None]
    return limit(mix, 10 ** (CEILING_DB / 20))


class ProceduralScore(Generator):
    """Seeded, synthesized film music: chords, bass, melody and rhythm in a chosen mood."""

    kind = "music"
    name = "procedural"
    version = "1"
    Params = Params
    outputs = {"audio": ".wav"}
    licence = "GPL-3.0-or-later (procedural, no samples or training data)"

    def generate(self, request: Request) -> Mapping[str, Any]:
        """Compose and render the piece to ``request.outputs['audio']``; return its timing."""
        params = request.params
        assert isinstance(params, Params)
        style, preset = resolve(params)
        duration = DEFAULT_DURATION if request.duration is None else request.duration
        rng = np.random.default_rng(request.seed & (2**64 - 1))
        score = compose(style, duration, rng)
        request.progress(0.1)
        dry, send = perform(score, style, rng)
        request.progress(0.6)
        wet = convolve(send, impulse_response(rng, preset.reverb, 0.6))
        audio = master(dry + preset.wet * wet, score, params.gain_db)
        write_wav(request.outputs["audio"], audio, RATE)
        request.progress(1.0)
        return {
            "duration": round(len(audio) / RATE, 6),
            "tempo": style.tempo,
            "key": params.key,
            "mode": style.mode,
            "bars": score.bars,
            "beats": score.beats,
            "mood": params.mood,
            "texture": style.texture,
        }
