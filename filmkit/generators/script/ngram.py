"""A word-level Markov chain over a corpus of speeches: ``script/ngram``.

Counting n-grams is instant, so there is no training step: every run reads
the corpus, counts, and samples. A speech is a chain of word tokens between
a start and an end marker; a leading parenthetical is one token of its own,
so the chain may open a speech with a direction as the corpus does.

A Markov chain over a small corpus mostly replays it. Two guards keep its
output the chain's own:

* no run of more than ``max_copy`` consecutive words may appear verbatim in
  the corpus (words compared by :func:`guard_words`: lower case, without
  punctuation; runs across speech boundaries count too);
* no speech may be the same words as a corpus speech.

When the sampled next word would break a guard, another candidate is drawn
(from the longest context first, backing off to shorter ones); with none
left, the speech ends there.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.script import write_takes
from filmkit.generators.script.corpus import (
    TakeWriter,
    is_speakable,
    read_corpus,
    split_direction,
    trim_speech,
    turn_order,
)

START = "\x02"
END = "\x03"
# Tries at a speech before a take gives up (a guard can rule out every short speech).
RETRIES = 12
# Words one speech may run to before it is cut (max_speech cuts it to characters later).
MAX_WORDS = 60

_NOT_WORD = re.compile(r"[^\w']+")
_SENTENCE_END = re.compile(r"[.!?][\"')]*$")


class NgramParams(BaseModel):
    """The corpus, the chain's order, and the guards against replaying the corpus."""

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field(description="the corpus file in the project: one speech a line")
    order: int = Field(3, ge=1, le=8, description="words of context plus one (3: trigrams)")
    max_copy: int = Field(
        6, ge=1, le=50, description="most consecutive words that may match the corpus verbatim"
    )
    max_speech: int = Field(90, ge=8, le=2000, description="most characters in one speech")


def guard_words(text: str) -> list[str]:
    """The words of ``text`` as the copy guard compares them: lower case, no punctuation."""
    words = (_NOT_WORD.sub("", w.lower()) for w in text.split())
    return [w for w in words if w]


def _tokens(speech: str) -> list[str]:
    """A corpus line as chain tokens: ``["(quietly)", "Which", "Tuesday?"]``."""
    direction, text = split_direction(speech)
    return ([f"({direction})"] if direction else []) + text.split()


class Chain:
    """Counted n-grams of a corpus, and the verbatim runs and speeches it must not replay."""

    def __init__(self, speeches: Sequence[str], order: int, max_copy: int) -> None:
        self.order = order
        self.window = max_copy + 1
        # counts[k][context of k tokens] -> next token -> count, for k = 0 .. order-1.
        self.counts: list[dict[tuple[str, ...], Counter[str]]] = [
            defaultdict(Counter) for _ in range(order)
        ]
        stream: list[str] = []
        self.speeches: set[tuple[str, ...]] = set()
        for speech in speeches:
            tokens = _tokens(speech)
            padded = [START] * (order - 1) + tokens + [END]
            for i in range(order - 1, len(padded)):
                for k in range(order):
                    self.counts[k][tuple(padded[i - k : i])][padded[i]] += 1
            spoken = guard_words(split_direction(speech)[1])
            self.speeches.add(tuple(spoken))
            stream.extend(spoken)
        # Every run of max_copy + 1 words in the corpus, speech boundaries included.
        self.runs = {
            tuple(stream[i : i + self.window]) for i in range(len(stream) - self.window + 1)
        }

    def _copies(self, history: list[str], token: str) -> bool:
        """Whether saying ``token`` after ``history`` replays a corpus run."""
        words = guard_words(token)
        if not words:
            return False
        tail = (history + words)[-self.window :]
        return len(tail) == self.window and tuple(tail) in self.runs

    def speech(self, rng: random.Random, history: list[str]) -> list[str] | None:
        """One speech's tokens, guarded against ``history`` (the take's words so far).

        None when every way on would replay the corpus and ending here would
        repeat a corpus speech.
        """
        tokens: list[str] = []
        spoken: list[str] = []
        while True:
            padded = [START] * (self.order - 1) + tokens
            context = padded[len(padded) - (self.order - 1) :]
            token = self._next(rng, context, history + spoken, tokens)
            if token == END:
                break
            if token is None or len(tokens) >= MAX_WORDS:
                # Forced to stop mid-sentence: end at the last full sentence, if any.
                ends = [i for i, t in enumerate(tokens) if _SENTENCE_END.search(t)]
                if ends:
                    del tokens[ends[-1] + 1 :]
                elif tokens and not _is_direction(tokens[-1]):
                    tokens[-1] = tokens[-1].rstrip(",;:-") + "..."  # it trails off
                break
            if tokens or not _is_direction(token):
                spoken.extend(guard_words(token))
            tokens.append(token)
        if tuple(_spoken(tokens)) in self.speeches:
            return None
        return tokens

    def _next(
        self, rng: random.Random, context: list[str], history: list[str], tokens: list[str]
    ) -> str | None:
        """The next token: the longest context that has an allowed candidate decides."""
        ruled_out: set[str] = set()
        # Backing off to single-word counts (k = 0) would pick any word at all,
        # mid-sentence capitals and all; a chain of order 2 or more stops at bigrams.
        lowest = 1 if context else 0
        for k in range(len(context), lowest - 1, -1):
            followers = self.counts[k].get(tuple(context[len(context) - k :]))
            if not followers:
                continue
            allowed = []
            for token, count in followers.items():
                if token in ruled_out:
                    continue
                if self._blocked(token, history, tokens):
                    ruled_out.add(token)
                    continue
                allowed.append((token, count))
            if allowed:
                choices, weights = zip(*allowed, strict=True)
                return rng.choices(choices, weights)[0]
        return None

    def _blocked(self, token: str, history: list[str], tokens: list[str]) -> bool:
        if token == END:
            # Ending is never a copy of a run, but it may finish a corpus speech.
            return tuple(_spoken(tokens)) in self.speeches
        if _is_direction(token):
            return bool(tokens)  # a direction only opens a speech
        return self._copies(history, token)


