"""A shot's composite effects, prepared once and applied frame by frame.

* A layer's **mask** cuts its picture out (subject, chroma key, or a model):
  it becomes the picture's alpha, so the layer blends like any transparent one.
* A layer's **depth** is drawn as a twin layer: the same placement, move,
  alpha and timing, but grey levels of depth (0 near, 255 far) for pixels.
  The twins of the layers up to the last one with a depth, drawn in order on
  a far (white) canvas, make the frame's depth map.
* The shot's **camera** then moves over that map (parallax: near pixels shift
  and grow most) and focuses at a depth (depth-of-field blur); layers above
  the last layer with a depth (titles, overlays) are drawn after it, sharp.
* The shot's **style** restyles the frame with one of its networks, picked
  per frame from the shot's seed, and ``steady`` carries the drawing before it
  along the motion (:mod:`~filmkit.render.steady`).

The effects' own numerics live in :mod:`~filmkit.render.masks`,
:mod:`~filmkit.render.depth`, :mod:`~filmkit.render.retime` and
:mod:`~filmkit.render.style`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from filmkit.render.layout import ease

FAR = 255  # the depth of what no layer with a depth covers


def masked(
    picture: Image.Image, mask: dict[str, Any], model: Path | None, tracker: Any = None
) -> Image.Image:
    """``picture`` (RGBA) with its alpha cut down to what ``mask`` keeps; a video's
    frames cut their subject with a ``tracker`` (a masks.SubjectTracker), in order."""
    from filmkit.render import masks

    rgb = np.asarray(picture.convert("RGB"))
    if mask["subject"]:
        alpha = masks.subject_mask(rgb) if tracker is None else tracker.mask(rgb)
    elif mask["key"] is not None:
        colour = tuple(int(mask["key"][i : i + 2], 16) for i in (1, 3, 5))
        rgb, alpha = masks.chroma_key(rgb, colour, mask["tolerance"], mask["softness"])
    else:
        assert model is not None
        alpha = masks.model_mask(rgb, model, tuple(mask["model_size"]))
    if mask["invert"]:
        alpha = 255 - alpha
    kept = np.minimum(np.asarray(picture.getchannel("A")), alpha)
    return Image.fromarray(np.dstack([rgb, kept]))


def depth_picture(depth: Any, picture: Image.Image, source: Path | None) -> Image.Image:
    """The grey picture of ``picture``'s depth (``L``, its size): a plane, or a map in its range."""
    if not isinstance(depth, dict):
        return Image.new("L", picture.size, round(float(depth) * 255))
    from filmkit.render import depth as maps

    assert source is not None
    if depth["model"] is not None:
        rgb = np.asarray(picture.convert("RGB"))
        grey = maps.model_depth(rgb, source, tuple(depth["model_size"]), depth["output"])
    else:
        grey = maps.read_depth(source, picture.size, near=depth["near"])
    near, far = depth["range"]
    spread = np.rint(near * 255 + grey.astype(np.float32) * (far - near)).astype(np.uint8)
    return Image.fromarray(spread)


def depth_twin(picture: Image.Image, grey: Image.Image) -> Image.Image:
    """``grey`` as an RGB(A) picture with ``picture``'s alpha, to be laid out like it."""
    if picture.mode == "RGBA":
        return Image.merge("RGBA", (grey, grey, grey, picture.getchannel("A")))
    return Image.merge("RGB", (grey, grey, grey))


class CameraMoves:
    """A shot's camera, frame by frame: where it focuses and how it has moved."""

    def __init__(
        self, camera: dict[str, Any], times: np.ndarray, duration: float, size: tuple[int, int]
    ) -> None:
        width, height = size
        pull = camera["pull"] or (0.0, duration)
        span = max(pull[1] - pull[0], 1e-6)
        focusing = ease((times - pull[0]) / span)
        moving = ease(times / max(duration, 1e-6))
        self.focus = _between(camera["focus"], focusing)
        self.radius = camera["aperture"] * height / 720
        self.shift = np.stack(
            [_between(camera["x"], moving) * width, _between(camera["y"], moving) * height], 1
        )
        self.zoom = _between(camera["push"], moving)
        self.moves = bool(np.any(self.shift) or np.any(self.zoom != 1.0))
        self.animated = self.moves or (self.radius > 0 and camera["focus"][0] != camera["focus"][1])

    def apply(self, pixels: np.ndarray, depth: np.ndarray, i: int) -> np.ndarray:
        """Frame ``i`` seen through the camera: moved over its depth, then focused."""
        from filmkit.render.depth import focus_blur, parallax

        if self.moves:
            shift = (float(self.shift[i, 0]), float(self.shift[i, 1]))
            pixels, depth = parallax(pixels, depth, shift, float(self.zoom[i]))
        if self.radius > 0:
            pixels = focus_blur(pixels, depth, float(self.focus[i]), self.radius)
        return pixels


class ShotStyle:
    """A styled shot's networks and which one each frame takes."""

    def __init__(self, style: dict[str, Any], weights: list[Path], count: int) -> None:
        from filmkit.render.style import Stylist, schedule

        self.stylist = Stylist(weights, strength=style["strength"], device="auto")
        self.picks = schedule(count, len(weights), style["seed"], every=style["every"])
        self.steadier = None
        if style.get("steady"):
            from filmkit.render.steady import Steadier

            self.steadier = Steadier(style["steady"])
        self._last = -1

    def apply(self, pixels: np.ndarray, i: int) -> np.ndarray:
        """Frame ``i`` restyled by its network (steadied by the frame drawn before it,
        when that was frame ``i - 1``)."""
        styled = self.stylist.apply(pixels, int(self.picks[i]))
        if self.steadier is None:
            return styled
        if i != self._last + 1:
            self.steadier.reset()
        self._last = i
        return self.steadier.apply(pixels, styled)

    @property
    def animated(self) -> bool:
        """Does every frame differ (each carries the one before it)?"""
        return self.steadier is not None


def _between(pair: Any, progress: np.ndarray) -> np.ndarray:
    """Per frame, the value going from ``pair[0]`` to ``pair[1]`` as ``progress`` does."""
    return pair[0] + (pair[1] - pair[0]) * progress
