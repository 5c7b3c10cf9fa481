"""The paid cloud voices (OpenAI speech, Amazon Polly), offline.

OpenAI runs over real HTTP against a local scripted server, Polly against
moto's fake AWS (for the requests it sends) and against botocore's Stubber
(for how it handles what Polly answers). Nothing leaves the machine.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request
from filmkit.generators.voice.openai_speech import OpenAISpeech, OpenAISpeechParams
from filmkit.generators.voice.polly import PollyParams, PollyVoice, build_ssml, plan_delivery
from filmkit.generators.voice.shaping import PAD_SECONDS, read_timings
from filmkit.media import read_wav, wav_duration
from tests.servers import MotoServer, Reply, ScriptedServer, voiced_pcm

LINE = "Hello there, friend."
# The stand-in voice says three syllables, one per word, at these times (s).
SYLLABLES = [(0.40, 0.70), (1.00, 1.35), (1.60, 1.90)]
SECONDS = 2.4
LEXICON = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
         alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>
</lexicon>"""


def request_for(
    backend: type, folder: Path, direction: str = "", text: str = LINE, **params: object
) -> Request:
    """A request to say ``text`` into ``folder``."""
    return Request(
        params=backend.Params(**params),
        seed=0,
        outputs={"audio": folder / "line.wav", "timings": folder / "line.json"},
        text=text,
        direction=direction,
    )


def no_outputs(request: Request) -> bool:
    """True when the backend left no output file behind."""
    return not any(path.exists() for path in request.outputs.values())


# --- OpenAI, over HTTP -----------------------------------------------------------------------


def speech_reply() -> Reply:
    """The API's answer: the stand-in voice as 24 kHz PCM."""
    pcm = voiced_pcm(24_000, SYLLABLES, SECONDS)
    return Reply(200, pcm, {"content-type": "application/octet-stream"})


def test_openai_sends_the_line_and_direction_and_retries_a_429(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(
            429, "Rate limit reached", "rate_limit_exceeded", retry_after_ms="10"
        ),
        speech_reply(),
    )
    request = request_for(
        OpenAISpeech,
        tmp_path,
        direction="whispering",
        voice="coral",
        instructions="An old sailor, gravelly and slow.",
        speed=0.9,
    )
    meta = OpenAISpeech().generate(request)

    assert len(openai_server.requests) == 2, "one 429, then the retry"
    for sent in openai_server.requests:
        assert (sent.method, sent.path) == ("POST", "/v1/audio/speech")
        assert sent.headers["authorization"] == "Bearer sk-test-not-a-real-key"
        assert sent.json() == {
            "model": "gpt-4o-mini-tts",
            "voice": "coral",
            "input": LINE,
            "instructions": "An old sailor, gravelly and slow. Speak whispering.",
            "response_format": "pcm",
            "speed": 0.9,
        }
    audio, rate = read_wav(request.outputs["audio"])
    assert (rate, audio.shape[1]) == (24_000, 1)
    # A whispered line stays quiet: 10 dB under the -3 dBFS every plain line gets.
    assert np.max(np.abs(audio)) == pytest.approx(10 ** (-13 / 20), abs=2e-3)
    assert meta["sample_rate"] == 24_000
    assert meta["duration"] == pytest.approx(wav_duration(request.outputs["audio"]), abs=1e-3)
    assert (meta["model"], meta["voice"], meta["characters"]) == ("gpt-4o-mini-tts", "coral", 20)
    timings = read_timings(request.outputs["timings"])
    # Trimmed to the pad before the first syllable and after the last.
    assert timings["onset"] == pytest.approx(PAD_SECONDS, abs=0.01)
    assert timings["offset"] == pytest.approx(meta["duration"] - PAD_SECONDS, abs=0.01)
    assert meta["duration"] == pytest.approx(1.5 + 2 * PAD_SECONDS, abs=0.08)
    assert len(timings["segments"]) == 3
    assert (timings["words"], timings["source"]) == ([], "envelope")


def test_openai_rejected_key_is_a_clear_error_and_leaves_nothing(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(401, "Incorrect API key provided", "invalid_api_key")
    )
    request = request_for(OpenAISpeech, tmp_path)
    with pytest.raises(GeneratorError, match="rejected the API key.*Incorrect API key"):
        OpenAISpeech().generate(request)
    assert len(openai_server.requests) == 1, "a 401 is not retried"
    assert no_outputs(request)


