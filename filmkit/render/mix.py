"""The sound of the film: three stems (dialogue, music, effects) and the master mix.

Each stem is its own cached step, laid out on the clock the timeline step
wrote; the mix reads the three stems and the speech timeline, ducks the
music under the speech, applies the stem gains, normalises the loudness to
the film's target and keeps the true peak under its ceiling.

Audio is float32 numpy ``(samples, 2)`` at the mix rate, so gains, ducking
curves and the limiter work without rounding to 16 bits between stages.
User files (mp3, flac, ogg, any WAV) are decoded by imageio-ffmpeg's binary;
scipy's polyphase filter resamples the voices.
"""

from __future__ import annotations

import json
import math
import tempfile
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np
from filmkit.media import read_wav, run_ffmpeg, write_wav
from filmkit.render import loudness
from filmkit.render.checks import settle

DUCK_ATTACK = 0.12
DUCK_RELEASE = 0.45
LOOP_CROSSFADE = 1.0
CLIP_LEVEL = 0.999


def load_audio(path: Path, rate: int) -> np.ndarray:
    """Any audio file as float32 stereo at ``rate``."""
    try:
        audio, source_rate = read_wav(path)
    except (MediaError, EOFError, wave.Error):
        audio, source_rate = _decode(path, rate)  # not 16-bit PCM WAV: ffmpeg reads it
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    audio = audio[:, :2]
    if source_rate != rate:
        from scipy.signal import resample_poly

        ratio = Fraction(rate, source_rate)
        audio = resample_poly(audio, ratio.numerator, ratio.denominator, axis=0)
    return audio.astype(np.float32)


