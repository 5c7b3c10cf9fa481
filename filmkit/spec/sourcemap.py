"""Where each value of the spec came from: spec path -> file:line:col."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from filmkit.errors import Location, SpecError

SpecPath = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Positions of keys and values in the YAML files that make up one film."""

    values: dict[SpecPath, Location] = field(default_factory=dict)
    keys: dict[SpecPath, Location] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)

    def add_file(self, name: str, text: str) -> None:
        """Remember a file's lines for error snippets."""
        self.texts[name] = text.splitlines()

    def locate(self, path: SpecPath, *, key: bool = False) -> Location | None:
        """The closest known position for ``path`` (the key's, when ``key``)."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if key and end == len(path) and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return None

    def snippet(self, location: Location | None) -> str:
        """The source line at ``location``."""
        if location is None:
            return ""
        lines = self.texts.get(location.file, [])
        return lines[location.line - 1] if 0 < location.line <= len(lines) else ""

    def error(
        self, path: SpecPath, message: str, hint: str = "", *, key: bool = False
    ) -> SpecError:
        """A :class:`SpecError` pointing at ``path``."""
        location = self.locate(path, key=key)
        return SpecError(
            message, location=location, snippet=self.snippet(location), hint=hint, path=path
        )

    def located(self, error: SpecError) -> SpecError:
        """``error`` with a location filled in from its spec path."""
        if error.location is not None:
            return error
        return self.error(error.path, error.message, error.hint)


def display_name(path: Path, root: Path) -> str:
    """A file name as the user knows it: relative to the project root."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
