"""The sound mix: dialogue over a ducked score, with pydub; plus subtitles.

pydub does the decoding, resampling, overlays, gains and fades; numpy builds
the ducking envelope (pydub has no smooth gain automation). pydub is pointed
at imageio-ffmpeg's binary; WAV in and out never needs it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.media import ffmpeg_exe, wav_duration
from filmkit.render.timeline import film_timeline, format_srt, speech_spans, subtitle_cues
from filmkit.store.files import atomic_write_text

DUCK_ATTACK = 0.12
DUCK_RELEASE = 0.45
PEAK_CEILING_DB = -1.0


def audio_segment_class() -> Any:
    """pydub's AudioSegment, imported quietly and pointed at our ffmpeg."""
    with warnings.catch_warnings():
        # pydub imports the deprecated audioop and warns when no system ffmpeg exists.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def line_lengths(params: dict[str, Any], inputs: dict[str, Path]) -> list[list[float]]:
    """Seconds of every voiced line, per shot, read from the WAV headers."""
    return [
        [wav_duration(inputs[f"line:{i}:{k}"]) for k in range(len(shot["lines"]))]
        for i, shot in enumerate(params["shots"])
    ]


def mix_audio(
    params: dict[str, Any], inputs: dict[str, Path], out_audio: Path, out_subtitles: Path
) -> dict[str, Any]:
    """Write the film's stereo mix and its SRT; return loudness facts."""
    AudioSegment = audio_segment_class()
    rate = params["rate"]
    timings = film_timeline(params["shots"], line_lengths(params, inputs), params["fps"])
    total_ms = round(timings[-1].end * 1000)

    dialogue = AudioSegment.silent(duration=total_ms, frame_rate=rate).set_channels(2)
    for i, timing in enumerate(timings):
        for k, offset in enumerate(timing.line_offsets):
            line = _load_wav(AudioSegment, inputs[f"line:{i}:{k}"])
            line = line.set_frame_rate(rate).set_channels(2)
            dialogue = dialogue.overlay(line, position=round((timing.start + offset) * 1000))

    bed = AudioSegment.silent(duration=total_ms, frame_rate=rate).set_channels(2)
    spans = speech_spans(timings)
    for cue in params["music"]:
        start = timings[cue["first"]].start
        end = timings[cue["last"]].end
        music = _load_wav(AudioSegment, inputs[f"music:{cue['id']}"])
        music = music.set_frame_rate(rate).set_channels(2).set_sample_width(2)
        music = music[: round((end - start) * 1000)]
        music = music.fade_in(round(cue["fade_in"] * 1000)).fade_out(round(cue["fade_out"] * 1000))
        music = _duck(music, spans, start, cue["duck_db"]).apply_gain(cue["gain_db"])
        bed = bed.overlay(music, position=round(start * 1000))

    mix = bed.overlay(dialogue)
    if mix.max_dBFS > PEAK_CEILING_DB:
        mix = mix.apply_gain(PEAK_CEILING_DB - mix.max_dBFS)
    with open(out_audio, "wb") as handle:
        mix.export(handle, format="wav")
    atomic_write_text(out_subtitles, format_srt(subtitle_cues(params["shots"], timings)))
    return {"duration": timings[-1].end, "peak_dbfs": round(mix.max_dBFS, 2)}


def _load_wav(audio_segment: Any, path: Path) -> Any:
    # NOTE: given a path, pydub opens the file and never closes it.
    with open(path, "rb") as handle:
        return audio_segment.from_wav(handle)


def _duck(music: Any, spans: list[tuple[float, float]], offset: float, depth_db: float) -> Any:
    """Lower ``music`` by ``depth_db`` while anyone speaks, with smooth ramps."""
    if depth_db == 0 or not spans:
        return music
    rate = music.frame_rate
    samples = np.array(music.get_array_of_samples(), dtype=np.float32).reshape(-1, 2)
    speaking = np.zeros(len(samples), dtype=np.float32)
    for start, end in spans:
        first = max(0, math.ceil((start - DUCK_ATTACK - offset) * rate))
        last = max(0, math.ceil((end + DUCK_RELEASE - offset) * rate))
        speaking[first:last] = 1.0
    # Smooth the on/off mask into ramps so the score breathes rather than jumps.
    width = max(1, int(DUCK_ATTACK * rate))
    running = np.concatenate([[0.0], np.cumsum(speaking, dtype=np.float64)])
    ends = np.minimum(np.arange(len(speaking)) + width // 2 + 1, len(speaking))
    starts = np.maximum(np.arange(len(speaking)) - width // 2, 0)
    speaking = ((running[ends] - running[starts]) / (ends - starts)).astype(np.float32)
    gain = 10 ** (depth_db * speaking / 20)
    ducked = np.clip(samples * gain[:, None], -32768, 32767).astype(np.int16)
    return music._spawn(ducked.tobytes())
