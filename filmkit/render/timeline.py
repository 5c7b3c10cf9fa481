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


class TimelineError(ValueError):
    """The shots cannot be laid out (a shot too short for its crossfades)."""


def film_timeline(
    shots: Sequence[dict[str, Any]], line_lengths: Sequence[Sequence[float]], fps: int
) -> list[ShotTiming]:
    """Every shot's start, duration and overlap with the shot before it.

    A shot's ``overlap`` is the number of frames it shares with the shot
    before it (its crossfade, decided by the planner; 0 for a cut). Overlaps
    are exact, never shortened, so each shot can be rendered on its own, its
    first and last frames apart, and the film joined without re-encoding; a
    shot must outlast its crossfades by at least one frame of its own.
    """
    timings: list[ShotTiming] = []
    overlaps = [shot.get("overlap", 0) if i else 0 for i, shot in enumerate(shots)]
    overlaps.append(0)
    for index, (shot, lengths) in enumerate(zip(shots, line_lengths, strict=True)):
        duration, offsets = shot_timing(shot, lengths, fps)
        frames = round(duration * fps)
        if overlaps[index] + overlaps[index + 1] >= frames:
            raise TimelineError(
                f"shot {shot['id']} lasts {frames} frames ({duration:.2f}s), too short for its "
                f"crossfades ({overlaps[index]} + {overlaps[index + 1]} frames): shorten the "
                "crossfades, or give the shot a longer `duration:`"
            )
        overlap = overlaps[index] / fps
        start = timings[-1].end - overlap if timings else 0.0
        timings.append(ShotTiming(shot["id"], start, duration, overlap, offsets, tuple(lengths)))
    return timings


def subtitle_cues(
    shots: Sequence[dict[str, Any]],
    timings: Sequence[ShotTiming],
    voiced: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> list[Cue]:
    """A cue per line, from the real line timings.

    ``voiced`` gives, per shot and line, the (onset, offset) of the audible
    speech within the line's audio; a cue starts at the onset and holds a
    little past the offset. Without it, the whole audio counts as speech.
    """
    cues = []
    for index, (shot, timing) in enumerate(zip(shots, timings, strict=True)):
        spans = voiced[index] if voiced is not None else [(0.0, n) for n in timing.line_lengths]
        for line, offset, (onset, offset_end) in zip(
            shot["lines"], timing.line_offsets, spans, strict=True
        ):
            start = timing.start + offset
            hold = min(line["pause"], 0.4)
            cues.append(Cue(start + onset, start + offset_end + hold, line["name"], line["text"]))
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


def format_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text for ``cues``, each with its speaker as a voice span."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        start, end = _srt_time(cue.start, "."), _srt_time(cue.end, ".")
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{start} --> {end}\n<v {_vtt_name(cue.name)}>{text}\n")
    return "\n".join(blocks)


def reading_speed(cue: Cue) -> float:
    """Characters per second a viewer must read to follow ``cue``."""
    return len(cue.text) / max(cue.end - cue.start, 1e-3)


def _vtt_name(name: str) -> str:
    return name.replace(">", "").replace("&", "and") or "?"


def _srt_time(seconds: float, separator: str = ",") -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
