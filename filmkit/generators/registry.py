"""The one registry of generator backends: id -> lazily imported class.

Built-ins are declared exactly like third-party plugins, as entry points of
the group ``filmkit.generators`` (see pyproject.toml), and resolved only when
first used. A registry is an explicit value passed down from the facade; there
is no global instance.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points

from filmkit.errors import UsageError
from filmkit.generators.base import Generator
from filmkit.spec.hints import suggest

ENTRY_POINT_GROUP = "filmkit.generators"


class Registry:
    """Maps ``kind/name`` ids to generator classes, imported on first use."""

    def __init__(self, targets: Mapping[str, str | type[Generator]]) -> None:
        self._targets: dict[str, str | type[Generator]] = dict(targets)
        self._loaded: dict[str, type[Generator]] = {}

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> Registry:
        """Every backend installed in this environment, built-ins included."""
        return cls({ep.name: ep.value for ep in entry_points(group=group)})

    def ids(self) -> list[str]:
        """All registered ids, sorted."""
        return sorted(self._targets)

    def __contains__(self, generator_id: object) -> bool:
        return generator_id in self._targets

    def targets(self) -> dict[str, str]:
        """Picklable ``id -> "module:attr"`` form, for worker processes."""
        out = {}
        for key, target in self._targets.items():
            if isinstance(target, str):
                out[key] = target
            else:
                out[key] = f"{target.__module__}:{target.__qualname__}"
        return out

    def get(self, generator_id: str) -> type[Generator]:
        """The class registered as ``generator_id``; imports it if needed."""
        if generator_id in self._loaded:
            return self._loaded[generator_id]
        target = self._targets.get(generator_id)
        if target is None:
            raise UsageError(
                f"no generator backend {generator_id!r}; {suggest(generator_id, self._targets)}"
            )
        cls = _resolve(target) if isinstance(target, str) else target
        self._loaded[generator_id] = cls
        return cls


def _resolve(target: str) -> type[Generator]:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Generator)):
        raise UsageError(f"{target} is not a filmkit Generator subclass")
    return obj
