"""When everything happens. Pure: durations in, times out.

A shot lasts its ``duration`` or, when its dialogue needs longer, ``lead_in``
+ its lines and pauses + ``tail``; every duration is rounded up to whole
frames so picture and sound agree to the frame. A crossfade overlaps a shot
with the one before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SHOT_SECONDS = 3.0


@dataclass(frozen=True)
class ShotTiming:
    """One shot on the film's clock."""

    id: str
    start: float
    duration: float
    overlap: float
    line_offsets: tuple[float, ...]
    line_lengths: tuple[float, ...]

    @property
    def end(self) -> float:
        """When the shot's last frame ends."""
        return self.start + self.duration


@dataclass(frozen=True)
class Cue:
    """A subtitle: who says what, when."""

    start: float
    end: float
    name: str
    text: str


def to_frames(seconds: float, fps: int) -> int:
    """Whole frames covering ``seconds`` (at least one)."""
    return max(1, math.ceil(seconds * fps - 1e-6))


def shot_timing(
    shot: dict[str, Any], line_lengths: Sequence[float], fps: int
) -> tuple[float, tuple[float, ...]]:
    """A shot's frame-rounded duration and the offsets of its lines."""
    offsets = []
    clock = shot["lead_in"]
    pauses = [line["pause"] for line in shot["lines"]]
    for length, pause in zip(line_lengths, pauses, strict=True):
        offsets.append(clock)
        clock += length + pause
    needed = clock - (pauses[-1] if pauses else 0.0) + shot["tail"] if offsets else 0.0
    wanted = shot["duration"] if shot["duration"] is not None else 0.0
    seconds = max(wanted, needed) or DEFAULT_SHOT_SECONDS
    return to_frames(seconds, fps) / fps, tuple(offsets)


def overlap_seconds(
    transition: dict[str, Any], previous: float | None, duration: float, fps: int
) -> float:
    """How long a shot overlaps the one before it (whole frames; 0 for a cut)."""
    if previous is None or transition["type"] != "crossfade":
        return 0.0
    frames = min(
        round(transition["duration"] * fps),
        round(previous * fps) - 1,
        round(duration * fps) - 1,
    )
    return max(0, frames) / fps


def film_timeline(
    shots: Sequence[dict[str, Any]], line_lengths: Sequence[Sequence[float]], fps: int
) -> list[ShotTiming]:
    """Every shot's start, duration and overlap with the shot before it."""
    timings: list[ShotTiming] = []
    for shot, lengths in zip(shots, line_lengths, strict=True):
        duration, offsets = shot_timing(shot, lengths, fps)
        transition = shot.get("transition") or {"type": "cut"}
        previous = timings[-1].duration if timings else None
        overlap = overlap_seconds(transition, previous, duration, fps)
        start = timings[-1].end - overlap if timings else 0.0
        timings.append(ShotTiming(shot["id"], start, duration, overlap, offsets, tuple(lengths)))
    return timings


def subtitle_cues(shots: Sequence[dict[str, Any]], timings: Sequence[ShotTiming]) -> list[Cue]:
    """A cue per line, from the real line timings."""
    cues = []
    for shot, timing in zip(shots, timings, strict=True):
        for line, offset, length in zip(
            shot["lines"], timing.line_offsets, timing.line_lengths, strict=True
        ):
            start = timing.start + offset
            hold = min(line["pause"], 0.4)
            cues.append(Cue(start, start + length + hold, line["name"], line["text"]))
    # A cue never overlaps the next one, even across a crossfade.
    return [
        Cue(cue.start, min(cue.end, nxt.start), cue.name, cue.text)
        if nxt.start > cue.start
        else cue
        for cue, nxt in zip(cues, cues[1:], strict=False)
    ] + cues[-1:]


def format_srt(cues: Sequence[Cue]) -> str:
    """SubRip text for ``cues``."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        blocks.append(f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{cue.text}\n")
    return "\n".join(blocks)


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def speech_spans(timings: Sequence[ShotTiming]) -> list[tuple[float, float]]:
    """(start, end) of every line on the film clock, for ducking."""
    return [
        (t.start + offset, t.start + offset + length)
        for t in timings
        for offset, length in zip(t.line_offsets, t.line_lengths, strict=True)
    ]
