"""Script backend: a causal language model on disk (GPT-2 or any small causal LM).

``model`` names a local directory holding a Hugging Face causal LM and its
tokenizer (``config.json``, the weights, ``tokenizer.json`` ...). filmkit
never downloads weights: the directory is loaded with ``local_files_only``
while the Hub's offline switches are on, and anything that is not an
existing directory is refused. Put a model on disk yourself first, e.g.
``huggingface-cli download gpt2 --local-dir models/gpt2``.

The prompt is a short header (title, instructions as a Fountain note) and
the opening's dialogue in Fountain form, ending with the cue of the
character whose turn is next, so even a small base model carries on as
dialogue. Every take is sampled in one ``generate`` call
(``num_return_sequences`` = takes), seeded from the request, and cut by
:func:`~filmkit.generators.script.cut_take`. On CPU the same request gives
the same takes; sampling on CUDA can differ between GPUs and library
versions (set ``device: cpu`` for takes that reproduce everywhere).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request, ScriptBrief
from filmkit.generators.script import cut_take, write_takes

OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
INSTALL = "pip install 'filmkit[local-lm]'"
FETCH = (
    "filmkit never downloads weights; put a model directory on disk yourself, e.g. "
    "`huggingface-cli download gpt2 --local-dir models/gpt2`, and name that directory"
)


class LocalScriptParams(BaseModel):
    """Params of the local causal-LM script backend."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        description="local directory with a Hugging Face causal LM and its tokenizer "
        "(e.g. models/gpt2); never downloaded",
    )
    temperature: float = Field(
        1.0, gt=0.0, le=5.0, description="sampling temperature (higher: more varied takes)"
    )
    top_k: int = Field(
        50, ge=0, le=100_000, description="sample from the k most likely tokens only; 0: all"
    )
    top_p: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        description="nucleus sampling: keep the most likely tokens up to this probability mass",
    )
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        le=8192,
        description="most tokens each take may use; unset: half the brief's length in "
        "characters (a take also stops once it passes that length)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where to run: auto uses CUDA when available; cpu gives takes that "
        "reproduce on every machine",
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "float32",
        description="weights' precision; auto: as stored in the model directory",
    )


def model_dir(value: str) -> Path:
    """The model directory ``value`` names, or a GeneratorError saying how to get one."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise GeneratorError(
            f"local: model {value!r} is not a directory on this machine "
            f"(relative paths start where filmkit runs); {FETCH}"
        )
    if not (path / "config.json").is_file():
        raise GeneratorError(
            f"local: {value!r} holds no config.json, so it is not a Hugging Face model "
            f"directory; {FETCH}"
        )
    return path


@contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face Hub offline for the duration, restored afterwards.

    huggingface_hub reads the switches once, at import, so the imported
    constant is switched too (its ``is_offline_mode()`` reads that constant).
    """
    saved = {name: os.environ.get(name) for name in OFFLINE_SWITCHES}
    os.environ.update(dict.fromkeys(OFFLINE_SWITCHES, "1"))
    constants: Any = None
    try:
        import huggingface_hub.constants as constants

        was_offline = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
    except ImportError:  # transformers will say what is missing
        pass
    try:
        yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE = was_offline
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pick_device(params: LocalScriptParams, request: Request) -> str:
    """``cpu`` or a CUDA device, as the params allow and the machine offers."""
    import torch

    if params.device == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        if params.device == "cuda":
            raise GeneratorError("local: device is cuda but torch sees no CUDA GPU")
        return "cpu"
    # The build may name a particular GPU (cuda:1); otherwise the first.
    return request.device if request.device.startswith("cuda") else "cuda"


def load(path: Path, params: LocalScriptParams, device: str) -> tuple[Any, Any]:
    """Tokenizer and model from ``path``, without touching the network."""
    with hub_offline():
        try:
            import transformers
        except ImportError as exc:
            raise GeneratorError(
                f"local: the script/local backend needs transformers; {INSTALL}"
            ) from exc
        # Loading bars would scribble over filmkit's own progress display.
        bars_were_on = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=params.dtype
            )
        except (OSError, ValueError, KeyError) as exc:
            raise GeneratorError(f"local: cannot load a causal LM from {path}: {exc}") from exc
        finally:
            if bars_were_on:
                transformers.utils.logging.enable_progress_bar()
    return tokenizer, model.to(device).eval()


def next_cue(brief: ScriptBrief) -> str:
    """The cue of the character whose turn is next ("" when the brief names none)."""
    if not brief.characters:
        return ""
    last = brief.opening[-1].cue if brief.opening else ""
    if last in brief.characters:
        return brief.characters[(brief.characters.index(last) + 1) % len(brief.characters)]
    return brief.characters[0]


