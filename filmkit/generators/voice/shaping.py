"""Post-processing shared by the voice backends: pitch, tempo, trim, level, WAV out.

Every voice backend hands its raw mono float audio to :func:`shape_speech`,
so all voices leave filmkit with the same framing (a short, exact pad of
silence at each end) and the same peak level, whatever engine made them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

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
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio
    loud = np.flatnonzero(np.abs(audio) >= peak * 10.0 ** (SILENCE_DB / 20.0))
    first, last = int(loud[0]), int(loud[-1]) + 1
    pad_n = round(pad * rate)
    # Keep the file's own quiet lead-in and tail where it has them (soft onsets,
    # breaths); only top up with zeros where it has less than the pad.
    start, end = max(0, first - pad_n), min(audio.size, last + pad_n)
    head = np.zeros(pad_n - (first - start), dtype=audio.dtype)
    tail = np.zeros(pad_n - (end - last), dtype=audio.dtype)
    return np.concatenate([head, audio[start:end], tail])


def normalise_peak(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale so the loudest sample sits at ``peak_dbfs``."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio
    return audio * np.float32(10.0 ** (peak_dbfs / 20.0) / peak)


def shape_speech(
    audio: np.ndarray,
    rate: int,
    path: Path,
    *,
    semitones: float = 0.0,
    formant: Formant = "shifted",
    tempo: float = 1.0,
) -> float:
    """Shift, trim and level raw speech, write it to ``path`` as mono 16-bit WAV.

    Returns the duration written, in seconds.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not audio.size or not np.any(audio):
        raise GeneratorError("the voice backend produced only silence")
    audio = shift_pitch(audio, rate, semitones=semitones, formant=formant, tempo=tempo)
    audio = normalise_peak(trim_silence(audio, rate))
    write_wav(path, audio, rate)
    return audio.size / rate
