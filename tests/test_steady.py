"""Steadier: flicker of per-frame repaints measured on a panning clip, occlusions, pass-through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from filmkit.render.steady import Steadier

HEIGHT, WIDTH, FRAMES = 96, 160, 12
STEP = (3, 1)  # the picture's motion per frame (x, y), in pixels
PAD = 40  # texture around the frame, so the pan never runs out of picture
EDGE = 16  # flicker and error are measured this far inside the frame
NOISE = 12.0  # standard deviation of the per-frame "style" noise


def pan_clip() -> list[np.ndarray]:
    """A smooth random texture panning by ``STEP``: frame i at x is frame i-1 at x - STEP."""
    rng = np.random.default_rng(1)
    texture = rng.random((HEIGHT + 2 * PAD, WIDTH + 2 * PAD, 3), dtype=np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min()) * 255
    texture = texture.round().astype(np.uint8)
    (sx, sy) = STEP
    return [
        texture[PAD - sy * i : PAD - sy * i + HEIGHT, PAD - sx * i : PAD - sx * i + WIDTH].copy()
        for i in range(FRAMES)
    ]


def restyle(frames: list[np.ndarray], seed: int = 2) -> list[np.ndarray]:
    """Each frame plus its own random noise: a repaint that flickers."""
    rng = np.random.default_rng(seed)
    noisy = [f + rng.normal(0.0, NOISE, f.shape) for f in frames]
    return [n.clip(0, 255).round().astype(np.uint8) for n in noisy]


def interior(image: np.ndarray, dx: int = 0, dy: int = 0) -> np.ndarray:
    """``image`` away from its borders, shifted by (dx, dy), as float."""
    return image[EDGE + dy : HEIGHT - EDGE + dy, EDGE + dx : WIDTH - EDGE + dx].astype(np.float64)


def flicker(frames: list[np.ndarray]) -> float:
    """Mean abs difference between each frame and the previous one moved by the true motion."""
    sx, sy = STEP
    return float(
        np.mean(
            [
                np.abs(interior(b) - interior(a, -sx, -sy)).mean()
                for a, b in zip(frames, frames[1:], strict=False)
            ]
        )
    )


def error(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Mean abs difference from the noise-free frames."""
    return float(
        np.mean(
            [np.abs(interior(f) - interior(t)).mean() for f, t in zip(frames, truth, strict=True)]
        )
    )


def run(
    steadier: Steadier, content: list[np.ndarray], styled: list[np.ndarray]
) -> list[np.ndarray]:
    return [steadier.apply(c, s) for c, s in zip(content, styled, strict=True)]


def test_amount_zero_passes_styled_through() -> None:
    content = pan_clip()[:4]
    styled = restyle(content)
    for out, s in zip(run(Steadier(0.0), content, styled), styled, strict=True):
        assert out.dtype == np.uint8 and np.array_equal(out, s)


def test_first_frame_reset_and_new_shape_pass_through() -> None:
    content = pan_clip()[:3]
    styled = restyle(content)
    steadier = Steadier(0.8)
    assert np.array_equal(steadier.apply(content[0], styled[0]), styled[0])
    assert np.abs(steadier.apply(content[1], styled[1]).astype(int) - styled[1]).mean() > 3
    steadier.reset()
    assert np.array_equal(steadier.apply(content[2], styled[2]), styled[2])
    # A frame of another shape starts afresh too.
    small_content, small_styled = content[0][:64, :100], styled[0][:64, :100]
    assert np.array_equal(steadier.apply(small_content, small_styled), small_styled)


def test_flicker_drops_and_motion_is_followed() -> None:
    content = pan_clip()
    styled = restyle(content)
    out = run(Steadier(0.8), content, styled)
    assert all(o.dtype == np.uint8 and o.shape == s.shape for o, s in zip(out, styled, strict=True))
    # Measured: flicker 13.5 -> 2.2 (84 % less); error 9.6 -> 3.9.
    assert flicker(out) < 0.4 * flicker(styled)
    # Noise is averaged out along the motion, not smeared: closer to the clean frames.
    assert error(out[3:], content[3:]) < 0.6 * error(styled[3:], content[3:])


BOX = (slice(34, 64), slice(60, 100))  # a still square's place (rows, columns)


def square(frame: np.ndarray) -> np.ndarray:
    out = frame.copy()
    out[BOX] = (250, 30, 20)
    return out


@pytest.mark.parametrize("appears", [True, False], ids=["appearing", "vanishing"])
def test_what_the_previous_frame_lacks_is_not_ghosted(appears: bool) -> None:
    content = pan_clip()[:5]
    sx, sy = STEP
    if appears:  # a still square in the last frame only: its pixels are new
        content[-1] = square(content[-1])
        new = BOX
    else:  # a still square in every frame but the last: the background it hid is new
        content[:-1] = [square(c) for c in content[:-1]]
        new = tuple(slice(r.start + d, r.stop + d) for r, d in zip(BOX, (sy, sx), strict=True))
    styled = restyle(content)
    out = run(Steadier(0.9), content, styled)[-1]
    diff = np.abs(out.astype(int) - styled[-1])
    assert diff[new].max() <= 1
    # Elsewhere the steadier is at work.
    assert interior(diff).mean() > 4


def test_rejects_bad_arguments() -> None:
    for amount in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError):
            Steadier(amount)
    frame = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError):
        Steadier(0.5).apply(frame, frame[:16])
    with pytest.raises(ValueError):
        Steadier(0.5).apply(frame, frame.astype(np.float32))
