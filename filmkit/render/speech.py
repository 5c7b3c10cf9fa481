"""The timeline step: the voices' timings become the film's clock and its subtitles.

Reads each line's timings file (duration, onset, offset, speech segments)
and writes:

* ``shots``: every shot's start, duration and overlap, and the film's length;
* ``speech``: every line on the film clock: where its audio starts, where
  the speech is audible (onset, offset) and its speech segments;
* ``srt`` and ``vtt``: subtitles whose cues start at the voice onsets.

and one ``scene<u>`` clock per scene (:func:`scene_clock`): the scene's
length and the shots and lines its sound needs, from the scene's first
frame. A scene's mix reads only its own clock, so an edit that moves the
scenes after it leaves their sound cached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filmkit.errors import BuildError
from filmkit.generators.voice.shaping import read_timings
from filmkit.render.checks import settle
from filmkit.render.timeline import (
    ShotTiming,
    TimelineError,
    film_timeline,
    format_srt,
    format_vtt,
    reading_speed,
    subtitle_cues,
)

# A line with less audible speech than this is reported as silent.
MIN_SPEECH_SECONDS = 0.1


def build_timeline(
    params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]
) -> dict[str, Any]:
    """Write the shots and speech timelines and the subtitles; check reading speed."""
    shots = params["shots"]
    voices = [
        [read_timings(inputs[f"timings:{i}:{k}"]) for k in range(len(shot["lines"]))]
        for i, shot in enumerate(shots)
    ]
    lengths = [[v["duration"] for v in lines] for lines in voices]
    try:
        timings = film_timeline(shots, lengths, params["fps"])
    except TimelineError as exc:
        raise BuildError(str(exc)) from None
    total = timings[-1].end
    outputs["shots"].write_text(
        json.dumps(
            {
                "duration": total,
                "shots": [
                    {"id": t.id, "start": t.start, "duration": t.duration, "overlap": t.overlap}
                    for t in timings
                ],
            },
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    lines = []
    problems = []
    for i, (shot, timing) in enumerate(zip(shots, timings, strict=True)):
        for k, (line, voice) in enumerate(zip(shot["lines"], voices[i], strict=True)):
            start = timing.start + timing.line_offsets[k]
            lines.append(
                {
                    "shot": i,
                    "line": k,
                    "who": line["who"],
                    "start": start,
                    "onset": start + voice["onset"],
                    "offset": start + voice["offset"],
                    "segments": [[start + s["start"], start + s["end"]] for s in voice["segments"]],
                    "words": [
                        {**w, "start": start + w["start"], "end": start + w["end"]}
                        for w in voice.get("words", [])
                    ],
                }
            )
            spoken = sum(s["end"] - s["start"] for s in voice["segments"])
            if spoken < MIN_SPEECH_SECONDS:
                problems.append(
                    f"{shot['id']} line {k + 1} ({line['name']}) came back silent "
                    f"({spoken:.2f}s of speech)"
                )
    outputs["speech"].write_text(
        json.dumps({"duration": total, "lines": lines}, sort_keys=True), encoding="utf-8"
    )
    for u, scene in enumerate(params["scenes"]):
        outputs[f"scene{u}"].write_text(
            json.dumps(
                scene_clock(scene, params["scenes"], timings, voices, params["fps"]),
                sort_keys=True,
            ),
            encoding="utf-8",
        )
    voiced = [[(v["onset"], v["offset"]) for v in shot_voices] for shot_voices in voices]
    cues = subtitle_cues(shots, timings, voiced)
    outputs["srt"].write_text(format_srt(cues), encoding="utf-8")
    outputs["vtt"].write_text(format_vtt(cues), encoding="utf-8")
    limit = params["reading_speed"]
    for cue in cues:
        speed = reading_speed(cue)
        if speed > limit:
            problems.append(
                f'subtitle "{_short(cue.text)}" at {cue.start:.1f}s needs {speed:.0f} '
                f"characters/s (limit {limit:g}): shorten the line, or give it a longer "
                "`pause:` after it"
            )
    meta = {"duration": round(total, 6), "lines": len(lines), "subtitles": len(cues)}
    return meta | settle(problems, params["checks"], "the subtitles")


def scene_clock(
    scene: dict[str, Any],
    scenes: list[dict[str, Any]],
    timings: list[ShotTiming],
    voices: list[list[dict[str, Any]]],
    fps: int,
) -> dict[str, Any]:
    """A scene's clock, relative to its first frame: what its sound is laid out on.

    Its length runs to the next scene's first frame (or the film's end); the
    shots its sounds refer to and the lines near it are given from the scene's
    own start, so nothing here moves when an earlier scene grows or shrinks.
    Times are taken apart in whole frames first, so those bytes are exactly
    the same whatever the scene's place in the film.
    """

    def since(seconds: float) -> float:
        return (round(seconds * fps) - round(timings[scene["first"]].start * fps)) / fps

    following = [s["first"] for s in scenes if s["first"] > scene["first"]]
    end = timings[min(following)].start if following else timings[-1].end
    lines = []
    for i in scene["speech"]:
        timing = timings[i]
        for k, voice in enumerate(voices[i]):
            start = since(timing.start) + timing.line_offsets[k]
            segments = [[start + s["start"], start + s["end"]] for s in voice["segments"]]
            lines.append([i, k, start, segments])
    return {
        "length": since(end),
        "shots": [[i, since(timings[i].start), timings[i].duration] for i in scene["shots"]],
        "lines": lines,
    }


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