def build_prompt(brief: ScriptBrief) -> tuple[str, str]:
    """(prompt text, the cue it ends with): header, opening as Fountain dialogue, next cue."""
    header = []
    if brief.title:
        header.append(f"Title: {brief.title}\n")
    if brief.instructions:
        header.append(f"[[{brief.instructions.strip()}]]\n")
    speeches = []
    for turn in brief.opening:
        direction = turn.direction.strip().strip("()")
        lines = [turn.cue.upper()] + ([f"({direction})"] if direction else []) + [turn.text]
        speeches.append("\n".join(lines) + "\n")
    opening = "\n".join(speeches) if speeches else brief.prompt.strip() + "\n"
    cue = next_cue(brief)
    return "\n".join([*header, opening]) + (f"\n{cue}\n" if cue else "\n"), cue


def sample(
    tokenizer: Any, model: Any, prompt: str, cue: str, brief: ScriptBrief, seed: int, **options: Any
) -> tuple[list[str], int, int, list[str]]:
    """(raw takes, prompt tokens, new tokens, warnings) for ``brief.takes`` samples."""
    import torch
    import transformers

    warnings_out: list[str] = []
    device = model.device
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    limit = getattr(model.config, "max_position_embeddings", None) or 0
    new = options.pop("max_new_tokens")
    if limit and ids.shape[1] + new > limit:
        new = min(new, limit // 2)  # the opening keeps at least half the context
        ids = ids[:, -(limit - new) :]  # keep the end of the opening: it matters most
        warnings_out.append(
            f"the prompt was cut to its last {ids.shape[1]} tokens and each take to {new} "
            f"new tokens to fit the model's {limit}-token context"
        )
    ids = ids.to(device)
    width = ids.shape[1]
    head = f"{cue}\n" if cue else ""

    class EnoughText(transformers.StoppingCriteria):
        """Stop a take once it has passed the brief's length or reached a stop string."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, width:], skip_special_tokens=True)
            texts = [head + text for text in texts]
            done = [
                len(text) > brief.length or any(s and s in text for s in brief.stop)
                for text in texts
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    devices = [device] if device.type == "cuda" else []
    # A private RNG stream: the same seed gives the same takes, and the caller's
    # global torch RNG is left as it was.
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(seed % 2**63)
        output = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            num_return_sequences=brief.takes,
            max_new_tokens=new,
            pad_token_id=pad,
            stopping_criteria=transformers.StoppingCriteriaList([EnoughText()]),
            **options,
        )
    generated = output[:, width:]
    ends = {t for t in (tokenizer.eos_token_id, pad) if t is not None}
    count = sum(int(sum(1 for t in row.tolist() if t not in ends)) for row in generated)
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    return [head + text for text in texts], width, count, warnings_out


class LocalScript(Generator):
    """A causal language model on disk (GPT-2 or similar) continues the screenplay."""

    kind = "script"
    name = "local"
    version = "1"
    Params = LocalScriptParams
    outputs: ClassVar[dict[str, str]] = {"takes": ".json"}
    # True on CPU; CUDA sampling may differ between GPUs (see the module docstring).
    deterministic = True
    licence = "the model directory's own licence (GPT-2: MIT)"

    def generate(self, request: Request) -> dict[str, Any]:
        """Write ``brief.takes`` sampled continuations of the opening to ``outputs["takes"]``."""
        params = request.params
        assert isinstance(params, LocalScriptParams)
        brief = request.script
        if brief is None:
            raise GeneratorError("local: a script step needs a brief (the opening to continue)")
        prompt, cue = build_prompt(brief)
        if not prompt.strip():
            raise GeneratorError("local: the opening to continue is empty")
        path = model_dir(params.model)
        try:
            import torch  # noqa: F401  (transformers needs it; say so plainly)
        except ImportError as exc:
            raise GeneratorError(f"local: the script/local backend needs torch; {INSTALL}") from exc
        device = pick_device(params, request)
        tokenizer, model = load(path, params, device)
        request.progress(0.2)
        raws, input_tokens, output_tokens, notes = sample(
            tokenizer,
            model,
            prompt,
            cue,
            brief,
            request.seed,
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens or max(16, brief.length // 2),
        )
        takes = [dict(zip(("text", "finish"), cut_take(raw, brief), strict=True)) for raw in raws]
        write_takes(request.outputs["takes"], takes)
        request.progress(1.0)
        return {
            "model": params.model,
            "device": str(model.device),
            "dtype": str(model.dtype).removeprefix("torch."),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tokens": input_tokens + output_tokens,
            "finish": [take["finish"] for take in takes],
            "warnings": notes,
        }
