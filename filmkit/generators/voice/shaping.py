"""Post-processing shared by the voice backends: pitch, tempo, trim, level, WAV out.

Every voice backend hands its raw mono float audio to :func:`shape_speech`,
so all voices leave filmkit with the same framing (a short, exact pad of
silence at each end), the same peak level and the same timings file,
whatever engine made them.

The timings file (a voice step's ``timings`` output) is JSON with times in
seconds from the start of the written WAV::

    {"duration": 1.9,                              # length of the WAV
     "onset": 0.06, "offset": 1.84,               # first and last audible sample
     "segments": [{"start": 0.06, "end": 0.91}, ...],  # runs of speech between pauses
     "words": [{"start": 0.06, "end": 0.31, "text": "Hello"}, ...],
     "phonemes": [{"start": 0.06, "end": 0.12, "text": "h"}, ...],
     "source": "envelope" | "speech-marks" | "piper-alignments" | ...}

``segments`` always come from the audio envelope; ``words`` and ``phonemes``
only where the engine reports them (Polly speech marks, piper alignments),
else empty lists. Subtitles take
their start from ``onset``; the mix ducks under the segments.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filmkit.errors import GeneratorError
from filmkit.lazy import numpy as np
from filmkit.media import run_ffmpeg, write_wav

# How far the formants (the vocal tract's resonances: the speaker's size) move
# with a pitch shift: all the way, not at all, or by a number of semitones.
Formant = Literal["preserved", "shifted"] | float

PAD_SECONDS = 0.06
PEAK_DBFS = -3.0
# Samples quieter than this (relative to the loudest one) count as silence.
SILENCE_DB = -40.0
# Less audio than this from a speech service is no speech (moto answers with 8 bytes).
MIN_SPEECH_SECONDS = 0.05
# Raw speech whose loudest sample is below this (-60 dBFS) is silence.
SILENT_PEAK = 1e-3
# Envelope segmentation: 10 ms frames; a pause is at least this long.
FRAME_SECONDS = 0.01
PAUSE_SECONDS = 0.18


# The vocabulary of directions voices understand ("(whispering, slowly)").
WHISPER = {"whisper", "whispers", "whispered", "whispering"}
SOFT = {"soft", "softly", "quiet", "quietly", "hushed", "gently", "murmuring", "murmurs"}
LOUD = {"loud", "loudly", "shout", "shouts", "shouted", "shouting", "yelling", "yells"}
SLOW = {"slow", "slowly", "haltingly"}
FAST = {"quick", "quickly", "fast", "rapidly", "hurriedly", "hurried"}
SLOWER, FASTER = 0.8, 1.25
# Levels of quiet deliveries, in dB under a plain line's.
SOFT_DB, WHISPER_DB = -6.0, -10.0


@dataclass
class Direction:
    """What a direction asks of a voice: a whisper, a volume, a pace; and what it could not read."""

    whisper: bool = False
    volume: str | None = None  # "soft" or "loud"
    tempo: float = 1.0
    unknown: list[str] = field(default_factory=list)


def read_direction(direction: str) -> Direction:
    """Parse a screenplay direction ("whispering, slowly") into what voices can act on."""
    found = Direction()
    for phrase in re.split(r"[,;/]|\band\b|\bthen\b", direction.lower()):
        words = set(re.findall(r"[a-z]+", phrase))
        if not words:
            continue
        understood = bool(words & (WHISPER | SOFT | LOUD | SLOW | FAST))
        found.whisper |= bool(words & WHISPER)
        if words & SOFT:
            found.volume = "soft"
        if words & LOUD:
            found.volume = "loud"
        if words & SLOW:
            found.tempo *= SLOWER
        if words & FAST:
            found.tempo *= FASTER
        if not understood:
            found.unknown.append(phrase.strip())
    return found


def direction_level(direction: str) -> float:
    """The level a direction asks for, in dB under a plain line (whispers and soft lines).

    Every voice is levelled to the same peak; this keeps a quiet delivery quiet.
    """
    parsed = read_direction(direction)
    if parsed.whisper:
        return WHISPER_DB
    return SOFT_DB if parsed.volume == "soft" else 0.0


def offline_delivery(direction: str, engine: str) -> tuple[float, float, list[str]]:
    """How an offline voice acts on a direction: (tempo factor, level in dB, warnings).

    It changes pace and level; it cannot whisper or shout, so a whisper is
    spoken quietly and a shout at full level, and the warnings say so.
    """
    parsed = read_direction(direction)
    level, warnings = direction_level(direction), []
    if parsed.whisper:
        warnings.append(f"{engine} cannot whisper; the line is spoken quietly instead")
    elif parsed.volume == "loud":
        warnings.append(f"{engine} cannot raise its voice; the line is spoken at full level")
    warnings += [f"direction {p!r} means nothing to {engine}; ignored" for p in parsed.unknown]
    return parsed.tempo, level, warnings


@dataclass(frozen=True)
class Word:
    """A word the engine reported, timed in seconds of its raw audio."""

    start: float
    end: float
    text: str


def shift_pitch(
    audio: np.ndarray,
    rate: int,
    *,
    semitones: float = 0.0,
    formant: Formant = "shifted",
    tempo: float = 1.0,
) -> np.ndarray:
    """Shift pitch by ``semitones`` and speed up by ``tempo`` with ffmpeg's rubberband."""
    if formant == "shifted":
        moved = semitones
    elif formant == "preserved":
        moved = 0.0
    else:
        moved = float(formant)
    if semitones == 0.0 and moved == 0.0 and tempo == 1.0:
        return audio
    # rubberband either moves the formants with the pitch or keeps them; a
    # partial move is a formant-moving shift followed by a formant-keeping one.
    stages = []
    if moved != 0.0:
        stages.append(stretch(moved, 1.0, "shifted"))
    if semitones != moved or tempo != 1.0:
        stages.append(stretch(semitones - moved, tempo, "preserved"))
    with tempfile.TemporaryDirectory(prefix="filmkit-voice-") as tmp:
        source, shaped = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        # Raw float32 in and out: no 16-bit rounding before the final write.
        audio.astype("<f4").tofile(source)
        raw = ["-f", "f32le", "-ar", str(rate), "-ac", "1"]
        run_ffmpeg([*raw, "-i", str(source), "-af", ",".join(stages), *raw, str(shaped)])
        return np.fromfile(shaped, dtype="<f4")


