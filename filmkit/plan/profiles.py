"""Render profiles: the final film, and a draft that renders in a fraction of the time.

A profile changes only how the picture is rendered (its size, how often it
changes, the encoder's speed and quality), never the timing: a draft has
every frame of the final film in the same place, so its cuts, lines and sound
are where the final film has them. Everything upstream (voices, faces, sets,
music, the sound mix) is shared between profiles and made once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    """How a build renders the picture."""

    name: str
    scale: float  # of the film's frame size
    hold: int  # each composited picture is shown for this many frames
    preset: str  # x264's speed preset
    crf: int  # x264's quality (lower is better)
    suffix: str  # added to the film's file name ("film.draft.mp4")

    def size(self, size: tuple[int, int]) -> list[int]:
        """The frame size this profile renders ``size`` at (even, as H.264 wants)."""
        return [max(2, round(side * self.scale / 2) * 2) for side in size]

    def render_params(self) -> dict[str, Any]:
        """What a picture step's params say of the profile (nothing, for the final film)."""
        if self == FINAL:
            return {}
        return {"preset": self.preset, "crf": self.crf, "hold": self.hold}


FINAL = Profile("final", scale=1.0, hold=1, preset="veryfast", crf=20, suffix="")
DRAFT = Profile("draft", scale=0.5, hold=2, preset="ultrafast", crf=28, suffix=".draft")
# The kinds of step whose params depend on the profile.
PICTURE_KINDS = ("shot", "transition", "reel", "cut")
