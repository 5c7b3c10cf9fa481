"""Plan the takes of script steps. Pure, like the film plan.

A script step writes ``takes`` takes per *round*: round 1 is what a first
build makes, and every ``filmkit build --regenerate NAME`` adds a round with
its own seed, so earlier takes (and the picked one) stay as they were.
Steps::

    model:<generator>  ──>  script:<name>/1, script:<name>/2, ...

The ``model:`` step exists for backends that train what they sample from
(``script/lstm``); it is shared by every script that uses the same named
generator config and its training params.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from filmkit.errors import SpecError, SpecErrors
from filmkit.generators.registry import Registry
from filmkit.plan.builder import StepBuilder
from filmkit.plan.keys import derive_seed
from filmkit.plan.steps import Plan, Step
from filmkit.spec.models import Film
from filmkit.spec.scripts import script_brief


def take_step_id(name: str, round_: int) -> str:
    """The id of round ``round_`` (1-based) of script ``name``."""
    return f"script:{name}/{round_}"


def take_numbers(takes: int, round_: int) -> range:
    """The take numbers a round holds: round 1 has 1..n, round 2 has n+1..2n, ..."""
    return range((round_ - 1) * takes + 1, round_ * takes + 1)


def compile_takes(film: Film, registry: Registry, rounds: Mapping[str, Iterable[int]]) -> Plan:
    """The steps that write the given rounds of the given scripts (and train their models)."""
    builder = StepBuilder(film, registry)
    for name, wanted in rounds.items():
        script = film.scripts[name]
        brief = script_brief(film, name, script.prompt)
        for round_ in wanted:
            _take_step(builder, name, round_, brief)
    if builder.errors:
        raise builder.errors[0] if len(builder.errors) == 1 else SpecErrors(builder.errors)
    return Plan(tuple(builder.steps.values()), (), tuple(builder.notes))


def _take_step(builder: StepBuilder, name: str, round_: int, brief: dict) -> Step | None:
    script = builder.film.scripts[name]
    if not brief["characters"]:
        builder._error(
            SpecError(
                f"script {name!r}: nobody to speak",
                hint="list `characters:`, or start the prompt with a cue of a known character",
                path=("scripts", name),
            )
        )
        return None
    step_id = take_step_id(name, round_)
    # Each round samples with its own seed; a fixed seed in the config fixes round 1.
    config = builder._config(script.generate)
    base = config.seed if config.seed is not None else derive_seed(builder.film.seed, step_id)
    seed = base if round_ == 1 or config.seed is None else derive_seed(base, step_id)
    numbers = take_numbers(script.takes, round_)
    return builder._generator_step(
        step_id,
        "script",
        script.generate,
        ("scripts", name, "generate"),
        {"script": brief},
        label=f"takes {numbers[0]}-{numbers[-1]} of {name}",
        origin=("scripts", name),
        seed=seed,
    )
