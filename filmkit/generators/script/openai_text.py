"""Script backend: an OpenAI chat model (paid) continues the screenplay.

One Chat Completions request asks for every take at once (``n`` = takes):
a system message explains the task (continue the scene as Fountain
dialogue, only the brief's characters, at most ``lines`` speeches, in the
opening's style, plus the brief's title and instructions) and the user
message is the opening as the artist wrote it. Each choice becomes one take,
cut by :func:`~filmkit.generators.script.cut_take`. Stop strings are applied
there rather than sent as ``stop``: newer models refuse ``stop``, and
cutting locally reports ``finish: stop`` the same way for every backend.

The API key comes only from ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` points
the client at a compatible endpoint. Rate limits (429), server errors (5xx)
and timeouts are retried by the openai client itself, ``max_retries`` times
with backoff. ``seed`` is sent, but OpenAI's determinism is best effort, so
the backend is not deterministic: takes are written once and pinned by
``film.lock``. Nothing is written unless every take came back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request, ScriptBrief
from filmkit.generators.openai_api import api_errors, open_client
from filmkit.generators.script import cut_take, write_takes

# USD per token (input, output): OpenAI list prices as of 2025, standard tier.
# Estimates for plans and budgets only; override them under `prices:` in
# film.yaml, and the ledger keeps the tokens really used.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15e-6, 0.60e-6),
    "gpt-4.1-nano": (0.10e-6, 0.40e-6),
    "gpt-4.1-mini": (0.40e-6, 1.60e-6),
    "gpt-4.1": (2.00e-6, 8.00e-6),
    "gpt-4o": (2.50e-6, 10.00e-6),
}
DEFAULT_MODEL = "gpt-4o-mini"
SYSTEM_TOKENS = 200  # rough size of the system message's fixed text, in tokens
CHARS_PER_TOKEN = 4  # English text, on average


class OpenAIScriptParams(BaseModel):
    """Params of the OpenAI script backend."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        description="OpenAI chat model, e.g. gpt-4o-mini, gpt-4.1-mini, gpt-4.1 or gpt-4o",
    )
    temperature: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        description="sampling temperature, 0 to 2 (higher: more varied takes); "
        "unset: the model's default (some models take no other)",
    )
    top_p: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="nucleus sampling: keep the most likely tokens up to this probability mass; "
        "unset: the model's default",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="most tokens each take may use (sent as max_completion_tokens); unset: "
        "about half the brief's length in characters. Raise it for reasoning models, whose "
        "hidden reasoning counts too",
    )
    max_retries: int = Field(
        4,
        ge=0,
        le=10,
        description="retries, with backoff, after rate limits (429), server errors and timeouts",
    )
    timeout: float = Field(120.0, gt=0.0, le=600.0, description="seconds to wait for each attempt")


def system_message(brief: ScriptBrief) -> str:
    """What the model is told to do with the opening."""
    parts = [
        "You are a screenwriter continuing a scene. Write the dialogue that comes next, in "
        "Fountain format: for each speech, the speaking character's name in capitals on its "
        "own line, optionally a short (parenthetical) on the next line, then the speech; "
        "leave one blank line between speeches.",
    ]
    if brief.characters:
        parts.append(
            "Only these characters speak, taking turns in this order: "
            + ", ".join(brief.characters)
            + ". Use exactly these names as cues."
        )
    parts.append(
        f"Write at most {brief.lines} speeches and at most {brief.length} characters. "
        "Keep the voice, tone and style of the opening. Do not repeat the opening, and write "
        "no title, scene headings, action lines, Markdown or commentary: only the dialogue."
    )
    if brief.title:
        parts.append(f"The film is called {brief.title!r}.")
    if brief.instructions:
        parts.append(f"The director's notes: {brief.instructions.strip()}")
    return "\n\n".join(parts)