def test_openai_without_a_key_fails_before_any_request(openai_server, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    request = request_for(OpenAISpeech, tmp_path)
    with pytest.raises(GeneratorError, match="OPENAI_API_KEY is not set"):
        OpenAISpeech().generate(request)
    assert openai_server.requests == []
    assert no_outputs(request)


def test_openai_server_errors_until_retries_run_out(openai_server, tmp_path):
    failure = ScriptedServer.openai_error(500, "The server had an error", retry_after_ms="10")
    openai_server.script(failure, failure, failure)
    request = request_for(OpenAISpeech, tmp_path, max_retries=2)
    with pytest.raises(GeneratorError, match=r"server failed \(500.*3 attempts"):
        OpenAISpeech().generate(request)
    assert len(openai_server.requests) == 3
    assert no_outputs(request)


def test_openai_unreachable_endpoint_is_a_clear_error(monkeypatch, tmp_path):
    with socket.socket() as probe:  # a port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with pytest.raises(GeneratorError, match=f"cannot reach http://127.0.0.1:{port}/v1"):
        OpenAISpeech().generate(request_for(OpenAISpeech, tmp_path, max_retries=0))


def test_openai_unknown_voice_names_model_and_voice(openai_server, tmp_path):
    openai_server.script(ScriptedServer.openai_error(400, "Invalid value: 'bob'."))
    with pytest.raises(GeneratorError, match="model gpt-4o-mini-tts, voice bob.*Invalid value"):
        OpenAISpeech().generate(request_for(OpenAISpeech, tmp_path, voice="bob"))


def test_openai_tts_1_gets_no_instructions_and_a_warning(openai_server, tmp_path):
    openai_server.script(speech_reply())
    meta = OpenAISpeech().generate(
        request_for(OpenAISpeech, tmp_path, direction="angrily", model="tts-1")
    )
    assert "instructions" not in openai_server.requests[0].json()
    assert "takes no instructions" in meta["warnings"][0]


def test_openai_params_check_their_ranges():
    with pytest.raises(ValueError, match="speed"):
        OpenAISpeechParams(speed=5)
    with pytest.raises(ValueError, match="extra"):
        OpenAISpeechParams(api_key="sk-...")


# --- Polly: the requests, against moto's server ------------------------------------------------


@pytest.fixture
def moto(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoServer]:
    """moto's fake AWS, recording, with boto3 pointed at it through the environment."""
    workdir = tmp_path / "moto"
    workdir.mkdir()
    aws_env.chdir(workdir)  # moto's recorder writes ./moto_recording
    with MotoServer() as server:
        aws_env.setenv("AWS_ENDPOINT_URL", server.url)
        aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
        aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        aws_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield server


def test_polly_request_contract(moto, tmp_path):
    admin = boto3.session.Session().client("polly")
    try:
        admin.put_lexicon(Name="film", Content=LEXICON)
    finally:
        admin.close()
    request = request_for(
        PollyVoice,
        tmp_path,
        direction="whispering",
        text="Cats & <dogs>.",
        engine="standard",
        voice="Joanna",
        rate=90,
        lexicons=["film"],
    )
    # moto answers every synthesis with 8 zero bytes: not speech.
    with pytest.raises(GeneratorError, match="polly: voice Joanna returned no usable speech"):
        PollyVoice().generate(request)
    assert no_outputs(request)

    speech = [r for r in moto.recording() if r["url"].endswith("/v1/speech")]
    assert [r["method"] for r in speech] == ["POST", "POST"]
    ssml = (
        '<speak><amazon:effect name="whispered"><prosody rate="90%">'
        "Cats &amp; &lt;dogs&gt;.</prosody></amazon:effect></speak>"
    )
    common = {
        "Engine": "standard",
        "VoiceId": "Joanna",
        "TextType": "ssml",
        "Text": ssml,
        "LexiconNames": ["film"],
    }
    assert speech[0]["json"] == common | {"OutputFormat": "pcm", "SampleRate": "16000"}
    assert speech[1]["json"] == common | {"OutputFormat": "json", "SpeechMarkTypes": ["word"]}
    assert speech[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256")


# --- Polly: the responses, through botocore's Stubber ------------------------------------------


@pytest.fixture
def polly() -> Iterator[tuple[object, Stubber]]:
    """A real Polly client with fake credentials, its calls answered by a Stubber."""
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("polly")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()
    client.close()


def stream(data: bytes) -> StreamingBody:
    """A response body as botocore hands it over."""
    return StreamingBody(io.BytesIO(data), len(data))


def marks(*words: tuple[int, str]) -> bytes:
    """Word speech marks as Polly sends them: JSON lines, times in ms."""
    lines, offset = [], 0
    for time, word in words:
        lines.append(
            json.dumps(
                {
                    "time": time,
                    "type": "word",
                    "start": offset,
                    "end": offset + len(word),
                    "value": word,
                }
            )
        )
        offset += len(word) + 1
    return "\n".join(lines).encode() + b"\n"


def expected(ssml: str, **extra: object) -> dict[str, object]:
    """The parameters PollyVoice should send for ``ssml`` with default params."""
    return {"Engine": "neural", "VoiceId": "Joanna", "TextType": "ssml", "Text": ssml, **extra}


def test_polly_writes_audio_and_word_timings_from_speech_marks(polly, tmp_path):
    client, stubber = polly
    ssml = '<speak><prosody rate="80%">Hello there, friend.</prosody></speak>'
    stubber.add_response(
        "synthesize_speech",
        {"AudioStream": stream(voiced_pcm(16_000, SYLLABLES, SECONDS)), "RequestCharacters": 20},
        expected(ssml, OutputFormat="pcm", SampleRate="16000"),
    )
    stubber.add_response(
        "synthesize_speech",
        {
            "AudioStream": stream(marks((400, "Hello"), (1000, "there"), (1600, "friend"))),
            "RequestCharacters": 20,
        },
        expected(ssml, OutputFormat="json", SpeechMarkTypes=["word"]),
    )
    request = request_for(PollyVoice, tmp_path, direction="slowly, with a grin")
    meta = PollyVoice(client=client).generate(request)

    audio, rate = read_wav(request.outputs["audio"])
    assert (rate, audio.shape[1]) == (16_000, 1)
    assert meta["characters"] == 40, "both requests are billed"
    assert (meta["engine"], meta["voice"], meta["sample_rate"]) == ("neural", "Joanna", 16_000)
    assert meta["warnings"] == ["direction 'with a grin' has no Polly SSML equivalent; ignored"]
    timings = read_timings(request.outputs["timings"])
    assert timings["source"] == "speech-marks"
    words = timings["words"]
    assert [w["text"] for w in words] == ["Hello", "there", "friend"]
    # The marks moved with the trim: the first word starts at the audible onset
    # (the syllable fades in over a few ms), and the spacing is unchanged.
    assert words[0]["start"] == pytest.approx(timings["onset"], abs=0.03)
    assert words[1]["start"] - words[0]["start"] == pytest.approx(0.6, abs=1e-3)
    assert words[0]["end"] == words[1]["start"]
    assert words[-1]["end"] == pytest.approx(meta["duration"], abs=1e-3)


@pytest.mark.parametrize(
    ("code", "message"),
    [("InvalidSsmlException", "Invalid SSML request"), ("ThrottlingException", "Rate exceeded")],
)
def test_polly_service_errors_name_the_code(polly, tmp_path, code, message):
    client, stubber = polly
    stubber.add_client_error("synthesize_speech", code, message, http_status_code=400)
    request = request_for(PollyVoice, tmp_path)
    with pytest.raises(GeneratorError, match=f"polly: {code}: {message}"):
        PollyVoice(client=client).generate(request)
    assert no_outputs(request)


def test_polly_unreadable_speech_marks_are_a_clear_error(polly, tmp_path):
    client, stubber = polly
    stubber.add_response(
        "synthesize_speech", {"AudioStream": stream(voiced_pcm(16_000, SYLLABLES, SECONDS))}
    )
    stubber.add_response("synthesize_speech", {"AudioStream": stream(b"<html>oops</html>")})
    request = request_for(PollyVoice, tmp_path)
    with pytest.raises(GeneratorError, match="cannot read the word speech marks"):
        PollyVoice(client=client).generate(request)
    assert no_outputs(request)


def test_polly_without_credentials_says_how_to_configure_them(aws_env, tmp_path):
    aws_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(GeneratorError, match="no usable AWS credentials.*AWS_ACCESS_KEY_ID"):
        PollyVoice().generate(request_for(PollyVoice, tmp_path))


def test_polly_without_a_region_says_how_to_set_one(aws_env, tmp_path):
    with pytest.raises(GeneratorError, match="no AWS region.*AWS_REGION"):
        PollyVoice().generate(request_for(PollyVoice, tmp_path))


# --- Polly: directions to SSML ------------------------------------------------------------------


def test_whispering_is_polly_whisper_on_standard_and_x_soft_elsewhere():
    standard = plan_delivery("whispering", 100, "standard")
    assert (standard.whisper, standard.volume, standard.warnings) == (True, None, [])
    neural = plan_delivery("Whispering", 100, "neural")
    assert (neural.whisper, neural.volume) == (False, "x-soft")
    assert "needs engine 'standard'" in neural.warnings[0]
    assert (
        build_ssml("Hi.", neural)
        == '<speak><prosody rate="100%" volume="x-soft">Hi.</prosody></speak>'
    )


@pytest.mark.parametrize(
    ("direction", "base", "rate", "volume", "ignored"),
    [
        ("softly", 100, 100, "soft", []),
        ("shouting", 100, 100, "loud", []),
        ("loudly and quickly", 100, 125, "loud", []),
        ("slowly", 200, 160, None, []),
        ("quickly", 200, 200, None, []),  # 250%, capped at Polly's 200%
        ("angrily, to himself", 100, 100, None, ["angrily", "to himself"]),
        ("", 100, 100, None, []),
    ],
)
def test_directions_map_to_prosody(direction, base, rate, volume, ignored):
    delivery = plan_delivery(direction, base, "neural")
    assert (delivery.rate, delivery.volume) == (rate, volume)
    assert [w.split("'")[1] for w in delivery.warnings] == ignored


def test_polly_params_reject_keys_and_bad_lexicon_names():
    with pytest.raises(ValueError, match="extra"):
        PollyParams(aws_access_key_id="AKIA...")
    with pytest.raises(ValueError, match="lexicons"):
        PollyParams(lexicons=["not a name"])
