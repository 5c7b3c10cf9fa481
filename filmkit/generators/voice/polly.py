"""Voice backend: Amazon Polly, AWS's paid text-to-speech service.

Two requests per line. The first asks for the audio as raw PCM (16 kHz,
16-bit signed little-endian, mono: no decoder needed); the second, with the
same SSML, asks for word speech marks (JSON lines, one per word, with its
start in milliseconds of that audio), so the timings file carries real word
times (``source: "speech-marks"``) instead of only the envelope's. Polly
bills both requests by the characters they synthesise.

The line always goes as SSML: the text, XML-escaped, inside
``<speak><prosody rate="N%">``. A performance direction from the screenplay
is mapped to what Polly's SSML can do:

* "whispering" becomes ``<amazon:effect name="whispered">``. Only the
  standard engine has that effect (the others reject the SSML), so with any
  other engine the line is spoken at ``volume="x-soft"`` and the metadata
  carries a warning.
* "softly", "quietly" and "loudly", "shouting" set the prosody volume to
  soft or loud; "slowly" and "quickly" scale the rate.
* Anything else ("angrily", "to herself") has no SSML equivalent: it is
  ignored and named in the metadata's ``warnings``.

shape_speech levels every line to the same peak, minus a few dB for a
whispered or soft direction, so a quiet line stays quieter than the others.

Pitch is shifted by filmkit after synthesis (``pitch`` in semitones, as for
the other voices), not by Polly: ``<prosody pitch>`` works only on the
standard engine, and the neural, long-form and generative engines reject
SSML that uses it.

Credentials and region come only from the standard AWS chain (environment
variables, ``~/.aws/credentials`` and ``~/.aws/config``, SSO, instance
roles); ``region`` may override the region. Throttling and transient
failures are retried by botocore (standard mode, five attempts). Output
differs between runs and engine updates, so the backend is not
deterministic: a line is synthesised once and pinned by ``film.lock``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal
from xml.sax.saxutils import escape, unescape

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.voice.shaping import (
    Word,
    decode_pcm16,
    direction_level,
    read_direction,
    shape_speech,
)

Engine = Literal["standard", "neural", "long-form", "generative"]
LexiconName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,20}$")]

SAMPLE_RATE = 16_000
# Polly's prosody rate accepts 20% to 200% of the voice's normal pace.
MIN_RATE, MAX_RATE = 20, 200
RETRIES = {"mode": "standard", "max_attempts": 5}

# USD per character billed, per engine, from AWS's public price list (2026); both
# requests of a line (audio and speech marks) are billed.
ENGINE_PRICES = {
    "standard": 4.0e-6,
    "neural": 16.0e-6,
    "long-form": 100.0e-6,
    "generative": 30.0e-6,
}


class PollyParams(BaseModel):
    """Params of the Amazon Polly voice."""

    model_config = ConfigDict(extra="forbid")

    voice: str = Field(
        "Joanna",
        pattern=r"^[A-Za-z]+$",
        description="Polly VoiceId, e.g. Joanna, Matthew, Amy, Brian; it must exist for the "
        "chosen engine (see Polly's voice list)",
    )
    engine: Engine = Field(
        "neural",
        description="Polly engine: standard (the only one that can whisper), neural, "
        "long-form or generative",
    )
    rate: int = Field(
        100,
        ge=MIN_RATE,
        le=MAX_RATE,
        description="speaking rate in percent of the voice's normal pace (SSML prosody rate, "
        "20 to 200)",
    )
    pitch: float = Field(
        0.0,
        ge=-12.0,
        le=12.0,
        description="pitch shift in semitones, applied by filmkit after synthesis (Polly's own "
        "prosody pitch works only on the standard engine)",
    )
    lexicons: list[LexiconName] = Field(
        default_factory=list,
        max_length=5,
        description="names of pronunciation lexicons already stored in Polly in the same "
        "region (PutLexicon), applied in order; at most 5",
    )
    language: str | None = Field(
        None,
        pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$",
        description="LanguageCode for bilingual voices, e.g. hi-IN for Aditi; default: the "
        "voice's own language",
    )
    region: str | None = Field(
        None,
        description="AWS region to call, e.g. us-east-1; default: the AWS chain's "
        "(AWS_REGION, AWS_DEFAULT_REGION or ~/.aws/config)",
    )


@dataclass
class Delivery:
    """How a direction changes the SSML, and what could not be honoured."""

    rate: int
    whisper: bool = False
    volume: str | None = None
    warnings: list[str] = field(default_factory=list)


def plan_delivery(direction: str, rate: int, engine: str) -> Delivery:
    """Map a screenplay direction ("whispering, slowly") onto Polly SSML settings."""
    parsed = read_direction(direction)
    delivery = Delivery(rate=round(rate * parsed.tempo), volume=parsed.volume)
    if parsed.whisper:
        if engine == "standard":
            delivery.whisper = True
        else:
            delivery.volume = "x-soft"
            delivery.warnings.append(
                f"whispering needs engine 'standard' (Polly's {engine} engine has no "
                "whispered effect); spoke the line at volume x-soft instead"
            )
    delivery.warnings += [
        f"direction {phrase!r} has no Polly SSML equivalent; ignored" for phrase in parsed.unknown
    ]
    delivery.rate = min(max(delivery.rate, MIN_RATE), MAX_RATE)
    return delivery


def build_ssml(text: str, delivery: Delivery) -> str:
    """The line as Polly SSML: escaped text in prosody, whispered where asked."""
    attributes = f'rate="{delivery.rate}%"'
    if delivery.volume:
        attributes += f' volume="{delivery.volume}"'
    body = f"<prosody {attributes}>{escape(text.strip())}</prosody>"
    if delivery.whisper:
        body = f'<amazon:effect name="whispered">{body}</amazon:effect>'
    return f"<speak>{body}</speak>"


def parse_marks(data: bytes, audio_seconds: float) -> list[Word]:
    """Word speech marks (JSON lines, times in ms) as words timed on the raw audio."""
    starts: list[tuple[float, str]] = []
    try:
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            mark = json.loads(line)
            if mark.get("type", "word") == "word":
                starts.append((float(mark["time"]) / 1000.0, unescape(str(mark["value"]))))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GeneratorError(
            f"polly: cannot read the word speech marks Polly returned ({len(data)} bytes): {exc}"
        ) from exc
    starts.sort(key=lambda mark: mark[0])
    ends = [start for start, _ in starts[1:]] + [audio_seconds]
    return [
        Word(min(start, audio_seconds), max(min(start, audio_seconds), end), text)
        for (start, text), end in zip(starts, ends, strict=True)
    ]


def open_client(region: str | None) -> Any:
    """A Polly client from the standard AWS chain, retrying throttled calls."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session().client(
            "polly", region_name=region, config=Config(retries=RETRIES)
        )
    except NoRegionError as exc:
        raise GeneratorError(
            "polly: no AWS region is configured; set AWS_REGION (or AWS_DEFAULT_REGION), "
            "add a region to ~/.aws/config, or give the voice a 'region' param"
        ) from exc