def _decode(path: Path, rate: int) -> tuple[np.ndarray, int]:
    # Through a 16-bit WAV in its own channel layout: asked for stereo, ffmpeg would
    # upmix a mono file at -3 dB.
    with tempfile.TemporaryDirectory(prefix="filmkit-audio-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        try:
            run_ffmpeg(["-i", str(path), "-vn", "-acodec", "pcm_s16le", "-ar", str(rate), str(wav)])
        except MediaError as exc:
            raise MediaError(f"cannot read audio file {path.name}: {exc}") from None
        return read_wav(wav)


def _samples(seconds: float, rate: int) -> int:
    return max(0, round(seconds * rate))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def place(bed: np.ndarray, audio: np.ndarray, at: int) -> None:
    """Add ``audio`` into ``bed`` starting at sample ``at``, cut at the bed's end."""
    if at >= bed.shape[0] or audio.size == 0:
        return
    end = min(bed.shape[0], at + audio.shape[0])
    bed[at:end] += audio[: end - at]


def fades(audio: np.ndarray, rate: int, fade_in: float, fade_out: float) -> np.ndarray:
    """Equal-power fades at both ends."""
    audio = audio.copy()
    for seconds, head in ((fade_in, True), (fade_out, False)):
        n = min(_samples(seconds, rate), audio.shape[0])
        if n:
            ramp = np.sin(np.linspace(0.0, np.pi / 2, n, dtype=np.float32))
            if head:
                audio[:n] *= ramp[:, None]
            else:
                audio[-n:] *= ramp[::-1, None]
    return audio


def fit(audio: np.ndarray, length: int, rate: int, *, loop: bool) -> np.ndarray:
    """Cut ``audio`` to ``length`` samples; loop it with crossfades when it is shorter."""
    if audio.shape[0] >= length or not loop or audio.shape[0] < rate // 2:
        return audio[:length]
    overlap = min(_samples(LOOP_CROSSFADE, rate), audio.shape[0] // 4)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, overlap, dtype=np.float32))[:, None]
    out = audio.copy()
    while out.shape[0] < length:
        joined = out[-overlap:] * ramp[::-1] + audio[:overlap] * ramp
        out = np.concatenate([out[:-overlap], joined, audio[overlap:]])
    return out[:length]


# -- stems -----------------------------------------------------------------


def dialogue_stem(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Every line at its place on the film clock."""
    rate = params["rate"]
    speech = _read_json(inputs["speech"])
    bed = np.zeros((_samples(speech["duration"], rate), 2), dtype=np.float32)
    for line in speech["lines"]:
        audio = load_audio(inputs[f"line:{line['shot']}:{line['line']}"], rate)
        place(bed, audio, _samples(line["start"], rate))
    write_wav(out, bed, rate)
    return {"lines": len(speech["lines"]), **_stem_facts(bed, rate)}


def music_stem(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Every cue over its span of shots: fitted, faded, at its gain; cues crossfade."""
    rate = params["rate"]
    clock = _read_json(inputs["shots"])
    total = _samples(clock["duration"], rate)
    bed = np.zeros((total, 2), dtype=np.float32)
    for cue in params["cues"]:
        audio = load_audio(inputs[f"cue:{cue['id']}"], rate)
        if cue["trim"]:
            audio = audio[_samples(cue["trim"][0], rate) : _samples(cue["trim"][1], rate)]
        start, end = cue_span(clock, cue)
        length = min(_samples(end, rate), total) - _samples(start, rate)
        audio = fit(audio, length, rate, loop=cue["loop"])
        audio = fades(audio, rate, cue["fade_in"], cue["fade_out"])
        place(bed, audio * np.float32(10 ** (cue["gain_db"] / 20)), _samples(start, rate))
    write_wav(out, bed, rate)
    return {"cues": len(params["cues"]), **_stem_facts(bed, rate)}


def effects_stem(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Every sound effect and ambience at its place in its shot."""
    rate = params["rate"]
    clock = _read_json(inputs["shots"])
    bed = np.zeros((_samples(clock["duration"], rate), 2), dtype=np.float32)
    for sound in params["sounds"]:
        shot, last = clock["shots"][sound["shot"]], clock["shots"][sound["until"]]
        start = shot["start"] + sound["at"]
        audio = load_audio(inputs[f"sound:{sound['shot']}:{sound['index']}"], rate)
        end = last["start"] + last["duration"]
        if sound["loop"]:
            audio = fit(audio, _samples(end - start, rate), rate, loop=True)
        elif sound["until"] != sound["shot"]:
            audio = audio[: _samples(end - start, rate)]
        audio = fades(audio, rate, sound["fade_in"], sound["fade_out"])
        place(bed, audio * np.float32(10 ** (sound["gain_db"] / 20)), _samples(start, rate))
    write_wav(out, bed, rate)
    return {"sounds": len(params["sounds"]), **_stem_facts(bed, rate)}


def cue_span(clock: dict[str, Any], cue: dict[str, Any]) -> tuple[float, float]:
    """Where a cue plays: its first shot's start to its last shot's end plus its fade-out."""
    first, last = clock["shots"][cue["first"]], clock["shots"][cue["last"]]
    end = min(last["start"] + last["duration"] + cue["fade_out"], clock["duration"])
    return first["start"], end


def _stem_facts(audio: np.ndarray, rate: int) -> dict[str, Any]:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return {
        "duration": round(audio.shape[0] / rate, 6),
        "peak_dbfs": round(20 * math.log10(peak), 2) if peak > 0 else None,
    }


# -- the master mix ----------------------------------------------------------


def duck_gain(
    speech: dict[str, Any], clock: dict[str, Any], ducking: list[dict[str, Any]], rate: int
) -> np.ndarray:
    """Per-sample gain for the music: each cue's ``duck_db`` while anyone speaks.

    The speech segments (runs of audible speech) switch ducking on, widened by
    the attack before and the release after, then smoothed into ramps so the
    score breathes rather than jumps.
    """
    total = _samples(clock["duration"], rate)
    depth = np.zeros(total, dtype=np.float32)
    for cue in ducking:
        start, end = cue_span(clock, cue)
        depth[_samples(start, rate) : _samples(end, rate)] = cue["duck_db"]
    speaking = np.zeros(total, dtype=np.float32)
    for line in speech["lines"]:
        for start, end in line["segments"]:
            first = max(0, math.ceil((start - DUCK_ATTACK) * rate))
            last = min(total, math.ceil((end + DUCK_RELEASE) * rate))
            speaking[first:last] = 1.0
    if total:
        from scipy.ndimage import uniform_filter1d

        speaking = uniform_filter1d(speaking, size=max(1, int(DUCK_ATTACK * rate)), mode="nearest")
    return (10 ** (depth * speaking / 20)).astype(np.float32)


def mix_audio(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Duck, balance and sum the stems, then meet the loudness target and peak ceiling."""
    rate = params["rate"]
    clock = _read_json(inputs["shots"])
    speech = _read_json(inputs["speech"])
    stems = {name: load_audio(inputs[f"stem:{name}"], rate) for name in params["gains"]}
    problems = []
    for name, audio in stems.items():
        clipped = np.flatnonzero(loudness.magnitude(audio) >= CLIP_LEVEL)
        if clipped.size:
            problems.append(
                f"the {name} stem clips ({clipped.size} samples, first at "
                f"{clipped[0] / rate:.2f}s): lower its level (gain_db) at that point"
            )
    total = min(a.shape[0] for a in stems.values())
    stems["music"] = (
        stems["music"][:total] * duck_gain(speech, clock, params["ducking"], rate)[:total, None]
    )
    mix = np.zeros((total, 2), dtype=np.float64)
    for name, audio in stems.items():
        mix += audio[:total] * 10 ** (params["gains"][name] / 20)
    before = loudness.integrated_loudness(mix, rate)
    # A little headroom under the ceiling: AAC encoding adds a few tenths of a dB.
    mix, gain = loudness.normalise(mix, rate, params["loudness"], params["true_peak"] - 0.5)
    levels = loudness.measure(mix, rate)
    write_wav(out, mix, rate)
    meta = {
        "duration": round(total / rate, 6),
        "lufs_before": round(before, 2),
        "gain_db": round(gain, 2),
        **levels.as_meta(),
    }
    return meta | settle(problems, params["checks"], "the mix")
