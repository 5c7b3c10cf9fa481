"""The value types every spec model is made of."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Seconds = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", description='"#rrggbb"')]
Ident = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="lower-case letters, digits, '-' and '_'",
    ),
]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
