"""The cut's MP4 writer against ffmpeg's own join: the same frames at the same times."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from filmkit.errors import MediaError
from filmkit.media import run_ffmpeg
from filmkit.project import Project
from filmkit.render import aac, mp4
from filmkit.render.cut import encode
from filmkit.render.encoder import read_frames
from filmkit.render.frames import ShotFrames
from filmkit.store.lockfile import read_lock
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, unwrapped, write_project
from tests.fakes import fake_registry

FPS, RATE, SIZE = 12, 48000, (64, 36)


def moving(count: int, seed: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Frames with motion in them, so x264 uses B-frames and reorders them."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] + 40, size[0] + 60, 3), dtype=np.uint8)
    return [base[i % 40 : i % 40 + size[1], i % 60 : i % 60 + size[0]].copy() for i in range(count)]


def segments(folder: Path, counts: list[int], size: tuple[int, int] = SIZE) -> list[Path]:
    paths = []
    for number, count in enumerate(counts):
        path = folder / f"segment{number}-{size[0]}.mp4"
        encode(moving(count, number, size), path, count, size, FPS)
        paths.append(path)
    return paths


def scene_sound(folder: Path, seconds: float) -> Path:
    """One scene's AAC (a pulsing tone), encoded as the master step encodes it."""
    t = np.arange(aac.window(round(seconds * RATE))) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    path = folder / "scene.aac"
    aac.encode(np.stack([tone, tone], axis=1).astype(np.float32), RATE, path)
    return path


