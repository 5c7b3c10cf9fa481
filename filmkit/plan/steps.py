"""The plan's data: frozen steps and the DAG they form. No I/O here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from filmkit.errors import SpecError, UsageError
from filmkit.plan.keys import key_of_json
from filmkit.spec.hints import suggest

SpecPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Input:
    """A step input: another step's output, or a source file of the project."""

    name: str
    step: str | None = None
    output: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.step is None) == (self.file is None):
            raise ValueError("an Input is either a step output or a file")


@dataclass(frozen=True)
class Step:
    """One unit of work: run ``action`` on ``params`` and ``inputs``.

    ``params`` and ``request`` are canonical JSON strings so that a Step is
    hashable, comparable and cheap to pickle into worker processes.
    """

    id: str
    kind: str
    action: str
    version: str
    params: str
    seed: int
    request: str
    inputs: tuple[Input, ...]
    outputs: tuple[tuple[str, str], ...]
    origin: SpecPath = ()
    label: str = ""
    deterministic: bool = True

    @property
    def deps(self) -> tuple[str, ...]:
        """Ids of the steps this one reads from, without repeats."""
        return tuple(dict.fromkeys(i.step for i in self.inputs if i.step is not None))

    def params_value(self) -> Any:
        """Params as plain data."""
        return json.loads(self.params)

    def request_value(self) -> dict[str, Any]:
        """Request fields as plain data."""
        return dict(json.loads(self.request))

    def key(self, input_digests: Mapping[str, str]) -> str:
        """This step's action key, given the content digests of its inputs."""
        return key_of_json(
            self.action, self.version, self.params, self.seed, self.request, input_digests
        )

    def config_digest(self) -> str:
        """Digest of backend, version, params and seed: tells "params changed" apart."""
        return key_of_json(self.action, self.version, self.params, self.seed, "{}", {})

    def request_digest(self) -> str:
        """Digest of the request (line text, prompt, size, length)."""
        return key_of_json("request", "", "{}", 0, self.request, {})


@dataclass(frozen=True)
class Plan:
    """Steps in a valid execution order plus the files the build publishes.

    ``notes`` are warnings about the spec found while planning (a direction a
    voice cannot act on); they carry spec paths like errors do.
    """

    steps: tuple[Step, ...]
    products: tuple[tuple[str, str, str], ...] = ()
    notes: tuple[SpecError, ...] = ()
    _index: dict[str, Step] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({step.id: step for step in self.steps})

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, step_id: str) -> Step:
        return self._index[step_id]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._index

    def dependents(self) -> dict[str, list[str]]:
        """step id -> ids of the steps that read its outputs."""
        out: dict[str, list[str]] = {step.id: [] for step in self.steps}
        for step in self.steps:
            for dep in step.deps:
                out[dep].append(step.id)
        return out

    def select(self, patterns: Iterable[str]) -> Plan:
        """The named steps (``voice:*`` globs allowed) and everything they need."""
        from fnmatch import fnmatchcase

        wanted: set[str] = set()
        for pattern in patterns:
            matches = [s.id for s in self.steps if fnmatchcase(s.id, pattern)]
            if not matches:
                raise UsageError(
                    f"no step matches {pattern!r}; {suggest(pattern, self._index)}"
                    " (`filmkit plan` lists the steps)"
                )
            wanted.update(matches)
        stack = list(wanted)
        while stack:
            for dep in self._index[stack.pop()].deps:
                if dep not in wanted:
                    wanted.add(dep)
                    stack.append(dep)
        chosen = tuple(step for step in self.steps if step.id in wanted)
        products = tuple(p for p in self.products if p[1] in wanted)
        return Plan(chosen, products, self.notes)
