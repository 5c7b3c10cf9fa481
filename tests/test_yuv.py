"""The frame writer's own RGB to 4:2:0 conversion, and the RGBX frames it takes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from filmkit.render.encoder import FrameWriter, read_frames, to_i420, write_video
from filmkit.render.frames import ShotFrames
from tests.test_frames import layer, shot

SIZE = (64, 36)
FPS = 12
LOSSLESS_420 = ["-qp", "0", "-pix_fmt", "yuv420p"]
# BT.601 in studio range (Y 16..235, Cb and Cr 16..240), from the standard's own figures.
BT601 = (
    np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
    / 255
)


def exact_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cb and Cr in floating point; each chroma sample the mean of its 2x2 block."""
    yuv = rgb.astype(np.float64) @ BT601.T + [16, 128, 128]
    h, w = rgb.shape[:2]
    chroma = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    return yuv[..., 0], chroma[..., 0], chroma[..., 1]


def planes(i420: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    w, h = size
    flat = i420.reshape(-1).astype(np.float64)
    quarter = w * h // 4
    y = flat[: w * h].reshape(h, w)
    cb = flat[w * h : w * h + quarter].reshape(h // 2, w // 2)
    return y, cb, flat[w * h + quarter :].reshape(h // 2, w // 2)


def noisy_frame(seed: int = 3) -> np.ndarray:
    """Gradients under per-pixel noise: a 2x2 block's pixels differ, so its chroma is a mean."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    ramp = np.dstack([x * 4, y * 7, (x + y) * 2]).astype(np.float64)
    return np.clip(ramp + rng.normal(0, 40, ramp.shape), 0, 255).astype(np.uint8)


def test_i420_is_within_a_level_and_a_half_of_an_exact_conversion() -> None:
    rgb = noisy_frame()
    out = to_i420(rgb)
    assert out.shape == (SIZE[1] * 3 // 2, SIZE[0]) and out.dtype == np.uint8
    for got, exact in zip(planes(out, SIZE), exact_i420(rgb), strict=True):
        assert np.abs(got - exact).max() <= 1.5
        assert np.sqrt(np.mean((got - exact) ** 2)) < 0.6


def test_i420_chroma_is_each_blocks_mean_not_its_corner() -> None:
    # Each 2x2 block: one red pixel (top left) and three blue ones.
    rgb = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)
    rgb[..., 2] = 255
    rgb[::2, ::2] = (255, 0, 0)
    _, cb, cr = planes(to_i420(rgb), SIZE)
    _, exact_cb, exact_cr = exact_i420(rgb)
    assert np.abs(cb - exact_cb).max() <= 1.5 and np.abs(cr - exact_cr).max() <= 1.5
    red_cb = 128 + BT601[1] @ (255, 0, 0)
    assert np.abs(cb - red_cb).min() > 50  # far from what the corner pixel alone gives


def test_i420_ignores_the_fourth_byte_of_rgbx() -> None:
    rgb = noisy_frame()
    junk = np.random.default_rng(9).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    assert np.array_equal(to_i420(np.dstack([rgb, junk])), to_i420(rgb))


def test_colours_come_back_from_a_420_segment_as_they_went_in(tmp_path: Path) -> None:
    # Flat colours, encoded losslessly in 4:2:0 and decoded by ffmpeg: what comes back is
    # what went in, so the writer's matrix and range are the ones players read.
    colours = [
        (0, 0, 0),
        (255, 255, 255),
        (200, 30, 40),
        (20, 180, 60),
        (30, 60, 220),
        (240, 200, 90),
    ]
    frames = [np.full((SIZE[1], SIZE[0], 3), c, dtype=np.uint8) for c in colours]
    out = tmp_path / "flat.mp4"
    write_video(
        frames,
        out,
        len(frames),
        SIZE,
        FPS,
        preset="ultrafast",
        codec_args=LOSSLESS_420,
        yuv420=True,
    )
    for back, colour in zip(read_frames(out, SIZE, len(frames)), colours, strict=True):
        assert np.abs(back.astype(int) - colour).max() <= 3, colour


def test_a_420_writer_takes_rgbx_frames_as_their_rgb(tmp_path: Path) -> None:
    frames = [noisy_frame(seed) for seed in range(3)]
    junk = np.full(frames[0].shape[:2], 77, dtype=np.uint8)
    outs = {"rgb": tmp_path / "rgb.mp4", "rgbx": tmp_path / "rgbx.mp4"}
    write_video(
        frames, outs["rgb"], 3, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS_420, yuv420=True
    )
    padded = [np.dstack([f, junk]) for f in frames]
    write_video(
        padded, outs["rgbx"], 3, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS_420, yuv420=True
    )
    decoded = {name: list(read_frames(path, SIZE, 3)) for name, path in outs.items()}
    for a, b in zip(decoded["rgb"], decoded["rgbx"], strict=True):
        assert np.array_equal(a, b)


def test_an_rgb24_writer_takes_rgbx_frames_too(tmp_path: Path) -> None:
    frame = noisy_frame()
    out = tmp_path / "x.mp4"
    padded = np.dstack([frame, np.zeros(frame.shape[:2], dtype=np.uint8)])
    write_video(
        [padded],
        out,
        1,
        SIZE,
        FPS,
        preset="ultrafast",
        codec_args=["-qp", "0", "-pix_fmt", "yuv444p"],
    )
    assert np.abs(next(read_frames(out, SIZE, 1)).astype(int) - frame).max() <= 3


def test_a_420_writer_needs_an_even_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even width and height"):
        FrameWriter(
            tmp_path / "x.mp4", (63, 36), FPS, preset="ultrafast", codec_args=[], yuv420=True
        )


def test_rgbx_frames_are_the_frames_with_a_byte_more() -> None:
    params = shot(layer("color", color="#204060"), layer("color", color="#ffffff", opacity=0.5))
    with ShotFrames(params, {}) as frames:
        padded, plain = frames.frame(0, rgbx=True), frames.frame(0)
    assert padded.shape == (SIZE[1], SIZE[0], 4) and plain.shape == (SIZE[1], SIZE[0], 3)
    assert np.array_equal(padded[..., :3], plain)


@pytest.mark.parametrize(
    "frame",
    [np.zeros((36, 64, 2), np.uint8), np.zeros((36, 64, 4), np.float32)],
    ids=["two channels", "float"],
)
def test_a_writer_refuses_what_is_neither_rgb_nor_rgbx(tmp_path: Path, frame: np.ndarray) -> None:
    writer = FrameWriter(
        tmp_path / "x.mp4", SIZE, FPS, preset="ultrafast", codec_args=[], yuv420=True
    )
    with pytest.raises(ValueError, match=r"\(36, 64, 3\) or \(36, 64, 4\) uint8"), writer:
        writer.write(frame)
    assert writer._proc.returncode is not None  # ffmpeg stopped and reaped


def test_a_frame_the_pump_cannot_convert_fails_the_write_instead_of_hanging(
    tmp_path: Path,
) -> None:
    class Failing(FrameWriter):
        def _bytes(self, data: np.ndarray) -> np.ndarray:
            raise RuntimeError("cannot convert")

    writer = Failing(tmp_path / "x.mp4", SIZE, FPS, preset="ultrafast", codec_args=[], yuv420=True)
    caught: list[BaseException] = []

    def write_many() -> None:
        try:
            with writer:
                for _ in range(50):  # far more than the queue holds
                    writer.write(noisy_frame())
        except Exception as error:
            caught.append(error)

    worker = threading.Thread(target=write_many, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "write blocked on a pump that had stopped"
    assert caught and "cannot convert" in str(caught[0])
    assert writer._proc.returncode is not None
