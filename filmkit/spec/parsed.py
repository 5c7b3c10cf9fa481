"""YAML files parsed before, kept so that a load parses only the files that changed.

A film of a hundred scene files spends most of a load composing YAML. Each
entry is one file's parse (its values, and the positions of its keys and
values relative to the file) pickled, keyed by the file's name and the sha256
of its text: a changed byte is a miss, and each load unpickles its own copy
to change. The facade keeps the entries between runs (:meth:`ParsedFiles.dumps`,
:meth:`ParsedFiles.loads`); the spec layer itself never touches the disk for them.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from filmkit.errors import Location
from filmkit.spec.sourcemap import SpecPath

Positions = dict[SpecPath, Location]


class ParsedFiles:
    """Parses of YAML files by name and text digest; those used last are kept."""

    VERSION = 1  # bump when what a parse holds changes

    def __init__(self, entries: dict[str, tuple[str, bytes]] | None = None) -> None:
        self._entries = dict(entries or {})
        self._used: set[str] = set()
        self.changed = False

    @classmethod
    def loads(cls, blob: bytes) -> ParsedFiles:
        """Entries saved by :meth:`dumps`; none if ``blob`` is not such a save."""
        try:
            version, entries = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - a damaged or foreign cache is an empty one
            return cls()
        return cls(entries if version == cls.VERSION and isinstance(entries, dict) else None)

    def dumps(self) -> bytes:
        """The entries of the files the last load used."""
        kept = {name: entry for name, entry in self._entries.items() if name in self._used}
        return pickle.dumps((self.VERSION, kept), protocol=pickle.HIGHEST_PROTOCOL)

    def get(self, name: str, text: str) -> tuple[Any, Positions, Positions] | None:
        """A fresh copy of the parse of ``text`` as file ``name``: (data, values, keys)."""
        self._used.add(name)
        entry = self._entries.get(name)
        if entry is None or entry[0] != _digest(text):
            return None
        data, values, keys = pickle.loads(entry[1])
        return data, _located(name, values), _located(name, keys)

    def put(self, name: str, text: str, data: Any, values: Positions, keys: Positions) -> None:
        """Remember the parse of ``text`` as file ``name``."""
        self._used.add(name)
        plain = (data, _plain(values), _plain(keys))
        self._entries[name] = (_digest(text), pickle.dumps(plain, pickle.HIGHEST_PROTOCOL))
        self.changed = True


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(positions: Positions) -> dict[SpecPath, tuple[int, int]]:
    return {path: (where.line, where.column) for path, where in positions.items()}


def _located(name: str, positions: dict[SpecPath, tuple[int, int]]) -> Positions:
    return {path: Location(name, line, column) for path, (line, column) in positions.items()}
