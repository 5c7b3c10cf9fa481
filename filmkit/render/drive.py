"""A still face moved by a video of a real one: the head's motion, from facial landmarks.

Offline and model-free: every frame of the driving video (sampled at the film's
rate) goes through :func:`~filmkit.generators.image.landmarks.detect`; the eyes
give the head's position, its roll and its size (nearer or farther), each taken
relative to the first frame where a face was found. Frames without a face take
the pose around them, and the path is smoothed over a few frames: a detector
jitters by a pixel or two where a head holds still.

:func:`driven_keys` turns those poses into one keyframe per frame of a layer
(position, rotation about its anchor, scale), so the portrait moves, tilts and
leans as the head in the video did, scaled to the portrait's own face.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.errors import MediaError

# Frames of smoothing (a Gaussian's sigma) over the detected path.
SMOOTHING = 1.5


def head_poses(video: Path, fps: float, count: int) -> np.ndarray:
    """``count`` poses, one per frame at ``fps`` from the video's start (the last held
    when the video is shorter): ``(dx, dy, roll, scale)``, the eye midpoint's move in
    eye distances, the eye line's turn in degrees clockwise, and the eye distance over
    the first frame's."""
    from scipy.ndimage import gaussian_filter1d

    from filmkit.generators.image.landmarks import detect
    from filmkit.media import sampled_frames, video_info

    width, height, _ = video_info(video)
    found: list[tuple[float, float, float, float] | None] = []
    for pixels in sampled_frames(video, fps, (width, height)):
        if pixels is None or len(found) == count:
            break
        face = detect(pixels)
        if face is None:
            found.append(None)
            continue
        (lx, ly), (rx, ry) = face.left_eye, face.right_eye
        found.append(((lx + rx) / 2, (ly + ry) / 2, math.atan2(ry - ly, rx - lx), face.interocular))
    seen = [k for k, pose in enumerate(found) if pose is not None]
    if not seen:
        raise MediaError(
            f"no face found in {video.name}: the driving video needs a frontal face with both "
            "eyes visible"
        )
    raw = np.array([found[k] for k in seen], dtype=np.float64)
    frames = np.arange(len(found))
    path = np.stack([np.interp(frames, seen, raw[:, c]) for c in range(4)], axis=1)
    if len(path) > 2:
        path = gaussian_filter1d(path, SMOOTHING, axis=0, mode="nearest")
    x0, y0, roll0, size0 = path[0]
    poses = np.stack(
        [
            (path[:, 0] - x0) / size0,
            (path[:, 1] - y0) / size0,
            np.degrees(path[:, 2] - roll0),
            path[:, 3] / size0,
        ],
        axis=1,
    )
    held = np.minimum(np.arange(count), len(poses) - 1)
    return poses[held]


def driven_keys(
    layer: dict[str, Any],
    poses: np.ndarray,
    times: np.ndarray,
    fps: float,
    eyes: tuple[float, float],
    eyes_apart: float,
    frame: tuple[int, int],
) -> list[dict[str, Any]]:
    """One key per frame time placing the layer so that the portrait's eyes move, turn
    and grow as the video's did.

    ``poses`` come from :func:`head_poses`, one per frame (at ``fps``) of the layer
    from its start. ``eyes`` is where the portrait's eyes are (their midpoint) from
    the layer's anchor, and ``eyes_apart`` how far apart they are, as shown, in frame
    pixels. A key turns and scales the layer about its anchor, which moves the eyes
    too; the key's position makes up the rest. The drive's ``motion`` scales it all.
    """
    motion = float(layer["drive"].get("motion", 1.0))
    x, y = layer["position"]
    index = np.clip(np.rint((times - layer["start"]) * fps).astype(np.int64), 0, len(poses) - 1)
    ex, ey = eyes
    keys = []
    for t, (dx, dy, roll, size) in zip(times, poses[index], strict=True):
        turn = math.radians(motion * float(roll))
        scale = 1.0 + motion * (float(size) - 1.0)
        # Where turning and scaling about the anchor alone would take the eyes.
        cos, sin = math.cos(turn), math.sin(turn)
        carried = (scale * (ex * cos - ey * sin) - ex, scale * (ex * sin + ey * cos) - ey)
        shift = (motion * float(dx) * eyes_apart, motion * float(dy) * eyes_apart)
        keys.append(
            {
                "at": float(t),
                "position": [
                    x + (shift[0] - carried[0]) / frame[0],
                    y + (shift[1] - carried[1]) / frame[1],
                ],
                "rotation": math.degrees(turn),
                "scale": scale,
                "opacity": None,
                "ease": "linear",
            }
        )
    return keys
