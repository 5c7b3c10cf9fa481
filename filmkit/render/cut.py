"""The one place that writes video: shot segments, crossfades and the final cut.

Every segment of the film is encoded with the same codec settings (H.264,
yuv420p, the film's fps) by :func:`encode`: a shot's own frames, and each
crossfade as a segment of its own, blended from the last frames of one shot
and the first of the next (kept losslessly for that). The final cut joins
the segments in order with ffmpeg's concat demuxer by stream copy, so no
frame is encoded twice and changing one shot re-encodes that shot only; the
scenes' sound, each already AAC, is joined beside it the same way
(:mod:`filmkit.render.aac`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.errors import BuildError
from filmkit.media import decode_audio, run_ffmpeg
from filmkit.render import aac, loudness
from filmkit.render.checks import settle
from filmkit.render.encoder import read_frames, write_video
from filmkit.render.frames import ShotFrames

PRESET = "veryfast"
CRF = "20"
# How far the finished film's loudness may be from the target before a check fires.
LOUDNESS_TOLERANCE = 1.0


def _codec_args(lossless: bool = False, crf: str = CRF) -> list[str]:
    if lossless:  # frames kept only to be blended again: no generation loss
        return ["-qp", "0", "-pix_fmt", "yuv444p"]
    return ["-crf", crf, "-pix_fmt", "yuv420p", "-movflags", "+faststart"]


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
    """Write the first ``count`` of ``frames`` as a silent H.264 segment.

    Every film segment goes through here with the same settings, which is what
    lets the cut join them by stream copy.
    """
    codec = _codec_args(lossless, crf)
    preset = "ultrafast" if lossless else preset
    write_video(frames, out, count, size, fps, preset=preset, codec_args=codec)


def render_shot(
    params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]
) -> dict[str, Any]:
    """Composite one shot; encode the frames it has alone, and its crossfade frames apart.

    ``video`` is the shot without the ``head`` frames it shares with the shot
    before and the ``tail`` frames it shares with the shot after; those two go
    losslessly into their own files, for the transition steps to blend.
    ``preset`` and ``crf``, when the params have them, override the encoder's
    defaults (a draft build trades quality for speed with them).
    """
    fps = params["fps"]
    preset, crf = params.get("preset", PRESET), str(params.get("crf", CRF))
    with ShotFrames(params, inputs) as shot:
        frames = shot.count
        head, tail = params["overlap"]
        if head + tail >= frames:
            raise BuildError(
                f"the shot lasts {frames} frames, too short for its crossfades ({head} + {tail})"
            )
        parts = {"head": (0, head), "video": (head, frames - tail), "tail": (frames - tail, frames)}
        for name, (first, last) in parts.items():
            if name in outputs:
                pictures = shot.frames(first, last)
                lossless = name != "video"
                encode(
                    pictures,
                    outputs[name],
                    last - first,
                    shot.size,
                    fps,
                    lossless=lossless,
                    preset=preset,
                    crf=crf,
                )
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


def cut_film(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Join the picture segments and the scenes' sound, both by stream copy; check loudness.

    Nothing is encoded here: the picture segments and every scene's AAC were
    encoded by their own steps, so the cut costs a copy of the film's bytes.
    The film's loudness and true peak are pooled from the scenes' masters.
    """
    clock = json.loads(inputs["shots"].read_text(encoding="utf-8"))
    duration = clock["duration"]
    rate = params["rate"]
    listing = out.with_name("segments.txt")
    listing.write_text(
        "".join(f"file '{inputs[f'segment{i}']}'\n" for i in range(params["segments"])),
        encoding="utf-8",
    )
    scenes = range(len(params["scenes"]))
    starts = [round(clock["shots"][first]["start"] * rate) for first in params["scenes"]]
    sound = out.with_name("sound.aac")
    aac.stitch([inputs[f"aac{u}"] for u in scenes], starts, round(duration * rate), sound)
    # The sound ends with the picture.
    run_ffmpeg(
        ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(sound)]
        + ["-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-t", f"{duration:.6f}"]
        + ["-metadata", f"title={params['title']}"]
        + ["-metadata", "comment=Contains AI-generated material. Made with filmkit."]
        + ["-movflags", "+faststart", str(out)]
    )
    listing.unlink()
    sound.unlink()
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
    meta = {"duration": duration, "segments": params["segments"], **levels.as_meta()}
    return meta | settle(problems, params["checks"], "the final cut")


def film_levels(path: Path) -> loudness.Levels:
    """Loudness and true peak of a film's sound, decoded from the file itself."""
    rate = 48000
    raw = decode_audio(path, rate)
    return loudness.measure(np.frombuffer(raw, dtype="<f4").reshape(-1, 2), rate)
