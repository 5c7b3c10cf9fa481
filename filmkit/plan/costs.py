"""What a build will call and what it may cost, before anything runs. Pure.

Each backend estimates one run's usage from its request (characters of a
line, images, seconds of audio: :meth:`Generator.usage`) and prices it from
its price list (:meth:`Generator.price_list`, overridden per backend under
``prices:`` in film.yaml). Only generator steps are priced; rendering is
local and free. Prices are list prices and estimates; what really ran and
what it used is in the ledger (``filmkit ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from filmkit.generators.registry import Registry
from filmkit.plan.steps import Step


@dataclass
class BackendCost:
    """Estimated usage and cost of one backend's steps."""

    backend: str
    steps: int = 0
    usage: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    offline: bool = True

    def as_dict(self) -> dict[str, object]:
        """JSON-able."""
        return {
            "backend": self.backend,
            "steps": self.steps,
            "usage": {k: round(v, 3) for k, v in sorted(self.usage.items())},
            "cost_usd": round(self.cost, 6),
            "offline": self.offline,
        }


def step_cost(
    step: Step,
    registry: Registry,
    overrides: Mapping[str, Mapping[str, float]],
    used: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], float]:
    """Usage and USD cost of running one generator step once: estimated, or from what the
    backend reported it ``used`` (unit by unit; the estimate fills the rest)."""
    backend = registry.get(step.action)
    params = backend.Params.model_validate(step.params_value())
    usage = {**backend.usage(step.request_value(), params), **(used or {})}
    prices = {**backend.price_list(params), **overrides.get(step.action, {})}
    return usage, sum(prices.get(unit, 0.0) * amount for unit, amount in usage.items())


def estimate(
    steps: Iterable[Step], registry: Registry, overrides: Mapping[str, Mapping[str, float]]
) -> list[BackendCost]:
    """Usage and cost per backend of running ``steps`` (render steps are skipped)."""
    rows: dict[str, BackendCost] = {}
    for step in steps:
        if step.action.startswith("render/"):
            continue
        usage, cost = step_cost(step, registry, overrides)
        row = rows.setdefault(
            step.action, BackendCost(step.action, offline=registry.get(step.action).offline)
        )
        row.steps += 1
        row.cost += cost
        for unit, amount in usage.items():
            row.usage[unit] = row.usage.get(unit, 0.0) + amount
    return sorted(rows.values(), key=lambda row: (-row.cost, row.backend))


def total(rows: Iterable[BackendCost]) -> float:
    """The estimated cost of every row."""
    return sum(row.cost for row in rows)


def usd(amount: float) -> str:
    """Money for people: cents, or tenths of a cent for small sums."""
    return f"${amount:.2f}" if amount == 0 or amount >= 0.01 else f"${amount:.4f}"
