"""A character-level LSTM that learns a corpus of dialogue, then continues screenplays.

Two backends share this module:

* ``model/lstm`` (:class:`LSTMTrainer`) trains the network on the corpus
  speeches, one speech a line, and saves it (weights, vocabulary and shape in
  one ``torch.save`` file, so sampling needs nothing else);
* ``script/lstm`` (:class:`LSTMScript`) reads those weights and writes takes:
  it primes the network with the opening's speeches, then samples one speech
  a line for each speaker in turn.

Both are seeded from ``request.seed``: on the CPU the same request gives the
same bytes. On a CUDA GPU training is much faster but its kernels may differ
in the last bits from run to run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.script import write_takes
from filmkit.generators.script.corpus import (
    TakeWriter,
    is_speakable,
    join_direction,
    opening_speeches,
    read_corpus,
    split_direction,
    trim_speech,
    turn_order,
)
from filmkit.generators.training import (
    cpu_threads,
    derive,
    load_weights,
    optimise,
    pick_device,
    save_weights,
)

FORMAT = "filmkit-char-lstm"
# Dropout on the embedded input, as a share of the ``dropout`` param: on a 40 KB
# corpus input dropout 0.2 beside output dropout 0.5 ended 0.02 nats/character
# better on held-out lines than 0.5 on both (1.30 against 1.32).
INPUT_DROPOUT = 0.4
# Tries at a speech before a take gives up (an empty or one-character line is resampled).
RETRIES = 8
# A leading "(direction)" longer than this is not a direction but a runaway bracket.
LONGEST_DIRECTION = 60


class LSTMParams(BaseModel):
    """What ``model/lstm`` trains on and how: the corpus, the network's size, the schedule.

    The defaults train a 348k-parameter network in about 90 s on one core of a
    2-core CPU (800 steps at 9 steps/s, torch 2.13) on a 30-40 KB corpus, to a
    loss of 1.2 nats/character; held-out lines stopped improving after 600-800
    steps (they score 1.30 on a 40 KB corpus), so longer training mostly learns
    the corpus by heart.
    """

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field(description="the corpus file in the project: one speech a line")
    hidden: int = Field(256, ge=8, le=2048, description="units in each LSTM layer")
    layers: int = Field(1, ge=1, le=4, description="stacked LSTM layers")
    training_steps: int = Field(800, ge=1, le=1_000_000, description="optimiser steps")
    sequence: int = Field(96, ge=4, le=2048, description="characters per training sequence")
    batch: int = Field(32, ge=1, le=4096, description="sequences per optimiser step")
    learning_rate: float = Field(0.004, gt=0.0, le=1.0, description="Adam's step size at start")
    dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="dropout on the LSTM's output (and 0.4 of it on its input)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to run: cpu, cuda, or auto (cuda when torch sees a GPU)"
    )


class LSTMScriptParams(LSTMParams):
    """The trainer's params (they pick the weights) plus how to sample from them."""

    temperature: float = Field(
        0.8, ge=0.05, le=3.0, description="below 1: safer, likelier characters; above: wilder"
    )
    # On the 40 KB corpus at temperature 0.8, k = 10 raised the share of sampled
    # words that are corpus words from 0.89 to 0.92 without making takes alike.
    top_k: int = Field(
        10, ge=0, le=1000, description="sample only from the k likeliest characters; 0: all"
    )
    max_speech: int = Field(
        90, ge=8, le=2000, description="most characters in one speech (its direction aside)"
    )


def _network(torch: Any, config: dict[str, Any]) -> Any:
    """The character LSTM: embedding -> dropout -> LSTM -> dropout -> next-character logits.

    A corpus of a few thousand lines is learnt by heart within minutes; dropout
    on both sides of the LSTM keeps it writing new lines for longer.
    """
    nn = torch.nn

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            size = len(config["vocab"])
            layers = int(config["layers"])
            self.embed = nn.Embedding(size, int(config["embed"]))
            # nn.LSTM's own dropout acts only between layers (and warns with one).
            between = float(config["dropout"]) if layers > 1 else 0.0
            self.lstm = nn.LSTM(
                int(config["embed"]),
                int(config["hidden"]),
                layers,
                batch_first=True,
                dropout=between,
            )
            self.drop = nn.Dropout(float(config["dropout"]))
            self.drop_in = nn.Dropout(INPUT_DROPOUT * float(config["dropout"]))
            self.head = nn.Linear(int(config["hidden"]), size)

        def forward(self, x: Any, state: Any = None) -> tuple[Any, Any]:
            out, state = self.lstm(self.drop_in(self.embed(x)), state)
            return self.head(self.drop(out)), state

    return CharLSTM()


