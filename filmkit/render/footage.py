"""Video layers: a file's frames trimmed, looped or retimed, moved and masked.

Frames are read through moviepy as they are drawn; a retimed clip reads them
through a :class:`~filmkit.render.retime.Retimer`, whose in-between frames
come from optical flow or from a RIFE network (:mod:`~filmkit.render.rife`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.render.effects import masked
from filmkit.render.layers import Video, release
from filmkit.render.layout import display_size, ease, ken_burns, place


def video_layer(
    k: int,
    layer: dict[str, Any],
    inputs: dict[str, Path],
    frame: tuple[int, int],
    times: np.ndarray,
    duration: float,
    shown: np.ndarray,
) -> Video:
    """Video layer ``k`` of a shot ``duration`` long whose frames fall at ``times``:
    trimmed, looped or retimed, moved, masked; each frame resized as drawn."""
    from moviepy import VideoFileClip, vfx

    clip = VideoFileClip(str(inputs[f"layer{k}"]), audio=False)
    local = times - layer["start"]
    try:
        if layer["trim"]:
            clip = clip.subclipped(layer["trim"][0], layer["trim"][1])
        retimed = None
        if layer.get("retime"):
            shows = min(layer["end"] or duration, duration) - layer["start"]
            model = inputs.get(f"layer{k}.retime")
            retimed = _retimed(clip, layer["retime"], local, layer["loop"], shows, model)
        elif layer["loop"]:
            clip = clip.with_effects([vfx.Loop(duration=duration)])
        size = display_size(layer, clip.size, frame)
    except BaseException:
        release(clip)
        raise
    x, y = place(layer, size, frame)
    box = (x, y, x + size[0], y + size[1])
    mask = layer.get("mask")
    masking = None
    if mask:
        tracker = None
        if mask["subject"]:
            from filmkit.render.masks import SubjectTracker

            tracker = SubjectTracker()  # each frame's cut starts from the one before
        masking = partial(masked, mask=mask, model=inputs.get(f"layer{k}.mask"), tracker=tracker)
    crops = None
    if layer.get("move"):
        progress = ease((times - layer["start"]) / duration)
        crops = ken_burns(layer["move"], progress, clip.size)
    return Video(clip, size, box, frame, local, shown, retimed, masking, crops)


def _retimed(
    clip: Any,
    retime: dict[str, Any],
    local: np.ndarray,
    loop: bool,
    shows: float,
    model: Path | None,
) -> tuple[Any, np.ndarray]:
    """The clip's frames as a retimer (in-betweens by flow, or by a RIFE ``model``), and
    the source position of each of the shot's frames."""
    from filmkit.render.retime import Retimer, source_positions

    fps = clip.fps
    count = max(1, round(clip.duration * fps))
    positions = source_positions(
        np.maximum(local, 0.0),
        fps,
        count,
        speed=tuple(speed) if isinstance(speed := retime["speed"], list) else speed,
        duration=retime["duration"],
        loop=loop,
        ramp=shows,
    )
    network = None
    if model is not None:
        from filmkit.render.rife import RifeInterpolator

        network = RifeInterpolator(model)
    frames = Retimer(
        lambda j: clip.get_frame(min(j, count - 1) / fps), count, retime["frames"], network
    )
    return frames, positions