def unfence(text: str) -> str:
    """The text without a Markdown code fence around it (models add one now and then)."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and "\n" in stripped:
        return stripped[stripped.index("\n") + 1 : -3]
    return text


def complete(client: Any, body: dict[str, Any], params: OpenAIScriptParams) -> Any:
    """One Chat Completions request; returns the response or raises a clear GeneratorError."""
    with api_errors(client, f"model {params.model}", params.max_retries, params.timeout):
        return client.chat.completions.create(**body)


def read_takes_from(response: Any, brief: ScriptBrief, model: str) -> list[dict[str, str]]:
    """Every choice as a cut take; raises if any is missing, empty or refused."""
    choices = sorted(response.choices or [], key=lambda choice: choice.index)
    if len(choices) < brief.takes:
        raise GeneratorError(
            f"openai: model {model} returned {len(choices)} of the {brief.takes} takes asked for"
        )
    takes = []
    for number, choice in enumerate(choices[: brief.takes], start=1):
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal or choice.finish_reason == "content_filter":
            why = refusal or "its content filter stopped the text"
            raise GeneratorError(f"openai: model {model} refused take {number}: {why}")
        raw = unfence(message.content or "")
        if not raw.strip():
            hint = (
                "; it ran out of tokens (raise max_tokens)"
                if choice.finish_reason == "length"
                else ""
            )
            raise GeneratorError(f"openai: model {model} returned an empty take {number}{hint}")
        text, finish = cut_take(raw, brief)
        if finish == "end" and choice.finish_reason == "length":
            finish = "length"  # the token cap cut it, not the brief's character cap
        takes.append({"text": text, "finish": finish})
    return takes


class OpenAIScript(Generator):
    """An OpenAI chat model continues the screenplay, every take in one request (paid API)."""

    kind = "script"
    name = "openai"
    version = "1"
    Params = OpenAIScriptParams
    outputs: ClassVar[dict[str, str]] = {"takes": ".json"}
    deterministic = False
    offline = False
    licence = "OpenAI API: paid service under OpenAI's terms; the output is yours to use"
    prices: ClassVar[dict[str, float]] = {
        "calls": 0.0,
        "input_tokens": MODEL_PRICES[DEFAULT_MODEL][0],
        "output_tokens": MODEL_PRICES[DEFAULT_MODEL][1],
    }

    @classmethod
    def price_list(cls, params: BaseModel) -> dict[str, float]:
        """Estimated USD per input and output token, by model (override under `prices:`)."""
        assert isinstance(params, OpenAIScriptParams)
        per_input, per_output = MODEL_PRICES.get(params.model, MODEL_PRICES[DEFAULT_MODEL])
        return {"calls": 0.0, "input_tokens": per_input, "output_tokens": per_output}

    @classmethod
    def usage(cls, request: Mapping[str, Any], params: BaseModel) -> dict[str, float]:
        """One call; input ~ the opening and instructions, output ~ takes x length (chars / 4)."""
        brief = request.get("script") or {}
        defaults = ScriptBrief(prompt="")
        text = len(str(brief.get("prompt", ""))) + len(str(brief.get("instructions", "")))
        text += len(str(brief.get("title", ""))) + sum(len(c) for c in brief.get("characters", ()))
        takes = int(brief.get("takes", defaults.takes))
        length = int(brief.get("length", defaults.length))
        return {
            "calls": 1.0,
            "input_tokens": float(text / CHARS_PER_TOKEN + SYSTEM_TOKENS),
            "output_tokens": float(takes * length / CHARS_PER_TOKEN),
        }

    def __init__(self, client: Any = None) -> None:
        """``client``: an ``openai.OpenAI`` to use (tests); default: one per step from the env."""
        self.client = client

    def generate(self, request: Request) -> dict[str, Any]:
        """Write ``brief.takes`` continuations of the opening to ``outputs["takes"]``."""
        params = request.params
        assert isinstance(params, OpenAIScriptParams)
        brief = request.script
        if brief is None:
            raise GeneratorError("openai: a script step needs a brief (the opening to continue)")
        if not brief.prompt.strip():
            raise GeneratorError("openai: the opening to continue is empty")
        body: dict[str, Any] = {
            "model": params.model,
            "messages": [
                {"role": "system", "content": system_message(brief)},
                {"role": "user", "content": brief.prompt},
            ],
            "n": brief.takes,
            "seed": request.seed,
            # Tokens run about four characters, so half the length leaves room to reach it.
            "max_completion_tokens": params.max_tokens or max(64, brief.length // 2),
        }
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if self.client is not None:
            response = complete(self.client, body, params)
        else:
            with open_client(params.max_retries, params.timeout) as client:
                response = complete(client, body, params)
        takes = read_takes_from(response, brief, params.model)
        write_takes(request.outputs["takes"], takes)
        request.progress(1.0)
        meta: dict[str, Any] = {"model": getattr(response, "model", None) or params.model}
        usage = getattr(response, "usage", None)
        if usage is not None:
            meta["input_tokens"] = usage.prompt_tokens
            meta["output_tokens"] = usage.completion_tokens
            meta["tokens"] = usage.total_tokens
        if getattr(response, "system_fingerprint", None):
            # Same seed and fingerprint is OpenAI's condition for (best-effort) repeatable takes.
            meta["system_fingerprint"] = response.system_fingerprint
        meta["finish"] = [take["finish"] for take in takes]
        meta["warnings"] = [] if usage is not None else ["the API reported no token usage"]
        return meta