class LSTMTrainer(Generator):
    """Trains a character-level LSTM language model on a corpus of speeches."""

    kind = "model"
    name = "lstm"
    version = "1"
    Params = LSTMParams
    outputs: ClassVar[dict[str, str]] = {"weights": ".pt"}
    file_params: ClassVar[tuple[str, ...]] = ("corpus",)
    licence = "filmkit (GPL-3.0-or-later); the weights are trained on your corpus"

    def generate(self, request: Request) -> dict[str, Any]:
        """Train on ``request.inputs["corpus"]`` and save to ``outputs["weights"]``."""
        params = request.params
        assert isinstance(params, LSTMParams)
        corpus = request.inputs.get("corpus")
        if corpus is None:
            raise GeneratorError("model/lstm needs its corpus file (param 'corpus')")
        text = "\n".join(read_corpus(corpus)) + "\n"  # read first: a bad corpus fails fast

        import torch

        device = pick_device(torch, params.device)
        devices = [torch.cuda.current_device()] if device.type == "cuda" else []
        # A private RNG state: weight init and dropout are seeded without
        # disturbing the global generator anybody else in this process uses.
        with cpu_threads(torch, device), torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive(request.seed, "init"))
            return self._train(torch, text, params, device, request)

    def _train(
        self, torch: Any, text: str, params: LSTMParams, device: Any, request: Request
    ) -> dict[str, Any]:
        vocab = "".join(sorted(set(text)))
        index = {ch: i for i, ch in enumerate(vocab)}
        data = torch.tensor([index[ch] for ch in text], dtype=torch.long)
        sequence = min(params.sequence, len(data) - 2)  # a tiny corpus gets shorter sequences
        config = {
            "vocab": vocab,
            "embed": min(64, params.hidden),
            "hidden": params.hidden,
            "layers": params.layers,
            "dropout": params.dropout,
        }
        model = _network(torch, config).to(device)
        model.train()
        optimiser = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
        steps = params.training_steps
        # Cosine decay to a tenth of the rate: a short schedule still ends on a fine step.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser,
            lambda step: 0.1 + 0.45 * (1.0 + math.cos(math.pi * step / steps)),
        )
        batches = torch.Generator().manual_seed(derive(request.seed, "batches"))
        offsets = torch.arange(sequence + 1)
        losses: list[float] = []
        every = max(1, steps // 50)
        started = time.perf_counter()
        for step in range(steps):
            starts = torch.randint(0, len(data) - sequence, (params.batch,), generator=batches)
            window = data[starts[:, None] + offsets].to(device)
            logits, _ = model(window[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, len(vocab)), window[:, 1:].reshape(-1)
            )
            losses.append(optimise(torch, model, optimiser, schedule, loss, 1.0))
            if (step + 1) % every == 0 or step + 1 == steps:
                request.progress((step + 1) / steps)
        seconds = time.perf_counter() - started
        save_weights(torch, request.outputs["weights"], FORMAT, config, model)
        tail = losses[-max(1, min(50, steps // 10)) :]
        return {
            "model": "char-lstm",
            "device": device.type,
            "final_loss": round(sum(tail) / len(tail), 4),
            "steps": steps,
            "steps_per_second": round(steps / seconds, 2) if seconds > 0 else None,
            "seconds_training": round(seconds, 2),
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocabulary": len(vocab),
            "corpus_characters": len(text),
        }


class _Sampler:
    """Draws speeches, one character at a time, from a trained network."""

    def __init__(self, torch: Any, path: Path, device: Any, params: LSTMScriptParams) -> None:
        self.torch = torch
        self.device = device
        self.params = params
        self.config, state = load_weights(torch, path, FORMAT, "model/lstm weights")
        self.vocab: str = self.config["vocab"]
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        if "\n" not in self.index:
            raise GeneratorError(f"script/lstm: {path} has no line break in its vocabulary")
        try:
            self.model = _network(torch, self.config)
            self.model.load_state_dict(state)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise GeneratorError(
                f"script/lstm: {path} does not hold a whole model ({exc})"
            ) from None
        self.model.to(device).eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())
        # One ready input per character: making a tensor per sampled character costs
        # more than running the network on it.
        self.single = [
            torch.tensor([[i]], dtype=torch.long, device=device) for i in range(len(self.vocab))
        ]

    def feed(self, text: str, state: Any) -> tuple[Any, Any]:
        """Run ``text`` through the network: (logits after its last character, state).

        Characters the corpus never had are skipped: the network has no word for them.
        """
        ids = [self.index[ch] for ch in text if ch in self.index]
        if not ids:
            ids = [self.index["\n"]]
        x = self.torch.tensor([ids], dtype=self.torch.long, device=self.device)
        logits, state = self.model(x, state)
        return logits[0, -1].float().cpu(), state

    def draw(self, logits: Any, state: Any, generator: Any) -> str:
        """One raw line from the network (up to the line break or the length limit)."""
        torch, params = self.torch, self.params
        chars: list[str] = []
        limit = params.max_speech
        while len(chars) <= limit:
            scaled = logits / params.temperature
            if 0 < params.top_k < scaled.numel():
                floor = torch.topk(scaled, params.top_k).values[-1]
                scaled = scaled.masked_fill(scaled < floor, float("-inf"))
            probs = torch.softmax(scaled, dim=-1)
            # Drawn on the CPU with the take's own generator: reproducible on any device.
            pick = int(torch.multinomial(probs, 1, generator=generator))
            ch = self.vocab[pick]
            if ch == "\n":
                break
            chars.append(ch)
            closes = ch == ")" and chars[0] == "(" and chars.count(")") == 1
            if closes and len(chars) <= LONGEST_DIRECTION:
                limit += len(chars)  # a direction does not count against the speech
            out, state = self.model(self.single[pick], state)
            logits = out[0, -1].float().cpu()
        direction, text = split_direction("".join(chars))
        return join_direction(direction, trim_speech(text, params.max_speech))

    def take(self, brief: Any, generator: Any) -> TakeWriter:
        """One take: speeches for each speaker in turn, until the brief says stop."""
        writer = TakeWriter(brief)
        context = "\n".join(opening_speeches(brief)) + "\n"
        logits, state = self.feed(context, None)
        speakers = turn_order(brief)
        for _ in range(brief.lines):
            cue = next(speakers)
            for _attempt in range(RETRIES):
                speech = self.draw(logits, state, generator)
                if is_speakable(split_direction(speech)[1]):
                    break
            else:
                writer.end()
                break
            if not writer.add(cue, speech):
                break
            # The network reads the speech as it was kept (a trimmed one included).
            logits, state = self.feed(speech + "\n", state)
        return writer


class LSTMScript(Generator):
    """Continues a screenplay by sampling a character-level LSTM trained on your corpus."""

    kind = "script"
    name = "lstm"
    version = "1"
    Params = LSTMScriptParams
    outputs: ClassVar[dict[str, str]] = {"takes": ".json"}
    trainer = "model/lstm"
    file_params: ClassVar[tuple[str, ...]] = ("corpus",)
    licence = "filmkit (GPL-3.0-or-later); the takes are yours"

    def generate(self, request: Request) -> dict[str, Any]:
        """Write ``brief.takes`` takes, sampled from ``request.inputs["model"]``."""
        import torch

        params = request.params
        assert isinstance(params, LSTMScriptParams)
        brief = request.script
        if brief is None:
            raise GeneratorError("script/lstm needs a script brief")
        weights = request.inputs.get("model")
        if weights is None:
            raise GeneratorError("script/lstm needs the weights model/lstm trained (input 'model')")
        device = pick_device(torch, params.device)
        sampler = _Sampler(torch, Path(weights), device, params)
        started = time.perf_counter()
        takes = []
        with cpu_threads(torch, device), torch.inference_mode():
            for k in range(max(1, brief.takes)):
                generator = torch.Generator().manual_seed(derive(request.seed, "take", k))
                takes.append(sampler.take(brief, generator).take())
                request.progress((k + 1) / max(1, brief.takes))
        write_takes(request.outputs["takes"], takes)
        return {
            "model": "char-lstm",
            "device": device.type,
            "parameters": sampler.parameters,
            "seconds_sampling": round(time.perf_counter() - started, 3),
        }
