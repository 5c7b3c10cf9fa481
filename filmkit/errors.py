"""filmkit's exception tree. The CLI prints these and exits with their code.

::

    FilmkitError                  exit 1   anything filmkit reports by itself
    ├── SpecError                 exit 2   film.yaml / scenes are wrong: file:line:col + hint
    ├── UsageError                exit 2   a command was asked for something that does not exist
    ├── ProjectLockedError        exit 3   another build holds this project (--no-wait)
    ├── GeneratorError            exit 4   a backend failed to make its output
    │   └── MediaError                     ffmpeg or a media file failed
    ├── BuildError                exit 4   one or more steps failed; names them
    └── StoreError                exit 5   .filmkit/ is unusable (not a mere corrupt object:
                                           those are detected and rebuilt silently)

Only ``SpecError`` knows about source positions; code below the spec layer
raises errors that carry a *spec path* (a tuple of keys) which the loader's
``SourceMap`` turns into ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass


class FilmkitError(Exception):
    """Base of every error filmkit reports without a traceback."""

    exit_code = 1

    def render(self) -> str:
        """Text the CLI prints for this error."""
        return f"error: {self}"


@dataclass(frozen=True)
class Location:
    """A point in a source file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(FilmkitError):
    """The film spec is wrong; says where, what, and how to fix it."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        snippet: str = "",
        hint: str = "",
        path: tuple[str | int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.snippet = snippet
        self.hint = hint
        self.path = path

    def render(self, severity: str = "error") -> str:
        where = f"{self.location}: " if self.location else ""
        lines = [f"{where}{severity}: {self.message}"]
        if self.snippet and self.location:
            gutter = f"{self.location.line:>4} | "
            lines.append(gutter + self.snippet)
            lines.append(" " * (len(gutter) + self.location.column - 1) + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class SpecErrors(SpecError):
    """Several spec errors reported together."""

    def __init__(self, errors: list[SpecError]) -> None:
        errors = sorted(errors, key=_position)
        super().__init__(errors[0].message, location=errors[0].location)
        self.errors = errors

    def render(self) -> str:
        parts = [e.render() for e in self.errors]
        count = len(self.errors)
        parts.append(f"{count} error{'s' if count != 1 else ''} in the spec")
        return "\n\n".join(parts)


def _position(error: SpecError) -> tuple[str, int, int]:
    where = error.location
    return (where.file, where.line, where.column) if where else ("", 0, 0)


class UsageError(FilmkitError):
    """A command asked for something that does not exist (an unknown step...)."""

    exit_code = 2


class ProjectLockedError(FilmkitError):
    """Another filmkit process holds this project's lock."""

    exit_code = 3


class GeneratorError(FilmkitError):
    """A backend could not make its output."""

    exit_code = 4


class MediaError(GeneratorError):
    """ffmpeg or a media file failed."""


class BuildError(FilmkitError):
    """One or more steps failed during a build."""

    exit_code = 4


class StoreError(FilmkitError):
    """The artifact store cannot be used."""

    exit_code = 5
