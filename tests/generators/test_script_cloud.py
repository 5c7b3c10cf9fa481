"""script/openai over real HTTP, against a local scripted stand-in for the OpenAI API.

The backend's own openai client runs unchanged (retries and all); nothing
leaves the machine. Retries stay fast because each scripted error asks for
a 10 ms wait (``retry-after-ms``), which the client honours.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request, ScriptBrief, Turn
from filmkit.generators.script import read_takes
from filmkit.generators.script.openai_text import OpenAIScript, OpenAIScriptParams
from tests.servers import Reply, ScriptedServer

OPENING = "ADA\nWhere were you last night?\n\nBO\n(quietly)\nOut by the harbour.\n"
BRIEF = ScriptBrief(
    prompt=OPENING,
    opening=(
        Turn("ADA", "Where were you last night?"),
        Turn("BO", "Out by the harbour.", "quietly"),
    ),
    characters=("ADA", "BO"),
    takes=2,
    lines=4,
    length=200,
    stop=("THE END",),
    instructions="Keep it terse.",
    title="Harbour Lights",
)
TAKES = [
    "ADA\nAlone?\n\nBO\n(beat)\nWith the gulls.\n",
    "```\nADA\nYou smell of diesel.\n\nBO\nThe boats need me.\n\nTHE END\n```",
]


def completion(*texts: str, finish: str = "stop", usage: bool = True) -> Reply:
    """A Chat Completions answer with one choice per text."""
    body: dict[str, object] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish,
                "logprobs": None,
            }
            for i, text in enumerate(texts)
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
    return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})


def request_for(folder: Path, seed: int = 11, brief: ScriptBrief = BRIEF, **params) -> Request:
    """A request to continue ``brief`` into ``folder``."""
    return Request(
        params=OpenAIScriptParams(**params),
        seed=seed,
        outputs={"takes": folder / "takes.json"},
        script=brief,
    )


def nothing_written(request: Request) -> bool:
    """True when the backend left no takes file behind."""
    return not request.outputs["takes"].exists()


def test_sends_the_brief_and_writes_every_take(openai_server, tmp_path):
    openai_server.script(completion(*TAKES))
    request = request_for(tmp_path, temperature=0.9, max_tokens=300)
    meta = OpenAIScript().generate(request)

    [sent] = openai_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test-not-a-real-key"
    body = sent.json()
    assert (body["model"], body["n"], body["seed"]) == ("gpt-4o-mini", 2, 11)
    assert (body["temperature"], body["max_completion_tokens"]) == (0.9, 300)
    assert "top_p" not in body and "stop" not in body
    system, user = body["messages"]
    assert (system["role"], user) == ("system", {"role": "user", "content": OPENING})
    for needle in ("Fountain", "ADA, BO", "at most 4 speeches", "Harbour Lights", "Keep it terse."):
        assert needle in system["content"]

    takes = read_takes(request.outputs["takes"])
    assert takes == [
        {"text": TAKES[0], "finish": "end"},
        # The code fence is dropped and the take ends before the stop string.
        {"text": "ADA\nYou smell of diesel.\n\nBO\nThe boats need me.\n", "finish": "stop"},
    ]
    assert meta["model"] == "gpt-4o-mini-2024-07-18"
    assert (meta["input_tokens"], meta["output_tokens"], meta["tokens"]) == (120, 40, 160)
    assert meta["warnings"] == []


def test_a_429_is_retried(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(
            429, "Rate limit reached", "rate_limit_exceeded", retry_after_ms="10"
        ),
        completion(*TAKES),
    )
    request = request_for(tmp_path)
    OpenAIScript().generate(request)
    assert len(openai_server.requests) == 2, "one 429, then the retry"
    assert openai_server.requests[0].json() == openai_server.requests[1].json()
    assert len(read_takes(request.outputs["takes"])) == 2


def test_a_rejected_key_is_a_clear_error_and_leaves_nothing(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(401, "Incorrect API key provided", "invalid_api_key")
    )
    request = request_for(tmp_path)
    with pytest.raises(GeneratorError, match=r"OpenAI rejected the API key \(401.*OPENAI_API_KEY"):
        OpenAIScript().generate(request)
    assert len(openai_server.requests) == 1, "a 401 is not retried"
    assert nothing_written(request)


def test_server_errors_until_retries_run_out(openai_server, tmp_path):
    failure = ScriptedServer.openai_error(500, "The server had an error", retry_after_ms="10")
    openai_server.script(failure, failure, failure)
    request = request_for(tmp_path, max_retries=2)
    with pytest.raises(GeneratorError, match=r"server failed \(500.*3 attempts"):
        OpenAIScript().generate(request)
    assert len(openai_server.requests) == 3
    assert nothing_written(request)


def test_an_unknown_model_is_named(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(404, "The model `gpt-9` does not exist", "model_not_found")
    )
    request = request_for(tmp_path, model="gpt-9")
    with pytest.raises(GeneratorError, match="model gpt-9 was not found.*does not exist"):
        OpenAIScript().generate(request)
    assert nothing_written(request)


def test_without_a_key_fails_before_any_request(openai_server, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    request = request_for(tmp_path)
    with pytest.raises(GeneratorError, match="OPENAI_API_KEY is not set"):
        OpenAIScript().generate(request)
    assert openai_server.requests == []
    assert nothing_written(request)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (completion(TAKES[0], "  \n"), "empty take 2"),
        (completion(TAKES[0], "", finish="length"), "empty take 2; it ran out of tokens"),
        (completion(TAKES[0], TAKES[1], finish="content_filter"), "refused take 1"),
        (completion(TAKES[0]), "returned 1 of the 2 takes"),
    ],
)
def test_a_missing_or_empty_take_writes_nothing(openai_server, tmp_path, reply, error):
    openai_server.script(reply)
    request = request_for(tmp_path)
    with pytest.raises(GeneratorError, match=error):
        OpenAIScript().generate(request)
    assert nothing_written(request)


def test_a_refusal_is_an_error(openai_server, tmp_path):
    body = json.loads(completion(*TAKES).body)
    body["choices"][1]["message"] |= {"content": None, "refusal": "I can't help with that."}
    openai_server.script(
        Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})
    )
    request = request_for(tmp_path)
    with pytest.raises(GeneratorError, match="refused take 2: I can't help with that"):
        OpenAIScript().generate(request)
    assert nothing_written(request)


def test_a_take_cut_by_the_token_cap_says_length(openai_server, tmp_path):
    openai_server.script(completion("ADA\nWell, I", "BO\nNo.", finish="length", usage=False))
    request = request_for(tmp_path)
    meta = OpenAIScript().generate(request)
    assert [t["finish"] for t in read_takes(request.outputs["takes"])] == ["length", "length"]
    assert "tokens" not in meta and meta["warnings"] == ["the API reported no token usage"]


def test_usage_and_prices_estimate_tokens_by_model():
    request = {"script": {"prompt": "x" * 400, "instructions": "y" * 40, "takes": 3, "length": 800}}
    usage = OpenAIScript.usage(request, OpenAIScriptParams())
    assert usage["calls"] == 1.0
    assert usage["input_tokens"] == pytest.approx(110 + 200)
    assert usage["output_tokens"] == pytest.approx(600)
    prices = OpenAIScript.price_list(OpenAIScriptParams(model="gpt-4.1"))
    assert set(prices) == set(usage) == set(OpenAIScript.prices)
    assert prices["output_tokens"] > prices["input_tokens"] > OpenAIScript.prices["input_tokens"]


def test_params_check_their_ranges():
    with pytest.raises(ValueError, match="temperature"):
        OpenAIScriptParams(temperature=3)
    with pytest.raises(ValueError, match="extra"):
        OpenAIScriptParams(api_key="sk-...")
