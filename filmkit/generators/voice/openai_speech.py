"""Voice backend: OpenAI's text-to-speech API (paid), e.g. gpt-4o-mini-tts.

The line goes to ``POST /audio/speech`` with ``response_format="pcm"``: raw
24 kHz, 16-bit little-endian mono samples, so nothing has to be decoded.
The gpt-4o TTS models take free-form ``instructions`` on how to speak; the
character's standing style (``instructions``) comes first and the line's
screenplay direction is appended as "Speak <direction>.", so "(whispering)"
reaches the model as "Speak whispering.". The tts-1 models take no
instructions: with them the instructions are left out and the metadata
says so in ``warnings``. The API reports no word times, so the timings file
has the envelope's onset, offset and segments only.

The API key comes only from ``OPENAI_API_KEY`` (never from the spec); the
client also honours ``OPENAI_BASE_URL`` for a compatible endpoint. Rate
limits (429), server errors (5xx) and timeouts are retried by the openai
client itself, ``max_retries`` times with exponential backoff (or the delay
the server asks for in ``retry-after``). Each line opens and closes its own
client. The same request gives different audio each time, so the backend is
not deterministic: a line is synthesised once and pinned by ``film.lock``.

OpenAI's usage policies require telling listeners that the voice they hear
is AI-generated and not a human's; put that in the film's credits.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.openai_api import api_errors, open_client
from filmkit.generators.voice.shaping import decode_pcm16, direction_level, shape_speech

SAMPLE_RATE = 24_000
# USD per input character. tts-1 and tts-1-hd are priced per character; the
# gpt-4o voices per token and audio minute, about 15 USD per million characters
# of English speech. Estimates for plans and budgets; the ledger keeps usage.
MODEL_PRICES = {"tts-1": 15.0e-6, "tts-1-hd": 30.0e-6, "gpt-4o-mini-tts": 15.0e-6}
MAX_INPUT = 4096  # characters the API takes in one request
# Models that ignore (and may refuse) instructions.
NO_INSTRUCTIONS = ("tts-1",)


class OpenAISpeechParams(BaseModel):
    """Params of the OpenAI speech voice."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "gpt-4o-mini-tts",
        min_length=1,
        description="OpenAI speech model: gpt-4o-mini-tts (takes instructions), tts-1 or tts-1-hd",
    )
    voice: str = Field(
        "alloy",
        min_length=1,
        description="built-in voice: alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, "
        "shimmer, verse, marin or cedar",
    )
    instructions: str = Field(
        "",
        max_length=4000,
        description="the character's standing way of speaking, e.g. 'a tired old sailor, "
        "gravelly and slow'; the line's direction is appended to it",
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="speaking speed: 1 is normal, 0.25 to 4")
    max_retries: int = Field(
        4,
        ge=0,
        le=10,
        description="retries, with backoff, after rate limits (429), server errors and timeouts",
    )
    timeout: float = Field(120.0, gt=0.0, le=600.0, description="seconds to wait for each attempt")


def compose_instructions(params: OpenAISpeechParams, direction: str, warnings: list[str]) -> str:
    """The standing instructions plus the line's direction, as one instruction text."""
    parts = [params.instructions.strip()]
    direction = direction.strip().rstrip(".")
    if direction:
        parts.append(f"Speak {direction}.")
    instructions = " ".join(part for part in parts if part)
    if instructions and params.model.startswith(NO_INSTRUCTIONS):
        warnings.append(
            f"model {params.model} takes no instructions; dropped {instructions!r} "
            "(use gpt-4o-mini-tts to act on directions)"
        )
        return ""
    return instructions


def speak(client: Any, text: str, instructions: str, params: OpenAISpeechParams) -> bytes:
    """One speech request; returns the PCM bytes or raises a clear GeneratorError."""

    request: dict[str, Any] = {
        "model": params.model,
        "voice": params.voice,
        "input": text,
        "response_format": "pcm",
        "speed": params.speed,
    }
    if instructions:
        request["instructions"] = instructions
    what = f"model {params.model}, voice {params.voice}"
    with api_errors(client, what, params.max_retries, params.timeout):
        return client.audio.speech.create(**request).content


class OpenAISpeech(Generator):
    """OpenAI text-to-speech (paid API); follows free-form acting directions."""

    kind = "voice"
    name = "openai"
    version = "2"
    Params = OpenAISpeechParams
    outputs: ClassVar[dict[str, str]] = {"audio": ".wav", "timings": ".json"}
    deterministic = False
    directions = True
    offline = False
    licence = (
        "OpenAI API: paid service under OpenAI's terms; its usage policies require "
        "disclosing to listeners that the voice is AI-generated"
    )

    @classmethod
    def price_list(cls, params: BaseModel) -> dict[str, float]:
        """Estimated USD per character of input, by model (override under `prices:`)."""
        assert isinstance(params, OpenAISpeechParams)
        return {"characters": MODEL_PRICES.get(params.model, MODEL_PRICES["gpt-4o-mini-tts"])}

    def __init__(self, client: Any = None) -> None:
        """``client``: an ``openai.OpenAI`` to use (tests); default: one per line from the env."""
        self.client = client

    def generate(self, request: Request) -> dict[str, Any]:
        """Speak ``request.text`` into ``outputs["audio"]``."""
        params = request.params
        assert isinstance(params, OpenAISpeechParams)
        text = request.text.strip()
        if not text:
            raise GeneratorError("openai: the line to speak is empty")
        if len(text) > MAX_INPUT:
            raise GeneratorError(
                f"openai: the line has {len(text)} characters; the API takes at most "
                f"{MAX_INPUT}, so split it into several lines"
            )
        warnings: list[str] = []
        instructions = compose_instructions(params, request.direction, warnings)
        if self.client is not None:
            pcm = speak(self.client, text, instructions, params)
        else:
            with open_client(params.max_retries, params.timeout) as client:
                pcm = speak(client, text, instructions, params)
        audio = decode_pcm16(pcm, SAMPLE_RATE, f"openai: {params.model} with voice {params.voice}")
        level = direction_level(request.direction)
        duration = shape_speech(audio, SAMPLE_RATE, request.outputs, level_db=level)
        return {
            "duration": round(duration, 6),
            "sample_rate": SAMPLE_RATE,
            "model": params.model,
            "voice": params.voice,
            "characters": len(text),
            "warnings": warnings,
        }
