"""Voice backend: eSpeak NG, a small formant synthesiser (clear, robotic, instant).

libespeak-ng (from espeakng-loader) is driven through ctypes in synchronous
mode, but every line is spoken by a fresh, short-lived Python process rather
than in the build process. eSpeak keeps synthesis state in C globals that
nothing resets (the pitch-flutter phase, the wave generator's phase and
sample counters) and seeds its noise generator from the clock in
``espeak_Initialize``: in one long-lived process the same line comes out
different on every call, even in length. A fresh process per line, with the
noise seed set explicitly, is byte-identical every time and cannot be
disturbed by concurrent lines, so no lock is needed. It costs about 30 ms.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.voice.shaping import offline_delivery, shape_speech
from filmkit.lazy import numpy as np

# Runs under ``python -I -S``: standard library only, so it starts in ~20 ms.
# Constants are from espeak-ng's speak_lib.h.
_WORKER = r"""
import ctypes, sys

AUDIO_OUTPUT_SYNCHRONOUS, INITIALIZE_DONT_EXIT = 2, 0x8000
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
POS_CHARACTER, CHARS_UTF8, ENDPAUSE = 1, 1, 0x1000

library, data, voice, rate, pitch, range_, seed = sys.argv[1:8]
lib = ctypes.CDLL(library)
lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
lib.espeak_Synth.argtypes = [
    ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
    ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
]

chunks = []
SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

@SynthCallback
def collect(wav, count, events):
    if wav and count > 0:
        chunks.append(ctypes.string_at(wav, 2 * count))
    return 0

sample_rate = lib.espeak_Initialize(
    AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), INITIALIZE_DONT_EXIT
)
if sample_rate <= 0:
    sys.exit(f"cannot initialise espeak-ng with data from {data}")
lib.espeak_SetSynthCallback(collect)
if lib.espeak_SetVoiceByName(voice.encode()) != 0:
    sys.exit(f"espeak-ng has no voice {voice!r} (try en-us, en-us+m3, en+f2, en+whisper)")
for parameter, value in ((RATE, rate), (VOLUME, 100), (PITCH, pitch), (RANGE, range_)):
    lib.espeak_SetParameter(parameter, int(value), 0)
lib.espeak_ng_SetRandSeed(int(seed))
text = sys.stdin.buffer.read() + b"\0"
status = lib.espeak_Synth(text, len(text), 0, POS_CHARACTER, 0, CHARS_UTF8 | ENDPAUSE, None, None)
if status != 0:
    sys.exit(f"espeak_Synth failed with status {status}")
lib.espeak_Synchronize()
sys.stdout.buffer.write(sample_rate.to_bytes(4, "little") + b"".join(chunks))
"""


class EspeakParams(BaseModel):
    """Params of the eSpeak NG voice."""

    model_config = ConfigDict(extra="forbid")

    voice: str = Field(
        "en-us",
        min_length=1,
        description="eSpeak NG voice, optionally with a +variant: en-us, en-us+m3, en+f2, "
        "en+croak, en+whisper, en+klatt",
    )
    rate: int = Field(160, ge=80, le=450, description="speaking rate in words per minute")
    pitch: int = Field(50, ge=0, le=100, description="base pitch, 0 (low) to 100 (high)")
    range: int = Field(
        50, ge=0, le=100, description="pitch range: 0 is a monotone, 100 very sing-song"
    )
    semitones: float = Field(
        0.0,
        ge=-12.0,
        le=12.0,
        description="extra pitch shift applied after synthesis, formants shifted along",
    )


def synthesize(text: str, params: EspeakParams, seed: int) -> tuple[np.ndarray, int]:
    """Speak ``text`` with eSpeak NG in a fresh process; return float audio and its rate."""
    import espeakng_loader

    if not sys.executable:
        raise GeneratorError("espeak: cannot find a Python interpreter to run eSpeak NG in")
    settings = (params.voice, params.rate, params.pitch, params.range, seed & 0x7FFFFFFF)
    library = (espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
    command = [sys.executable, "-I", "-S", "-c", _WORKER, *library, *map(str, settings)]
    # NUL would end the C string early and drop the rest of the line.
    spoken = text.replace("\0", " ").encode("utf-8")
    try:
        proc = subprocess.run(command, input=spoken, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise GeneratorError("espeak: eSpeak NG did not finish within 300 s") from exc
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise GeneratorError(f"espeak: {reason or f'eSpeak NG exited with {proc.returncode}'}")
    rate = int.from_bytes(proc.stdout[:4], "little")
    pcm = np.frombuffer(proc.stdout[4:], dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


class EspeakVoice(Generator):
    """Speech from eSpeak NG: robotic but crisp; good for machines and announcers."""

    kind = "voice"
    name = "espeak"
    version = "4"
    directions = True
    Params = EspeakParams
    outputs: ClassVar[dict[str, str]] = {"audio": ".wav", "timings": ".json"}
    licence = "eSpeak NG (espeakng-loader): GPL-3.0-or-later"

    def generate(self, request: Request) -> dict[str, Any]:
        """Speak ``request.text`` into ``outputs["audio"]``."""
        params = request.params
        assert isinstance(params, EspeakParams)
        if not request.text.strip():
            raise GeneratorError("espeak: the line to speak is empty")
        tempo, level, warnings = offline_delivery(request.direction, "espeak")
        if tempo != 1.0:
            params = params.model_copy(
                update={"rate": min(450, max(80, round(params.rate * tempo)))}
            )
        audio, rate = synthesize(request.text, params, request.seed)
        duration = shape_speech(
            audio, rate, request.outputs, semitones=params.semitones, level_db=level
        )
        meta = {"duration": round(duration, 6), "sample_rate": rate}
        return meta | ({"warnings": warnings} if warnings else {})