def synthesize(
    client: Any, ssml: str, params: PollyParams, **extra: Any
) -> tuple[bytes, int | None]:
    """One SynthesizeSpeech call: the stream's bytes and the characters billed, if reported."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    request: dict[str, Any] = {
        "Engine": params.engine,
        "Text": ssml,
        "TextType": "ssml",
        "VoiceId": params.voice,
        **extra,
    }
    if params.lexicons:
        request["LexiconNames"] = list(params.lexicons)
    if params.language:
        request["LanguageCode"] = params.language
    try:
        response = client.synthesize_speech(**request)
        with response["AudioStream"] as stream:
            data = stream.read()
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise GeneratorError(
            "polly: no usable AWS credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or configure ~/.aws/credentials or "
            "SSO with 'aws configure'"
        ) from exc
    except NoRegionError as exc:
        raise GeneratorError(
            "polly: no AWS region is configured; set AWS_REGION or give a 'region' param"
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", str(exc))
        raise GeneratorError(
            f"polly: {code}: {message} (voice {params.voice}, engine {params.engine}){hint(code)}"
        ) from exc
    except BotoCoreError as exc:
        raise GeneratorError(f"polly: the request to Polly failed: {exc}") from exc
    billed = response.get("RequestCharacters")
    return data, int(billed) if billed is not None else None


def hint(code: str) -> str:
    """A suggestion for the Polly errors a film spec can cause."""
    hints = {
        "InvalidSsmlException": "the line or its direction made SSML Polly rejects",
        "EngineNotSupportedException": "pick an engine this voice supports",
        "LexiconNotFoundException": "store the lexicon with PutLexicon in this region first",
        "ValidationException": "check the voice name and that it exists for this engine",
        "TextLengthExceededException": "split the line; Polly takes 3000 billed characters",
        "UnrecognizedClientException": "the AWS credentials were rejected",
        "InvalidSignatureException": "the AWS secret key does not match the key id",
        "AccessDeniedException": "the AWS identity needs polly:SynthesizeSpeech",
        "ThrottlingException": "Polly kept throttling after 5 attempts; try again later",
    }
    return f"; {hints[code]}" if code in hints else ""


class PollyVoice(Generator):
    """Amazon Polly speech (paid AWS service), with word timings from speech marks."""

    kind = "voice"
    name = "polly"
    version = "2"
    Params = PollyParams
    outputs: ClassVar[dict[str, str]] = {"audio": ".wav", "timings": ".json"}
    deterministic = False
    directions = True
    offline = False
    licence = (
        "Amazon Polly: paid AWS service, billed per character; use of the audio is governed "
        "by the AWS Service Terms and your AWS agreement"
    )

    @classmethod
    def price_list(cls, params: BaseModel) -> dict[str, float]:
        """Polly's list prices per character, by engine (USD; override under `prices:`)."""
        assert isinstance(params, PollyParams)
        return {"characters": ENGINE_PRICES[params.engine]}

    def __init__(self, client: Any = None) -> None:
        """``client``: a boto3 Polly client to use (tests); default: one from the AWS chain."""
        self.client = client

    def generate(self, request: Request) -> dict[str, Any]:
        """Speak ``request.text`` into ``outputs["audio"]`` and its word times into timings."""
        params = request.params
        assert isinstance(params, PollyParams)
        if not request.text.strip():
            raise GeneratorError("polly: the line to speak is empty")
        delivery = plan_delivery(request.direction, params.rate, params.engine)
        ssml = build_ssml(request.text, delivery)
        client = self.client if self.client is not None else open_client(params.region)
        try:
            pcm, billed = synthesize(
                client, ssml, params, OutputFormat="pcm", SampleRate=str(SAMPLE_RATE)
            )
            marks, billed_marks = synthesize(
                client, ssml, params, OutputFormat="json", SpeechMarkTypes=["word"]
            )
        finally:
            if client is not self.client:
                client.close()
        audio = decode_pcm16(
            pcm,
            SAMPLE_RATE,
            f"polly: voice {params.voice}",
            "; check that the line has words Polly can say",
        )
        words = parse_marks(marks, audio.size / SAMPLE_RATE)
        duration = shape_speech(
            audio,
            SAMPLE_RATE,
            request.outputs,
            semitones=params.pitch,
            words=words,
            source="speech-marks",
            level_db=direction_level(request.direction),
        )
        # Polly reports what it bills (SSML tags are free); else count the line itself.
        spoken = len(request.text.strip())
        return {
            "duration": round(duration, 6),
            "sample_rate": SAMPLE_RATE,
            "characters": sum(spoken if n is None else n for n in (billed, billed_marks)),
            "engine": params.engine,
            "voice": params.voice,
            "warnings": delivery.warnings,
        }