def _is_direction(token: str) -> bool:
    return token.startswith("(") and token.endswith(")")


def _spoken(tokens: list[str]) -> list[str]:
    """The guard's words of a speech's tokens: its opening direction is not spoken."""
    start = 1 if tokens and _is_direction(tokens[0]) else 0
    return [w for t in tokens[start:] for w in guard_words(t)]


class NgramScript(Generator):
    """Continues a screenplay with a word-level Markov chain over your corpus."""

    kind = "script"
    name = "ngram"
    version = "1"
    Params = NgramParams
    outputs: ClassVar[dict[str, str]] = {"takes": ".json"}
    file_params: ClassVar[tuple[str, ...]] = ("corpus",)
    licence = "filmkit (GPL-3.0-or-later); the takes are yours"

    def generate(self, request: Request) -> dict[str, Any]:
        """Write ``brief.takes`` takes, sampled from the chain of ``inputs["corpus"]``."""
        params = request.params
        assert isinstance(params, NgramParams)
        brief = request.script
        if brief is None:
            raise GeneratorError("script/ngram needs a script brief")
        corpus = request.inputs.get("corpus")
        if corpus is None:
            raise GeneratorError("script/ngram needs its corpus file (param 'corpus')")
        started = time.perf_counter()
        speeches = read_corpus(Path(corpus))
        chain = Chain(speeches, params.order, params.max_copy)
        takes = []
        for k in range(max(1, brief.takes)):
            # A string seed hashes the same in every process (PYTHONHASHSEED aside).
            rng = random.Random(f"filmkit-ngram:{request.seed}:{k}")
            takes.append(self._take(chain, brief, rng, params).take())
            request.progress((k + 1) / max(1, brief.takes))
        write_takes(request.outputs["takes"], takes)
        return {
            "model": f"{params.order}-gram",
            "device": "cpu",
            "corpus_speeches": len(speeches),
            "seconds_sampling": round(time.perf_counter() - started, 3),
        }

    def _take(
        self, chain: Chain, brief: Any, rng: random.Random, params: NgramParams
    ) -> TakeWriter:
        # A stop string may cut a speech short: the rest must be no corpus speech either.
        writer = TakeWriter(
            brief, allowed=lambda text: tuple(guard_words(text)) not in chain.speeches
        )
        speakers = turn_order(brief)
        history: list[str] = []
        for _ in range(brief.lines):
            cue = next(speakers)
            speech = self._speech(chain, rng, history, params)
            if speech is None:
                writer.end()
                break
            if not writer.add(cue, speech):
                break
            history.extend(guard_words(split_direction(speech)[1]))
        return writer

    def _speech(
        self, chain: Chain, rng: random.Random, history: list[str], params: NgramParams
    ) -> str | None:
        for _attempt in range(RETRIES):
            tokens = chain.speech(rng, history)
            if not tokens:
                continue
            direction = tokens[0][1:-1] if _is_direction(tokens[0]) else ""
            text = " ".join(tokens[1:] if direction else tokens)
            text = trim_speech(text, params.max_speech)
            # Trimming drops words: the shorter speech must still be no corpus speech.
            if is_speakable(text) and tuple(guard_words(text)) not in chain.speeches:
                return f"({direction}) {text}" if direction else text
        return None