def framemd5(path: Path, stream: str) -> list[tuple[str, ...]]:
    """Every decoded frame of one stream: its decode and show times, size and checksum.

    (Not the duration ffmpeg guesses for a frame: after a segment too short to
    reorder frames, ffmpeg's own join guesses three frames for the one before.)
    """
    command = [get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", stream, "-f", "framemd5"]
    out = subprocess.run([*command, "-"], capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in out.splitlines() if not line.startswith("#")]
    return [tuple(field.strip() for field in row[:3] + row[4:]) for row in rows]


def ffmpeg_join(parts: list[Path], sound: Path, frames: int, out: Path) -> None:
    """The same join by ffmpeg: concat demuxer, stream copy, the same AAC frames."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{path}'\n" for path in parts))
    with sound.open("rb") as stream:
        every = [header + payload for header, payload in aac.frames(stream)]
    kept = out.with_suffix(".aac")  # without the priming frame, as many frames as the film's
    kept.write_bytes(b"".join(every[1 : frames + 1]))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(kept)]
               + ["-map", "0:v", "-map", "1:a", "-c", "copy", str(out)])  # fmt: skip


def write_film(parts: list[Path], sound: Path, out: Path, title: str = "Test") -> mp4.Video:
    picture = mp4.join_videos([mp4.read_video(path) for path in parts])
    samples = round(picture.samples.duration / picture.samples.timescale * RATE)
    mp4.write_movie(
        out, picture, aac.film_sound([unwrapped(sound)], [0], samples), {"title": title}
    )
    return picture


def test_joined_segments_decode_like_ffmpegs_own_join(tmp_path: Path) -> None:
    counts = [17, 2, 30]  # a two-frame segment among them
    parts = segments(tmp_path, counts)
    sound = scene_sound(tmp_path, sum(counts) / FPS)
    picture = write_film(parts, sound, tmp_path / "film.mp4")
    assert len(picture.samples) == sum(counts)
    assert picture.media_time > 0  # x264 reordered frames: the edit list hides its delay
    assert not picture.samples.sync.all()  # and not every frame is a keyframe

    frames = round(sum(counts) / FPS * RATE / aac.FRAME)
    ffmpeg_join(parts, sound, frames, tmp_path / "reference.mp4")
    for stream in ("0:v", "0:a"):
        ours = framemd5(tmp_path / "film.mp4", stream)
        assert ours == framemd5(tmp_path / "reference.mp4", stream)
    assert len(framemd5(tmp_path / "film.mp4", "0:v")) == sum(counts)


def test_films_past_four_gigabytes_take_64_bit_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = segments(tmp_path, [20, 9])
    sound = scene_sound(tmp_path, 29 / FPS)
    write_film(parts, sound, tmp_path / "narrow.mp4")
    monkeypatch.setattr(mp4, "WIDE_FROM", 0)  # as if the samples took more than 4 GB
    write_film(parts, sound, tmp_path / "wide.mp4")
    wide = (tmp_path / "wide.mp4").read_bytes()
    assert b"co64" in wide and b"stco" not in wide
    assert wide[wide.index(b"mdat") - 4 : wide.index(b"mdat")] == b"\0\0\0\1"  # a 64-bit size
    for stream in ("0:v", "0:a"):
        assert framemd5(tmp_path / "wide.mp4", stream) == framemd5(tmp_path / "narrow.mp4", stream)


def test_the_samples_read_back_lie_inside_the_file_without_overlap(tmp_path: Path) -> None:
    (path,) = segments(tmp_path, [25])
    samples = mp4.read_video(path).samples
    order = np.argsort(samples.offset)
    ends = samples.offset[order] + samples.size[order]
    assert len(samples) == 25 and samples.sync[0] and (samples.size > 0).all()
    assert (ends[:-1] <= samples.offset[order][1:]).all()
    assert ends[-1] <= path.stat().st_size
    assert samples.delta.sum() == 25 * samples.timescale // FPS


def test_segments_of_another_size_are_refused(tmp_path: Path) -> None:
    small, large = segments(tmp_path, [8])[0], segments(tmp_path, [8], (32, 18))[0]
    with pytest.raises(MediaError, match="other settings"):
        mp4.join_videos([mp4.read_video(small), mp4.read_video(large)])
    (tmp_path / "not.mp4").write_bytes(b"\0\0\0\x10junkjunkjunk")
    with pytest.raises(MediaError, match="not an MP4 file"):
        mp4.read_video(tmp_path / "not.mp4")


def adts(payloads: list[bytes]) -> bytes:
    """An ADTS stream (48 kHz stereo AAC-LC headers) around ``payloads``."""
    out = b""
    for payload in payloads:
        size = len(payload) + 7
        header = [0xFF, 0xF1, 0x4C, 0x80 | (size >> 11), (size >> 3) & 0xFF, (size & 7) << 5 | 0x1F]
        out += bytes(header + [0xFC]) + payload
    return out


def test_a_film_written_from_its_stored_layout_is_the_film_written_directly(
    tmp_path: Path,
) -> None:
    """The layout a cut stores names its sources; written from it (the sources found
    under other paths), the film has the same bytes, and its sha256 is reported."""
    parts = segments(tmp_path, [9, 14])
    sound = scene_sound(tmp_path, 23 / FPS)
    picture = write_film(parts, sound, tmp_path / "direct.mp4", title="T")
    samples = round(picture.samples.duration / picture.samples.timescale * RATE)
    raw, units = unwrapped(sound)
    movie = mp4.lay_out_movie(picture, aac.film_sound([(raw, units)], [0], samples), {"title": "T"})
    names = {parts[0]: "reel0", parts[1]: "reel1", raw: "aac0"}
    layout = tmp_path / "film.movie"
    layout.write_bytes(movie.dumps(names))
    assert layout.stat().st_size < (tmp_path / "direct.mp4").stat().st_size / 4
    moved = tmp_path / "moved"
    moved.mkdir()
    sources = {name: Path(shutil.copy(path, moved / name)) for path, name in names.items()}
    digest = mp4.write_laid_out(layout, sources, tmp_path / "laid_out.mp4")
    written = (tmp_path / "laid_out.mp4").read_bytes()
    assert written == (tmp_path / "direct.mp4").read_bytes()
    assert digest == hashlib.sha256(written).hexdigest()
    with pytest.raises(MediaError, match="not a movie layout"):
        mp4.write_laid_out(parts[0], sources, tmp_path / "nothing.mp4")


def test_a_film_written_in_small_windows_and_short_writes_has_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows smaller than a chunk, batches of three ranges, and a system that takes
    at most 1000 bytes a writev: the same film and sha256; a source cut short is named."""
    parts = segments(tmp_path, [9, 14])
    sound = scene_sound(tmp_path, 23 / FPS)
    picture = write_film(parts, sound, tmp_path / "direct.mp4")
    samples = round(picture.samples.duration / picture.samples.timescale * RATE)
    raw, units = unwrapped(sound)
    movie = mp4.lay_out_movie(
        picture, aac.film_sound([(raw, units)], [0], samples), {"title": "Test"}
    )
    writev = os.writev

    def short_writev(fd: int, views: list[memoryview]) -> int:
        return writev(fd, [b"".join(views)[:1000]])

    monkeypatch.setattr(mp4, "_WINDOW", 700)
    monkeypatch.setattr(mp4, "_BATCH_RANGES", 3)
    monkeypatch.setattr(mp4.os, "writev", short_writev)
    digest = movie.write(tmp_path / "small.mp4")
    written = (tmp_path / "small.mp4").read_bytes()
    assert written == (tmp_path / "direct.mp4").read_bytes()
    assert digest == hashlib.sha256(written).hexdigest()
    raw.write_bytes(raw.read_bytes()[:-50])
    with pytest.raises(MediaError, match=f"{raw.name} is shorter than its sample tables say"):
        movie.write(tmp_path / "cut_short.mp4")


def payloads_of(data: bytes) -> list[bytes]:
    return [payload for _, payload in aac.frames(io.BytesIO(data))]


def test_adts_frames_are_found_past_sync_words_inside_their_payloads() -> None:
    rng = np.random.default_rng(3)
    payloads = [rng.bytes(int(n)) for n in rng.integers(1, 600, 200)]
    payloads[5] = b"\xff\xf1\x4c\x80\x00\x3f\xfc" * 3  # a header's look-alike in the data
    # Inside one frame, a look-alike header of size 20 leading to another 20 bytes on.
    look_alike = bytes([0xFF, 0xF1, 0x4C, 0x80, 20 >> 3, (20 & 7) << 5 | 0x1F, 0xFC])
    payloads[9] = look_alike + b"\x02" * 13 + look_alike + b"\x03" * 30
    data = adts(payloads)
    assert payloads_of(data) == payloads
    with pytest.raises(MediaError, match="damaged.*cut short"):
        payloads_of(data[:-3])
    with pytest.raises(MediaError, match="damaged.*no frame header"):
        payloads_of(data + b"\0" * 9)
    with pytest.raises(MediaError, match="not an ADTS"):
        payloads_of(b"\0" * 40 + data)


def test_adts_unwrapped_keeps_every_payload_back_to_back_with_its_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    payloads = [rng.bytes(int(n)) for n in rng.integers(1, 400, 50)]
    data = bytearray(adts(payloads))
    crc = bytes([0xFF, 0xF0, 0x4C, 0x80, (4 + 9) >> 3, ((4 + 9) & 7) << 5 | 0x1F, 0xFC, 0xAB, 0xCD])
    data += crc + b"\x05" * 4  # a frame whose header carries a CRC (protection absent = 0)
    (tmp_path / "in.aac").write_bytes(bytes(data))
    units = aac.unwrap(tmp_path / "in.aac", tmp_path / "raw")
    assert (tmp_path / "raw").read_bytes() == b"".join(payloads) + b"\x05" * 4
    assert units.sizes.tolist() == [len(p) for p in payloads] + [4]
    assert (units.config, units.rate, units.channels) == (bytes([0x11, 0x90]), 48000, 2)
    assert aac.Units.loads(units.dumps()).sizes.tolist() == units.sizes.tolist()
    several = bytearray(adts(payloads[:3]))
    several[6] |= 0x01  # the first frame says it holds two AAC blocks
    (tmp_path / "two.aac").write_bytes(bytes(several))
    with pytest.raises(MediaError, match="several AAC blocks"):
        aac.unwrap(tmp_path / "two.aac", tmp_path / "raw")


def test_scene_sound_that_cannot_join_the_film_is_refused_by_name(tmp_path: Path) -> None:
    """Too few frames for the grid, another rate or layout, a stream mixing rates, or no
    sound at all: each a clear error naming what is wrong."""
    payloads = [bytes([n]) * 20 for n in range(6)]
    (tmp_path / "a.aac").write_bytes(adts(payloads))
    short = unwrapped(tmp_path / "a.aac")
    with pytest.raises(MediaError, match=r"a.raw: 6 AAC frames, the cut needs 9"):
        aac.film_sound([short], [0], 8 * aac.FRAME)
    other = short[0], short[1]._replace(rate=44100)
    with pytest.raises(MediaError, match="a.raw: AAC of another rate or layout"):
        aac.film_sound([short, other], [0, 2 * aac.FRAME], 4 * aac.FRAME)
    with pytest.raises(MediaError, match="the film has no sound"):
        aac.film_sound([short], [0], 0)
    mixed = bytearray(adts(payloads))
    mixed[27 * 2 + 2] ^= 0x04  # the third frame's sampling-rate index changes
    (tmp_path / "mixed.aac").write_bytes(bytes(mixed))
    with pytest.raises(MediaError, match="mixed.aac: ADTS frames of several rates or layouts"):
        aac.unwrap(tmp_path / "mixed.aac", tmp_path / "mixed.raw")
    (tmp_path / "empty.aac").write_bytes(b"")
    with pytest.raises(MediaError, match="empty.aac: no AAC frames"):
        aac.unwrap(tmp_path / "empty.aac", tmp_path / "empty.raw")


# -- the whole film against a single-pass render ---------------------------------


def test_a_film_cut_from_segments_matches_a_single_pass_render(tmp_path: Path) -> None:
    """Every frame where one pass over all shots (crossfades blended in place) puts it,
    as many frames, and the sound as long as the picture to within a frame."""
    scenes = {"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO}
    root = write_project(tmp_path, film=TINY_FILM, scenes=scenes)
    project = Project(root, fake_registry())
    project.build()
    lock, plan = read_lock(project.lock_path), project.plan()

    def inputs(step_id: str) -> dict[str, Path]:
        files = {item.name: root / item.file for item in plan[step_id].inputs if item.file}
        made = {name: project.store.object_path(d) for name, d in lock[step_id].inputs.items()}
        return made | files

    clock = json.loads(project.store.object_path(lock["timeline"].outputs["shots"]).read_text())
    fps, (width, height) = 12, (160, 96)  # TINY_FILM's
    total = round(clock["duration"] * fps)
    single = np.zeros((total, height, width, 3), np.float32)
    weight = np.zeros(total, np.float32)
    for shot in clock["shots"]:
        step = plan[f"shot:{shot['id']}"]
        head, tail = step.params_value()["overlap"]
        first = round(shot["start"] * fps)
        with ShotFrames(step.params_value(), inputs(step.id)) as frames:
            for i in range(frames.count):
                # A crossfade's frame j of n is (j + 0.5) / n of the way into the next shot.
                alpha = 1.0
                if i < head:
                    alpha = (i + 0.5) / head
                elif i >= frames.count - tail:
                    alpha = 1 - (i - (frames.count - tail) + 0.5) / tail
                single[first + i] += alpha * frames.frame(i)
                weight[first + i] += alpha
    assert np.allclose(weight, 1.0, atol=1e-6)  # every frame of the film made exactly once

    film = root / "build" / "film.mp4"
    assert len(framemd5(film, "0:v")) == total
    decoded = np.stack(list(read_frames(film, (width, height), total))).astype(np.float32)
    error = ((decoded - single) ** 2).reshape(total, -1).mean(axis=1)
    psnr = 10 * np.log10(255**2 / np.maximum(error, 1e-9))
    assert psnr.min() > 30, f"frame {int(psnr.argmin())} is {psnr.min():.1f} dB off"
    # A frame out of place would match its neighbour better than its own: it does not.
    shifted = ((decoded[1:] - single[:-1]) ** 2).mean() + ((decoded[:-1] - single[1:]) ** 2).mean()
    assert error.mean() < 0.8 * shifted / 2
    sound = framemd5(film, "0:a")
    assert int(sound[0][2]) == 0  # the sound starts with the first frame
    end = (int(sound[-1][2]) + aac.FRAME) / RATE  # the last AAC frame's start and length
    assert abs(end - total / fps) < 1 / fps
