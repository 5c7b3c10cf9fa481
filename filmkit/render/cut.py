"""The one place that writes video: shot segments and the final cut.

Every segment is encoded with the same codec settings (H.264, yuv420p, the
film's fps), so segments can later be joined without re-encoding. The final
cut lays the segments on the film clock (crossfades overlap), adds the mix,
and writes H.264 + AAC.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from pathlib import Path
from typing import Any

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


def _codec_args() -> list[str]:
    return ["-crf", CRF, "-pix_fmt", "yuv420p", "-movflags", "+faststart"]


def render_shot(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Compose one shot and encode it as a silent segment."""
    clip = compose_shot(params, inputs)
    try:
        whole_frames(clip, params["fps"]).write_videofile(
            str(out),
            fps=params["fps"],
            codec=VIDEO_CODEC,
            audio=False,
            preset=PRESET,
            ffmpeg_params=_codec_args(),
            logger=None,
            threads=2,
        )
    finally:
        for layer in clip.clips:
            release(layer)
        clip.close()
    return {"duration": clip.duration, "frames": round(clip.duration * params["fps"])}


def cut_film(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """Join the shot segments on the film clock (crossfades blended) and add the mix."""
    import numpy as np
    from moviepy import VideoClip, VideoFileClip

    fps = params["fps"]
    # Shot lengths come from the timeline, not from the segments' headers: moviepy
    # derives a file's frame count from a duration printed to 1/100 s, which can be
    # a frame short, and a frame lost per shot would drift the picture off the sound.
    clock_file = json.loads(inputs["shots"].read_text(encoding="utf-8"))
    segments = []
    starts: list[float] = []
    overlaps: list[float] = []
    for index, shot in enumerate(clock_file["shots"]):
        segment = VideoFileClip(str(inputs[f"shot{index}"]), audio=False)
        segments.append(segment.with_duration(shot["duration"]))
        starts.append(shot["start"])
        overlaps.append(shot["overlap"])
    clock = clock_file["duration"]

    def frame_at(t: float) -> Any:
        # One clip for the whole film: the shot on screen, blended with the one it
        # fades from while a crossfade lasts. Cheaper than compositing every shot.
        index = max(0, bisect_right(starts, t + 1e-9) - 1)
        local = min(t - starts[index], segments[index].duration - 1 / fps)
        image = segments[index].get_frame(local)
        if index and local < overlaps[index]:
            previous = segments[index - 1]
            before = previous.get_frame(min(t - starts[index - 1], previous.duration - 1 / fps))
            alpha = (local + 0.5 / fps) / overlaps[index]
            image = (before * (1 - alpha) + image * alpha).astype(np.uint8)
        return image

    film = VideoClip(frame_at, duration=clock)
    picture = out.with_name(f"picture-{out.name}")
    try:
        whole_frames(film, fps).write_videofile(
            str(picture),
            fps=fps,
            codec=VIDEO_CODEC,
            audio=False,
            preset=PRESET,
            ffmpeg_params=_codec_args(),
            logger=None,
            threads=2,
        )
    finally:
        film.close()
        for segment in segments:
            release(segment)
    # The mix is muxed by ffmpeg straight from the WAV: no resampling by moviepy,
    # and the sound ends exactly with the picture.
    run_ffmpeg(
        [
            "-i",
            str(picture),
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
            "-b:a",
            AUDIO_BITRATE,
            "-t",
            f"{clock:.6f}",
            "-metadata",
            f"title={params['title']}",
            "-metadata",
            "comment=Contains AI-generated material. Made with filmkit.",
            "-movflags",
            "+faststart",
            str(out),
        ]
    )
    picture.unlink()
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
    meta = {"duration": clock, "shots": len(segments), **levels.as_meta()}
    return meta | settle(problems, params["checks"], "the final cut")


def film_levels(path: Path) -> loudness.Levels:
    """Loudness and true peak of a film's sound, decoded from the file itself."""
    import numpy as np

    rate = 48000
    raw = decode_audio(path, rate)
    return loudness.measure(np.frombuffer(raw, dtype="<f4").reshape(-1, 2), rate)
