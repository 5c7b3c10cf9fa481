"""The corpus the offline script models learn from, and the rules every offline take keeps.

A corpus is a UTF-8 text file with one speech a line::

    # lines starting with '#' are comments; blank lines are ignored
    (quietly) Which Tuesday?
    One of the early ones.

A speech may begin with a parenthetical, which becomes the ``(direction)``
line of the Fountain output when a model writes one.

The offline backends (``script/lstm``, ``script/ngram``) write one speech at a
time, so they share the rest of this module: who speaks next
(:func:`turn_order`), what the opening says (:func:`opening_speeches`), how a
too-long speech is cut (:func:`trim_speech`) and how speeches become a take
that honours the brief's stop strings and length (:class:`TakeWriter`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from filmkit.errors import GeneratorError
from filmkit.generators.base import ScriptBrief

# Below this a model learns nothing worth sampling: better to say so than to babble.
MIN_SPEECHES = 8
MIN_CHARACTERS = 200

_DIRECTION = re.compile(r"^\((?P<direction>[^()]*)\)\s*(?P<text>.*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?…](?:[\"')\]]*)(?=\s|$)")


def normalise(text: str) -> str:
    """``text`` on one line, runs of whitespace made single spaces."""
    return " ".join(text.split())


def read_corpus(path: Path | str) -> list[str]:
    """The speeches of a corpus file, in order, whitespace-normalised.

    Raises :class:`GeneratorError` when the file is missing, unreadable, not
    UTF-8, or too small to learn from.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GeneratorError(f"corpus {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise GeneratorError(f"corpus {path} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise GeneratorError(f"corpus {path} cannot be read: {exc.strerror or exc}") from None
    speeches = []
    for line in raw.splitlines():
        line = normalise(line.lstrip("\ufeff"))
        if line and not line.startswith("#"):
            speeches.append(line)
    if not speeches:
        raise GeneratorError(
            f"corpus {path} has no speeches: write one speech a line "
            "(blank lines and lines starting with '#' are ignored)"
        )
    characters = sum(len(s) for s in speeches)
    if len(speeches) < MIN_SPEECHES or characters < MIN_CHARACTERS:
        raise GeneratorError(
            f"corpus {path} is too small to learn from: {len(speeches)} speeches, "
            f"{characters} characters (at least {MIN_SPEECHES} speeches and "
            f"{MIN_CHARACTERS} characters; a few thousand lines make a good corpus)"
        )
    return speeches


def split_direction(speech: str) -> tuple[str, str]:
    """``"(quietly) Which Tuesday?"`` -> ``("quietly", "Which Tuesday?")``.

    A speech without a leading parenthetical gives ``("", speech)``.
    """
    speech = normalise(speech)
    match = _DIRECTION.match(speech)
    if not match:
        return "", speech
    return normalise(match["direction"]), normalise(match["text"])


def join_direction(direction: str, text: str) -> str:
    """The inverse of :func:`split_direction`: a speech as one corpus line."""
    return f"({direction}) {text}" if direction else text


def turn_order(brief: ScriptBrief) -> Iterator[str]:
    """The cues of the speakers after the opening, forever, in the brief's turn order.

    The next speaker follows the opening's last speaker in ``brief.characters``
    (cycling); with no opening, or a last speaker who is not listed, the first
    listed character starts. A brief that lists nobody falls back on the
    opening's speakers in the order they first speak.
    """
    cues = [c.strip().upper() for c in brief.characters if c.strip()]
    if not cues:
        cues = list(dict.fromkeys(t.cue.strip().upper() for t in brief.opening if t.cue.strip()))
    if not cues:
        raise GeneratorError("the script brief names no characters to speak")
    start = 0
    if brief.opening:
        last = brief.opening[-1].cue.strip().upper()
        if last in cues:
            start = cues.index(last) + 1
    return itertools.islice(itertools.cycle(cues), start, None)


def opening_speeches(brief: ScriptBrief) -> list[str]:
    """The opening's speeches as corpus lines (``(direction) text``), in order."""
    return [join_direction(normalise(t.direction), normalise(t.text)) for t in brief.opening]


def trim_speech(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a sentence end or word boundary.

    A sentence end in the back half of the limit is the natural place to stop;
    failing that, the speech trails off ("...") after its last whole word.
    """
    text = normalise(text)
    if len(text) <= limit:
        return text
    head = text[: limit + 1]  # one more: a sentence may end exactly at the limit
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]]
    room = max(1, limit - 3)
    words = text[: room + 1].rsplit(" ", 1)[0] if " " in text[: room + 1] else text[:room]
    return words.rstrip(" ,;:-—") + "..."


def is_speakable(text: str) -> bool:
    """Whether a speech (without its direction) is worth keeping.

    It needs two or more characters, a letter or digit among them, and must
    not read as a parenthetical of its own (Fountain would take it for one).
    """
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return False
    return len(text) >= 2 and any(ch.isalnum() for ch in text)


def render_speech(cue: str, direction: str, text: str) -> str:
    """One Fountain speech block: the cue, an optional parenthetical line, the speech."""
    lines = [cue]
    if direction:
        lines.append(f"({direction})")
    lines.append(text)
    return "\n".join(lines)


class TakeWriter:
    """Collects the speeches of one take, keeping the brief's stop strings and length.

    :meth:`add` returns False once the take is over; ``finish`` then says why
    (``stop`` or ``length``); a take that reaches ``brief.lines`` speeches
    finishes with ``lines``, and one whose model gave up with ``end``.
    ``allowed`` vets a speech this writer shortens itself (at a stop string,
    or to fit the length); one it rejects is dropped.
    """

    def __init__(self, brief: ScriptBrief, allowed: Callable[[str], bool] | None = None) -> None:
        self.brief = brief
        self.allowed = allowed or (lambda text: True)
        self.blocks: list[str] = []
        self.speeches: list[str] = []
        self.finish = "lines"

    @property
    def text(self) -> str:
        """The take as Fountain text: speech blocks separated by blank lines."""
        return "\n\n".join(self.blocks) + "\n" if self.blocks else ""

    def _fits(self, block: str) -> bool:
        return len("\n\n".join([*self.blocks, block]) + "\n") <= self.brief.length

    def add(self, cue: str, speech: str) -> bool:
        """Add ``cue``'s ``speech`` (a corpus line); False when the take has ended."""
        direction, text = split_direction(speech)
        block = render_speech(cue, direction, text)
        hits = [block.find(s) for s in self.brief.stop if s and s in block]
        if hits:
            self.finish = "stop"
            cut = min(hits)
            speech_at = len(block) - len(text)
            # The stop string falls in the speech: keep what comes before it, if anything.
            kept = normalise(text[: cut - speech_at]) if cut > speech_at else ""
            if is_speakable(kept) and self.allowed(kept):
                block = render_speech(cue, direction, kept)
                if self._fits(block):
                    self._keep(block, join_direction(direction, kept))
                else:
                    self.finish = "length"
            return False
        if not self._fits(block):
            self.finish = "length"
            if not self.blocks:
                self._first_cut(cue, direction, text)
            return False
        self._keep(block, speech)
        return True

    def _first_cut(self, cue: str, direction: str, text: str) -> None:
        # A take must say something: when even the first speech is too long for the
        # brief, it is cut at a word boundary to fit rather than dropped.
        overhead = len(render_speech(cue, direction, "")) + 1
        if self.brief.length - overhead >= 8:
            short = trim_speech(text, self.brief.length - overhead)
            if is_speakable(short) and self.allowed(short):
                self._keep(render_speech(cue, direction, short), join_direction(direction, short))

    def _keep(self, block: str, speech: str) -> None:
        self.blocks.append(block)
        self.speeches.append(speech)

    def end(self) -> None:
        """Mark the take as ended early by its model (no speakable speech came)."""
        self.finish = "end"

    def take(self) -> dict[str, str]:
        """The take as :func:`filmkit.generators.script.write_takes` wants it."""
        return {"text": self.text, "finish": self.finish}
