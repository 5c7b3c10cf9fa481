"""The compositor and the frame writer, on tiny shots: pixels, timing, frame counts, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imageio_ffmpeg import count_frames_and_secs
from PIL import Image

from filmkit.errors import MediaError
from filmkit.media import write_wav
from filmkit.render.cut import render_shot, render_transition
from filmkit.render.encoder import FrameWriter, read_frames, write_video
from filmkit.render.frames import ShotFrames
from filmkit.render.layout import ease, ken_burns
from filmkit.render.timeline import shot_timing
from filmkit.spec.models import LayerBase

SIZE = (64, 36)
FPS = 12
LOSSLESS = ["-qp", "0", "-pix_fmt", "yuv444p"]


def layer(kind: str, **fields: Any) -> dict[str, Any]:
    """A layer as the planner passes it: every field of the spec model, defaults filled in."""
    base = LayerBase().model_dump(mode="json")
    return {**base, "kind": kind, **fields}


def shot(*layers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    params = {
        "size": list(SIZE),
        "fps": FPS,
        "duration": 1.0,
        "lead_in": 0.0,
        "tail": 0.0,
        "layers": list(layers),
        "lines": [],
        "overlap": [0, 0],
    }
    return params | fields


def picture(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def solid(path: Path, size: tuple[int, int], rgba: tuple[int, ...]) -> Path:
    return picture(path, np.broadcast_to(np.array(rgba), (size[1], size[0], len(rgba))))


def test_colour_at_half_opacity_blends_over_the_layer_below() -> None:
    params = shot(layer("color", color="#204060"), layer("color", color="#ffffff", opacity=0.5))
    with ShotFrames(params, {}) as frames:
        pixel = frames.frame(0)[10, 10].astype(int)
    expected = [(c + 255) / 2 for c in (0x20, 0x40, 0x60)]
    assert np.abs(pixel - expected).max() <= 1


def test_opaque_picture_lands_where_position_and_anchor_put_it(tmp_path: Path) -> None:
    red = solid(tmp_path / "red.png", (32, 18), (255, 0, 0))
    # cover: 32x18 doubles to fill 64x36; scale 0.25 makes it 16x9, its top-left at (16, 18).
    placed = layer("image", scale=0.25, position=(0.25, 0.5), anchor=(0.0, 0.0))
    with ShotFrames(shot(placed), {"layer0": red}) as frames:
        image = frames.frame(0).astype(int)
    assert (image[18:27, 16:32] == [255, 0, 0]).all()
    image[18:27, 16:32] = 0
    assert image.max() == 0


def test_fade_in_ramps_the_layer_up_from_nothing() -> None:
    params = shot(layer("color", color="#ffffff", fade_in=0.5))
    with ShotFrames(params, {}) as frames:
        levels = [int(frames.frame(i)[0, 0, 0]) for i in range(frames.count)]
    assert levels[0] == 0
    assert abs(levels[3] - 128) <= 1  # 0.25 s into a 0.5 s fade
    assert all(level == 255 for level in levels[6:])


def test_layer_shows_only_between_its_start_and_end() -> None:
    params = shot(layer("color", color="#ffffff", start=0.25, end=0.5))
    with ShotFrames(params, {}) as frames:
        shown = [bool(frames.frame(i).any()) for i in range(frames.count)]
    assert shown == [3 <= i < 6 for i in range(frames.count)]


ZOOM_IN = {"zoom": (1.0, 2.0), "x": (0.5, 0.5), "y": (0.5, 0.5)}


def zooming_gradient(folder: Path) -> tuple[ShotFrames, Path]:
    """A shot of a horizontal grey ramp (128 x 72) zooming in twofold, and the picture."""
    x = np.arange(128)
    gradient = np.broadcast_to((x * 2)[None, :, None], (72, 128, 3))
    path = picture(folder / "gradient.png", gradient)
    return ShotFrames(shot(layer("image", move=ZOOM_IN)), {"layer0": path}), path


def test_ken_burns_frames_follow_the_crop_of_the_move(tmp_path: Path) -> None:
    move = ZOOM_IN
    shot_frames, path = zooming_gradient(tmp_path)
    with shot_frames as frames:
        first, last = frames.frame(0), frames.frame(frames.count - 1)
        count = frames.count
    progress = ease(np.arange(count) / FPS / (count / FPS))
    crops = ken_burns(move, progress, (128, 72))
    source = Image.open(path)
    for image, (left, top, w, h) in ((first, crops[0]), (last, crops[-1])):
        box = (left, top, left + w, top + h)
        expected = np.asarray(source.resize(SIZE, Image.Resampling.BILINEAR, box=box))
        assert np.abs(image.astype(int) - expected).mean() < 2
    assert np.abs(first.astype(int) - last).mean() > 20


def test_held_frames_repeat_every_other_picture_of_the_move(tmp_path: Path) -> None:
    with zooming_gradient(tmp_path)[0] as frames:
        every = [np.array(f) for f in frames.frames(1, 8)]
        held = [np.array(f) for f in frames.frames(1, 8, hold=2)]
    assert len(held) == 7
    for i, frame in enumerate(held):
        assert np.array_equal(frame, every[i - i % 2])  # frames 1, 1, 3, 3, 5, 5, 7
    assert not np.array_equal(held[0], held[2])


def test_translucent_moving_picture_blends_like_its_crop(tmp_path: Path) -> None:
    half = np.zeros((36, 64, 4), dtype=np.uint8)
    half[:, 40:] = (255, 0, 0, 255)  # a red band on the right, the rest transparent
    path = picture(tmp_path / "band.png", half)
    move = {"zoom": (1.0, 2.0), "x": (0.5, 0.8), "y": (0.5, 0.5)}
    params = shot(layer("color", color="#000080"), layer("image", opacity=0.5, move=move))
    with ShotFrames(params, {"layer1": path}) as frames:
        count = frames.count
        made = [frames.frame(i).astype(int) for i in range(count)]
    crops = ken_burns(move, ease(np.arange(count) / count), (64, 36))
    for image, (left, top, w, h) in zip(made, crops, strict=True):
        box = (left, top, left + w, top + h)
        crop = Image.open(path).resize(SIZE, Image.Resampling.BILINEAR, box=box)
        expected = Image.new("RGB", SIZE, (0, 0, 0x80))
        expected.paste(crop, (0, 0), crop.getchannel("A").point(lambda v: v // 2))
        assert np.abs(image - np.asarray(expected)).mean() < 1


def test_video_layer_plays_its_trimmed_stretch_in_a_loop(tmp_path: Path) -> None:
    clip = tmp_path / "greys.mp4"
    greys = [np.full((36, 64, 3), 40 * n, dtype=np.uint8) for n in range(6)]
    write_video(greys, clip, 6, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS)
    params = shot(layer("video", trim=(0.25, 0.5), loop=True))
    with ShotFrames(params, {"layer0": clip}) as frames:
        shown = [int(np.median(frames.frame(i))) for i in range(frames.count)]
    expected = [40 * (3 + i % 3) for i in range(12)]
    assert np.abs(np.array(shown) - expected).max() <= 2


def test_face_opens_its_mouth_while_its_own_voice_is_loud(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    voice = np.where(t >= 0.2, 0.8 * np.sin(2 * np.pi * 220 * t), 0.0)  # 0.2 s silent, 0.8 s loud
    write_wav(tmp_path / "line.wav", voice, rate)
    inputs = {"line0": tmp_path / "line.wav"}
    for name, rgb in (("image", (200, 0, 0)), ("mouth_open", (0, 200, 0)), ("blink", (0, 0, 200))):
        inputs[f"layer0.{name}"] = solid(tmp_path / f"{name}.png", (40, 40), (*rgb, 255))
    params = shot(
        layer("character", character="ada", fit="height", scale=0.5),
        lead_in=0.5,
        lines=[{"who": "ada", "pause": 0.3}],
    )
    with ShotFrames(params, inputs) as frames:
        centre = [tuple(frames.frame(i)[18, 32]) for i in range(frames.count)]
    assert centre[3] == (200, 0, 0)  # 0.25 s: the lead-in, silence
    assert centre[12] == (0, 200, 0)  # 1.0 s: the line, loud


def test_subtitle_shows_while_its_line_plays(tmp_path: Path) -> None:
    rate = 16000
    write_wav(tmp_path / "line.wav", np.zeros(rate // 2), rate)
    params = shot(
        lead_in=0.25,
        tail=0.5,
        lines=[{"who": "ada", "pause": 0.1}],
        subtitles={"size": 80, "text": ["Hello"]},
    )
    with ShotFrames(params, {"line0": tmp_path / "line.wav"}) as frames:
        lit = [int(frames.frame(i)[18:].max()) for i in range(frames.count)]
    # Shown from 0.25 s for the line's 0.5 s and its 0.1 s pause: frames 3 to 10.
    assert [level > 200 for level in lit] == [3 <= i <= 10 for i in range(frames.count)]


def test_shot_has_as_many_frames_as_its_timing(tmp_path: Path) -> None:
    rate = 16000
    write_wav(tmp_path / "line.wav", np.zeros(round(1.37 * rate)), rate)
    params = shot(layer("color", color="#102030"), lines=[{"who": "bo", "pause": 0.2}])
    duration, _ = shot_timing(params, [1.37], FPS)
    with ShotFrames(params, {"line0": tmp_path / "line.wav"}) as frames:
        assert frames.count == round(duration * FPS) == 17
        assert frames.frame(frames.count - 1).shape == (36, 64, 3)
        with pytest.raises(IndexError):
            frames.frame(frames.count)


def test_render_shot_splits_head_and_tail_frame_exactly(tmp_path: Path) -> None:
    params = shot(layer("color", color="#808080", fade_in=0.5), overlap=[2, 3])
    outputs = {name: tmp_path / f"{name}.mp4" for name in ("video", "head", "tail")}
    meta = render_shot(params, {}, outputs)
    assert meta == {"duration": 1.0, "frames": 12, "own_frames": 7}
    counts = {name: count_frames_and_secs(str(path))[0] for name, path in outputs.items()}
    assert counts == {"video": 7, "head": 2, "tail": 3}


def test_crossfade_blends_tail_into_head(tmp_path: Path) -> None:
    sides = {}
    for name, grey in (("from", 40), ("to", 200)):
        sides[name] = tmp_path / f"{name}.mp4"
        frames = [np.full((36, 64, 3), grey, dtype=np.uint8)] * 4
        write_video(frames, sides[name], 4, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS)
    out = tmp_path / "blend.mp4"
    assert render_transition({"size": list(SIZE), "fps": FPS, "frames": 4}, sides, out) == {
        "frames": 4
    }
    greys = [int(np.median(frame)) for frame in read_frames(out, SIZE, 4)]
    expected = [40 + 160 * (i + 0.5) / 4 for i in range(4)]
    assert np.abs(np.array(greys) - expected).max() <= 2


def test_writer_encodes_exactly_the_frames_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "seven.mp4"
    frames = (np.full((36, 64, 3), 10 * i, dtype=np.uint8) for i in range(100))
    write_video(frames, out, 7, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS)
    assert count_frames_and_secs(str(out))[0] == 7
    greys = [np.median(frame) for frame in read_frames(out, SIZE, 7)]
    assert np.abs(np.array(greys) - 10 * np.arange(7)).max() <= 1  # in order, none dropped


def test_writer_refuses_too_few_frames_and_stops_ffmpeg(tmp_path: Path) -> None:
    frames = [np.zeros((36, 64, 3), dtype=np.uint8)] * 3
    with pytest.raises(ValueError, match="3 frames to encode, not 5"):
        write_video(frames, tmp_path / "short.mp4", 5, SIZE, FPS, preset="ultrafast", codec_args=[])


def test_ffmpeg_failure_is_a_media_error_with_its_message(tmp_path: Path) -> None:
    writer = FrameWriter(tmp_path / "x.mp4", SIZE, FPS, preset="no-such-preset", codec_args=[])
    with pytest.raises(MediaError, match="ffmpeg .*x.mp4: .*no-such-preset"), writer:
        for _ in range(50):
            writer.write(np.zeros((36, 64, 3), dtype=np.uint8))
    assert writer._proc.returncode is not None  # reaped: no zombie left


def test_writer_rejects_a_frame_of_the_wrong_size(tmp_path: Path) -> None:
    writer = FrameWriter(tmp_path / "x.mp4", SIZE, FPS, preset="ultrafast", codec_args=[])
    with pytest.raises(ValueError, match="a frame must be"), writer:
        writer.write(np.zeros((36, 63, 3), dtype=np.uint8))
    assert writer._proc.returncode is not None


def test_reading_past_the_last_frame_is_a_media_error(tmp_path: Path) -> None:
    out = tmp_path / "two.mp4"
    frames = [np.zeros((36, 64, 3), dtype=np.uint8)] * 2
    write_video(frames, out, 2, SIZE, FPS, preset="ultrafast", codec_args=LOSSLESS)
    with pytest.raises(MediaError, match="two.mp4 has 2 frames, not 3"):
        list(read_frames(out, SIZE, 3))