def stretch(semitones: float, tempo: float, formant: str) -> str:
    """One ffmpeg rubberband filter: pitch in semitones, tempo as a factor."""
    ratio = 2.0 ** (semitones / 12.0)
    return f"rubberband=pitch={ratio:.6f}:tempo={tempo:.6f}:formant={formant}:pitchq=quality"


def trim_silence(audio: np.ndarray, rate: int, pad: float = PAD_SECONDS) -> np.ndarray:
    """Cut leading and trailing silence, leaving exactly ``pad`` seconds at each end."""
    return trim_silence_shift(audio, rate, pad)[0]


def trim_silence_shift(
    audio: np.ndarray, rate: int, pad: float = PAD_SECONDS
) -> tuple[np.ndarray, int]:
    """:func:`trim_silence`, plus how many samples later everything now sits."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio, 0
    loud = np.flatnonzero(np.abs(audio) >= peak * 10.0 ** (SILENCE_DB / 20.0))
    first, last = int(loud[0]), int(loud[-1]) + 1
    pad_n = round(pad * rate)
    # Keep the file's own quiet lead-in and tail where it has them (soft onsets,
    # breaths); only top up with zeros where it has less than the pad.
    start, end = max(0, first - pad_n), min(audio.size, last + pad_n)
    head = np.zeros(pad_n - (first - start), dtype=audio.dtype)
    tail = np.zeros(pad_n - (end - last), dtype=audio.dtype)
    return np.concatenate([head, audio[start:end], tail]), head.size - start


def normalise_peak(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale so the loudest sample sits at ``peak_dbfs``."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio
    return audio * np.float32(10.0 ** (peak_dbfs / 20.0) / peak)


def speech_timings(
    audio: np.ndarray,
    rate: int,
    words: Sequence[Word] = (),
    source: str = "envelope",
    phonemes: Sequence[Word] = (),
) -> dict[str, Any]:
    """Onset, offset and speech segments of ``audio`` from its envelope, plus engine timings."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    frame = max(1, round(FRAME_SECONDS * rate))
    count = audio.size // frame
    levels = np.sqrt(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    segments: list[dict[str, float]] = []
    onset = offset = 0.0
    if peak > 0.0 and count:
        loud = np.flatnonzero(np.abs(audio) >= peak * 10.0 ** (SILENCE_DB / 20.0))
        onset, offset = loud[0] / rate, (loud[-1] + 1) / rate
        # A frame speaks when its RMS is within 30 dB of the loudest frame's.
        speaking = levels >= levels.max() * 10.0 ** (-30.0 / 20.0)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], speaking.astype(np.int8), [0]])))
        gap = round(PAUSE_SECONDS / FRAME_SECONDS)
        for first, last in zip(edges[::2], edges[1::2], strict=True):
            if segments and first - round(segments[-1]["end"] / FRAME_SECONDS) < gap:
                segments[-1]["end"] = last * FRAME_SECONDS
            else:
                segments.append({"start": first * FRAME_SECONDS, "end": last * FRAME_SECONDS})
        segments = [
            {"start": round(max(s["start"], onset), 4), "end": round(min(s["end"], offset), 4)}
            for s in segments
        ]
    return {
        "duration": round(audio.size / rate, 6),
        "onset": round(onset, 4),
        "offset": round(offset, 4),
        "segments": segments,
        "words": _timed(words),
        "phonemes": _timed(phonemes),
        "source": source if words or phonemes else "envelope",
    }


