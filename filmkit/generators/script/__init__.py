"""Script backends: language models that continue a screenplay, several takes at a time.

Every backend writes its takes with :func:`write_takes` as screenplay text in
Fountain form; the spec layer parses a take into lines of dialogue when it is
spoken. :func:`cut_take` applies a brief's stop strings and length limit to
raw model output the same way for every backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from filmkit.generators.base import ScriptBrief
from filmkit.store.files import atomic_write_text

TAKES_VERSION = 1


def cut_take(raw: str, brief: ScriptBrief) -> tuple[str, str]:
    """Raw model output -> (take text, why it ended: ``stop``, ``length`` or ``end``).

    The text ends before the first stop string, and at most ``brief.length``
    characters in, at the last line break before the limit when there is one.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    finish = "end"
    cuts = [text.find(stop) for stop in brief.stop if stop and stop in text]
    if cuts:
        text, finish = text[: min(cuts)], "stop"
    if len(text) > brief.length:
        head = text[: brief.length]
        newline = head.rfind("\n")
        text, finish = (head[:newline] if newline > 0 else head), "length"
    return text.strip("\n").rstrip() + "\n", finish


def write_takes(path: Path, takes: Iterable[Mapping[str, Any]]) -> None:
    """Write the takes file: ``{"version": 1, "takes": [{"text", "finish"}, ...]}``."""
    items = [{"text": str(t["text"]), "finish": str(t.get("finish", "end"))} for t in takes]
    if not items:
        raise ValueError("a script backend must write at least one take")
    data = {"version": TAKES_VERSION, "takes": items}
    atomic_write_text(Path(path), json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def read_takes(path: Path) -> list[dict[str, str]]:
    """The takes a script step wrote, in order (take 1 first)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [{"text": t["text"], "finish": t.get("finish", "end")} for t in data["takes"]]
