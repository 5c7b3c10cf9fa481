"""The one place that writes video: shot segments, crossfades, reels and the final cut.

Every segment of the film is encoded with the same codec settings (H.264,
yuv420p, the film's fps) by :func:`encode`: a shot's own frames, and each
crossfade as a segment of its own, blended from the last frames of one shot
and the first of the next (kept losslessly for that). A scene's segments are
joined in order into reels, and the reels into the film, with ffmpeg's concat
demuxer by stream copy, so no frame is encoded twice and changing one shot
re-encodes that shot only (and re-copies its reel and the film); the scenes'
sound, each already AAC, is joined beside it the same way
(:mod:`filmkit.render.aac`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.errors import BuildError
from filmkit.media import decode_audio, run_ffmpeg
from filmkit.plan.profiles import FINAL
from filmkit.render import aac, loudness, mp4
from filmkit.render.checks import settle
from filmkit.render.encoder import FrameWriter, read_frames, write_frames
from filmkit.render.frames import ShotFrames

PRESET = FINAL.preset
CRF = str(FINAL.crf)
# How far the finished film's loudness may be from the target before a check fires.
LOUDNESS_TOLERANCE = 1.0
AI_NOTICE = "Contains AI-generated material. Made with filmkit."


def _codec_args(lossless: bool = False, crf: str = CRF) -> list[str]:
    # One encoder thread: x264's output then does not depend on the machine's core
    # count (a segment is the same bytes everywhere, so caches can share it), and the
    # compositor feeding it has the other core to itself; a build runs several
    # segments at once to use more cores (-j).
    threads = ["-threads", "1"]
    if lossless:  # frames kept only to be blended again: no generation loss
        return ["-qp", "0", "-pix_fmt", "yuv444p", *threads]
    return ["-crf", crf, "-pix_fmt", "yuv420p", *threads, "-movflags", "+faststart"]


def writer(
    out: Path,
    size: tuple[int, int],
    fps: int,
    *,
    lossless: bool = False,
    preset: str = PRESET,
    crf: str = CRF,
) -> FrameWriter:
    """An encoder for one silent H.264 segment, started at once.

    Every film segment is encoded through here with the same settings, which is
    what lets the cut join them by stream copy.
    """
    codec = _codec_args(lossless, crf)
    preset = "ultrafast" if lossless else preset
    return FrameWriter(out, size, fps, preset=preset, codec_args=codec, yuv420=not lossless)


def encode(
    frames: Iterable[np.ndarray],
    out: Path,
    count: int,
    size: tuple[int, int],
    fps: int,
    *,
    lossless: bool = False,
    preset: str = PRESET,
    crf: str = CRF,
) -> None:
    """Write the first ``count`` of ``frames`` as a silent H.264 segment (see :func:`writer`)."""
    with writer(out, size, fps, lossless=lossless, preset=preset, crf=crf) as sink:
        write_frames(sink, frames, count)


def render_shot(
    params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]
) -> dict[str, Any]:
    """Composite one shot; encode the frames it has alone, and its crossfade frames apart.

    ``video`` is the shot without the ``head`` frames it shares with the shot
    before and the ``tail`` frames it shares with the shot after; those two go
    losslessly into their own files, for the transition steps to blend.
    ``preset``, ``crf`` and ``hold``, when the params have them, override the
    encoder's defaults and show each composited picture for ``hold`` frames (a
    draft build trades quality for speed with them, and keeps every frame).

    The encoders start before the layers are prepared, so ffmpeg's start-up
    overlaps the decoding and resizing of the shot's pictures.
    """
    fps, size = params["fps"], (params["size"][0], params["size"][1])
    preset, crf = params.get("preset", PRESET), str(params.get("crf", CRF))
    hold = params.get("hold", 1)
    head, tail = params["overlap"]
    with ExitStack() as stack:
        sinks = {
            name: stack.enter_context(
                writer(outputs[name], size, fps, lossless=name != "video", preset=preset, crf=crf)
            )
            for name in ("head", "video", "tail")
            if name in outputs
        }
        shot = stack.enter_context(ShotFrames(params, inputs))
        frames = shot.count
        if head + tail >= frames:
            raise BuildError(
                f"the shot lasts {frames} frames, too short for its crossfades ({head} + {tail})"
            )
        parts = {"head": (0, head), "video": (head, frames - tail), "tail": (frames - tail, frames)}
        for name, sink in sinks.items():
            first, last = parts[name]
            write_frames(sink, shot.frames(first, last, hold, rgbx=True), last - first)
    return {"duration": frames / fps, "frames": frames, "own_frames": frames - head - tail}


def render_transition(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """A crossfade segment: the last frames of one shot dissolving into the first of the next.

    Frame ``i`` of ``count`` is ``(i + 0.5) / count`` of the way from one to the other.
    """
    fps, count = params["fps"], params["frames"]
    size = (params["size"][0], params["size"][1])
    pairs = [list(read_frames(inputs[name], size, count)) for name in ("from", "to")]

    def blended() -> Iterable[np.ndarray]:
        for i, (before, after) in enumerate(zip(*pairs, strict=True)):
            alpha = (i + 0.5) / count
            mix = before.astype(np.float32) * (1 - alpha) + after.astype(np.float32) * alpha
            yield mix.round().astype(np.uint8)

    preset, crf = params.get("preset", PRESET), str(params.get("crf", CRF))
    encode(blended(), out, count, size, fps, preset=preset, crf=crf)
    return {"frames": count}


def join_reel(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """A scene's segments (shots and crossfades) joined in order by stream copy."""
    count = params["segments"]
    listing = _listing([inputs[f"segment{i}"] for i in range(count)], out)
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)])
    listing.unlink()
    return {"segments": count}