def _timed(items: Sequence[Word]) -> list[dict[str, Any]]:
    return [{"start": round(w.start, 4), "end": round(w.end, 4), "text": w.text} for w in items]


def write_timings(path: Path, timings: Mapping[str, Any]) -> None:
    """Write a voice step's timings JSON (see the module docstring)."""
    path.write_text(json.dumps(timings, sort_keys=True), encoding="utf-8")


def read_timings(path: Path) -> dict[str, Any]:
    """Read a timings file written by :func:`write_timings`."""
    return json.loads(path.read_text(encoding="utf-8"))


def decode_pcm16(data: bytes, rate: int, who: str, advice: str = "") -> np.ndarray:
    """A speech service's raw 16-bit little-endian mono PCM as float audio; refuse silence.

    ``who`` names the service and voice in the error, ``advice`` is appended to it.
    """
    usable = len(data) - len(data) % 2
    audio = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if audio.size < MIN_SPEECH_SECONDS * rate or not np.any(audio):
        raise GeneratorError(
            f"{who} returned no usable speech ({len(data)} bytes of audio, silent or too "
            f"short){advice}"
        )
    return audio


def shape_speech(
    audio: np.ndarray,
    rate: int,
    outputs: Mapping[str, Path],
    *,
    semitones: float = 0.0,
    formant: Formant = "shifted",
    tempo: float = 1.0,
    words: Sequence[Word] = (),
    source: str = "envelope",
    phonemes: Sequence[Word] = (),
    level_db: float = 0.0,
) -> float:
    """Shift, trim and level raw speech; write ``outputs["audio"]`` and ``outputs["timings"]``.

    The audio is mono 16-bit WAV, its peak ``level_db`` from the common level
    (a quiet delivery sits lower). ``words`` and ``phonemes`` are timed on the
    raw audio; they are moved with the tempo change and the trim. Returns the
    duration written, in seconds.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size < rate // 20 or float(np.max(np.abs(audio))) < SILENT_PEAK:
        raise GeneratorError(
            f"the voice came back silent ({audio.size / rate:.2f}s of audio, nothing audible)"
        )
    audio = shift_pitch(audio, rate, semitones=semitones, formant=formant, tempo=tempo)
    trimmed, shift = trim_silence_shift(audio, rate)
    audio = normalise_peak(trimmed, PEAK_DBFS + level_db)
    write_wav(outputs["audio"], audio, rate)
    duration = audio.size / rate

    def move(items: Sequence[Word]) -> list[Word]:
        def place(t: float) -> float:
            return min(max(t / tempo + shift / rate, 0.0), duration)

        return [Word(place(w.start), place(w.end), w.text) for w in items]

    timings = speech_timings(audio, rate, move(words), source, move(phonemes))
    write_timings(outputs["timings"], timings)
    return duration
