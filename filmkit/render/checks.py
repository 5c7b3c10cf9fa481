"""Build checks on sound and subtitles: warn, or fail the step.

A renderer collects plain-language problems; :func:`settle` turns them into
the step's ``warnings`` metadata (shown after every build, cached or not) or,
when the film says ``checks: fail``, into an error that fails the step, so
nothing that failed a check is ever cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filmkit.errors import BuildError


def settle(problems: Sequence[str], mode: str, what: str) -> dict[str, Any]:
    """Metadata with the warnings, or a :class:`BuildError` in ``fail`` mode."""
    if problems and mode == "fail":
        listed = "\n".join(f"  - {p}" for p in problems)
        raise BuildError(
            f"{what} failed {len(problems)} check(s):\n{listed}\n"
            "fix them, or set `checks: warn` in film.yaml to build anyway"
        )
    return {"warnings": list(problems)} if problems else {}
