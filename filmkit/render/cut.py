"""The one place that writes video: shot segments, crossfades and the final cut.

Every segment of the film is encoded with the same codec settings (H.264,
yuv420p, the film's fps) by :func:`encode`: a shot's own frames, and each
crossfade as a segment of its own, blended from the last frames of one shot
and the first of the next (kept losslessly for that). The final cut joins
the segments in order with ffmpeg's concat demuxer by stream copy, so no
frame is encoded twice and changing one shot re-encodes that shot only; it
then muxes the mix in as AAC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filmkit.errors import BuildError
from filmkit.media import decode_audio, run_ffmpeg
from filmkit.render import loudness
from filmkit.render.checks import settle
from filmkit.render.compose import compose_shot

VIDEO_CODEC = "libx264"
PRESET = "veryfast"
CRF = "20"
AUDIO_BITRATE = "192k"
# How far the finished film's loudness may be from the target before a check fires.
LOUDNESS_TOLERANCE = 1.0


def release(clip: Any) -> None:
    """Close a file-backed clip and its ffmpeg pipes.

    NOTE: moviepy 2.2 closes a reader's pipes only if ffmpeg is still running;
    when it has already exited the pipes leak, one pair per clip.
    """
    for owner in (clip, getattr(clip, "audio", None)):
        proc = getattr(getattr(owner, "reader", None), "proc", None)
        if proc is not None:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    clip.close()


def whole_frames(clip: Any, fps: int) -> Any:
    """``clip`` with a duration moviepy turns into exactly its whole number of frames.

    moviepy writes ``int(duration * fps)`` frames, and a duration of n/fps can
    land a hair under n after float rounding (52.99999... frames): half a frame
    more makes it write exactly n.
    """
    frames = round(clip.duration * fps)
    return clip.with_duration((frames + 0.5) / fps)


def _codec_args(lossless: bool = False) -> list[str]:
    if lossless:  # frames kept only to be blended again: no generation loss
        return ["-qp", "0", "-pix_fmt", "yuv444p"]
    return ["-crf", CRF, "-pix_fmt", "yuv420p", "-movflags", "+faststart"]


def encode(clip: Any, out: Path, fps: int, *, lossless: bool = False) -> None:
    """Write ``clip`` as a silent H.264 segment of exactly its whole frames.

    Every film segment goes through here with the same settings, which is what
    lets the cut join them by stream copy.
    """
    whole_frames(clip, fps).write_videofile(
        str(out),
        fps=fps,
        codec=VIDEO_CODEC,
        audio=False,
        preset="ultrafast" if lossless else PRESET,
        ffmpeg_params=_codec_args(lossless),
        logger=None,
        threads=2,
    )


def render_shot(
    params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]
) -> dict[str, Any]:
    """Compose one shot; encode the frames it has alone, and its crossfade frames apart.

    ``video`` is the shot without the ``head`` frames it shares with the shot
    before and the ``tail`` frames it shares with the shot after; those two go
    losslessly into their own files, for the transition steps to blend.
    """
    fps = params["fps"]
    clip = compose_shot(params, inputs)
    frames = round(clip.duration * fps)
    head, tail = params["overlap"]
    if head + tail >= frames:
        raise BuildError(
            f"the shot lasts {frames} frames, too short for its crossfades ({head} + {tail})"
        )
    parts = {"video": (head, frames - tail), "head": (0, head), "tail": (frames - tail, frames)}
    try:
        for name, (first, last) in parts.items():
            if name in outputs:
                part = clip.subclipped(first / fps, last / fps).with_duration((last - first) / fps)
                encode(part, outputs[name], fps, lossless=name != "video")
    finally:
        for layer in clip.clips:
            release(layer)
        clip.close()
    return {"duration": frames / fps, "frames": frames, "own_frames": frames - head - tail}


def render_transition(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """A crossfade segment: the last frames of one shot dissolving into the first of the next."""
    import numpy as np
    from moviepy import VideoClip, VideoFileClip

    fps, count = params["fps"], params["frames"]
    clips = [VideoFileClip(str(inputs[name]), audio=False) for name in ("from", "to")]
    try:
        pairs = [[c.get_frame(i / fps).astype(np.float32) for i in range(count)] for c in clips]
    finally:
        for clip in clips:
            release(clip)

    def blend(t: float) -> Any:
        i = min(int(t * fps + 1e-6), count - 1)
        alpha = (i + 0.5) / count
        return (pairs[0][i] * (1 - alpha) + pairs[1][i] * alpha).round().astype(np.uint8)

    encode(VideoClip(blend, duration=count / fps), out, fps)
    return {"frames": count}


def cut_film(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Join the segments by stream copy, mux in the mix, and check the film's loudness."""
    clock = json.loads(inputs["shots"].read_text(encoding="utf-8"))
    duration = clock["duration"]
    listing = out.with_name("segments.txt")
    listing.write_text(
        "".join(f"file '{inputs[f'segment{i}']}'\n" for i in range(params["segments"])),
        encoding="utf-8",
    )
    # The mix is muxed straight from the WAV (AAC), and the sound ends with the picture.
    run_ffmpeg(
        [
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-i",
            str(inputs["audio"]),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            # ffmpeg's fast AAC search: a third of the default's time at this bitrate,
            # and the film's own loudness check below still measures the result.
            "-aac_coder",
            "fast",
            "-b:a",
            AUDIO_BITRATE,
            "-t",
            f"{duration:.6f}",
            "-metadata",
            f"title={params['title']}",
            "-metadata",
            "comment=Contains AI-generated material. Made with filmkit.",
            "-movflags",
            "+faststart",
            str(out),
        ]
    )
    listing.unlink()
    levels = film_levels(out)
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
    import numpy as np

    rate = 48000
    raw = decode_audio(path, rate)
    return loudness.measure(np.frombuffer(raw, dtype="<f4").reshape(-1, 2), rate)
