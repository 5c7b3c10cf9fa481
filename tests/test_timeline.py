"""The pure timeline: frame-exact shots, crossfade overlaps, subtitles."""

from __future__ import annotations

import pytest

from filmkit.render.timeline import (
    TimelineError,
    film_timeline,
    format_srt,
    shot_timing,
    subtitle_cues,
)


def shot(id_: str, lines: list[tuple[str, float]], duration=None, overlap=0) -> dict:
    return {
        "id": id_,
        "duration": duration,
        "lead_in": 0.5,
        "tail": 0.7,
        "overlap": overlap,
        "lines": [{"who": "a", "name": "A", "text": text, "pause": pause} for text, pause in lines],
    }


def test_shot_follows_its_dialogue_rounded_up_to_whole_frames() -> None:
    duration, offsets = shot_timing(shot("s", [("one", 0.3), ("two", 0.3)]), [1.0, 2.0], 24)
    # 0.5 lead-in + 1.0 + 0.3 pause + 2.0 + 0.7 tail = 4.5 s = 108 frames
    assert duration == 108 / 24
    assert offsets == (0.5, 1.8)


def test_explicit_duration_wins_when_longer_and_never_cuts_a_line() -> None:
    assert shot_timing(shot("s", [], duration=5.0), [], 24)[0] == 5.0
    assert shot_timing(shot("s", [("x", 0.3)], duration=1.0), [3.0], 24)[0] == 101 / 24
    assert shot_timing(shot("s", []), [], 24)[0] == 3.0


def test_crossfade_overlaps_previous_shot_by_whole_frames() -> None:
    shots = [
        shot("a", [], duration=2.0),
        shot("b", [], duration=2.0, overlap=12),
    ]
    a, b = film_timeline(shots, [[], []], 24)
    assert (a.start, b.start, b.overlap) == (0.0, 1.5, 0.5)
    assert b.end == 3.5


def test_subtitles_follow_line_timings_and_never_overlap() -> None:
    shots = [
        shot("a", [("Hello.", 0.3), ("Hi.", 0.35)]),
        shot("b", [("Bye.", 0.2)], overlap=14),
    ]
    timings = film_timeline(shots, [[1.0, 0.5], [0.8]], 24)
    cues = subtitle_cues(shots, timings)
    assert [c.text for c in cues] == ["Hello.", "Hi.", "Bye."]
    assert cues[0].start == 0.5 and cues[1].start == 1.8
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    srt = format_srt(cues)
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,800\nHello.\n")


def test_a_shot_too_short_for_its_crossfades_is_refused_by_name() -> None:
    shots = [shot("a", [], duration=2.0), shot("b", [], duration=0.5, overlap=12)]
    with pytest.raises(TimelineError, match="shot b lasts 12 frames"):
        film_timeline(shots, [[], []], 24)