def _listing(files: list[Path], out: Path) -> Path:
    """The concat demuxer's list of ``files``, written next to ``out``."""
    listing = out.with_name(out.name + ".txt")
    listing.write_text("".join(f"file '{path}'\n" for path in files), encoding="utf-8")
    return listing


def cut_film(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Join the reels of picture and the scenes' sound, both by stream copy; check loudness.

    Nothing is encoded here, and nothing copied: the picture segments and every
    scene's AAC were encoded by their own steps, and ``out`` is the film's
    layout (:class:`mp4.Movie`: its header and where each of its bytes lies in
    those inputs). :func:`mp4.write_laid_out` writes the film from it where the build
    publishes it, so a film's bytes are written once, and not kept twice. The
    film's loudness and true peak are pooled from the scenes' masters.
    """
    clock = json.loads(inputs["shots"].read_text(encoding="utf-8"))
    duration = clock["duration"]
    rate = params["rate"]
    scenes = range(len(params["scenes"]))
    starts = [round(clock["shots"][first]["start"] * rate) for first in params["scenes"]]
    sections = [
        (inputs[f"aac{u}"], aac.Units.loads(inputs[f"frames{u}"].read_text(encoding="utf-8")))
        for u in scenes
    ]
    sound = aac.film_sound(sections, starts, round(duration * rate))
    picture = mp4.join_videos([mp4.read_video(inputs[f"reel{i}"]) for i in range(params["reels"])])
    tags = {"title": params["title"], "comment": AI_NOTICE, "encoder": "filmkit"}
    names = {path: name for name, path in inputs.items()}
    out.write_bytes(mp4.lay_out_movie(picture, sound, tags).dumps(names))
    scene_levels = [json.loads(inputs[f"levels{u}"].read_text(encoding="utf-8")) for u in scenes]
    levels = loudness.Levels(
        loudness.gated_loudness(
            np.concatenate([np.asarray(level["blocks"]) for level in scene_levels])
        ),
        max(level["true_peak"] for level in scene_levels),
    )
    problems = []
    if abs(levels.integrated - params["loudness"]) > LOUDNESS_TOLERANCE:
        problems.append(
            f"the film measures {levels.integrated:.1f} LUFS, off the target "
            f"{params['loudness']:g} LUFS by more than {LOUDNESS_TOLERANCE:g} LU"
        )
    if levels.true_peak > params["true_peak"]:
        problems.append(
            f"the film's true peak is {levels.true_peak:.1f} dBTP, over the "
            f"{params['true_peak']:g} dBTP ceiling"
        )
    meta = {"duration": duration, "reels": params["reels"], **levels.as_meta()}
    return meta | settle(problems, params["checks"], "the final cut")


def film_levels(path: Path) -> loudness.Levels:
    """Loudness and true peak of a film's sound, decoded from the file itself."""
    rate = 48000
    raw = decode_audio(path, rate)
    return loudness.measure(np.frombuffer(raw, dtype="<f4").reshape(-1, 2), rate)
