"""A tiny film through the real offline backends: picture, voices, music, subtitles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from filmkit.media import ffmpeg_exe, read_wav
from filmkit.render.cut import film_levels
from tests.conftest import write_project

pytestmark = pytest.mark.slow

FILM = """\
title: Small Hours
size: [320, 180]
fps: 12
seed: 5
generators:
  room: {backend: image/room, params: {style: waiting_room, chairs: 3}}
characters:
  narrator:
    name: Narrator
    voice: {backend: voice/piper, params: {speed: 1.1}}
  ada:
    name: Ada
    voice: {backend: voice/piper, params: {pitch: 4}}
    face: {backend: image/face, params: {hair_style: bob}}
  desk:
    name: Desk
    voice: {backend: voice/espeak, params: {voice: en-us, rate: 170}}
music:
  - id: theme
    generate: {backend: music/procedural, params: {mood: whimsical, texture: music_box}}
    start: one/room
    end: one/ada
    length: 8
scenes:
  - scenes/*.yaml
"""

SCENE = """\
id: one
shots:
  - id: room
    layers:
      - generate: room
        move: {zoom: [1.0, 1.1]}
      - text: "Small Hours"
        size: 60
    lines:
      - narrator: "A room."
  - id: ada
    transition: crossfade
    layers:
      - generate: room
      - character: ada
    lines:
      - ada: "Is anyone there?"
      - desk: "Next."
"""


def filmkit(root: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "filmkit.cli", "-C", str(root), *args],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def report(root: Path) -> dict[str, str]:
    data = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step["status"] for step in data["steps"]}


def probe(path: Path) -> str:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr


def probe_frames(path: Path) -> int:
    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    return int(log.replace("\r", "\n").split("frame=")[-1].split()[0])


def srt_starts(path: Path) -> list[float]:
    starts = []
    for block in path.read_text().strip().split("\n\n"):
        clock = block.splitlines()[1].split(" --> ")[0]
        hours, minutes, rest = clock.split(":")
        seconds, millis = rest.split(",")
        starts.append(int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000)
    return starts


def decoded_audio(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def test_tiny_film_builds_with_real_backends_and_rebuilds_incrementally(tmp_path: Path) -> None:
    root = write_project(tmp_path / "film", film=FILM, scenes={"01.yaml": SCENE})
    filmkit(root, "build", "-j", "2")
    film = root / "build" / "film.mp4"
    info = probe(film)
    assert "Video: h264" in info and "320x180" in info
    assert "Audio: aac" in info
    audio = decoded_audio(film)
    assert np.sqrt(np.mean(audio**2)) > 0.01, "the film is silent"
    srt = (root / "build" / "film.srt").read_text()
    assert [b.splitlines()[2] for b in srt.strip().split("\n\n")] == [
        "A room.",
        "Is anyone there?",
        "Next.",
    ]

    # The sound meets its loudness target (-16 LUFS) and ceiling, measured on the film.
    levels = film_levels(film)
    assert levels.integrated == pytest.approx(-16.0, abs=1.0)
    assert levels.true_peak <= -1.0
    # Subtitles start at the voice onsets, found in the exported dialogue stem.
    speech, rate = read_wav(root / "build" / "stems" / "one" / "dialogue.wav")
    loud = np.flatnonzero(np.abs(speech).max(axis=1) > 0.02)
    vtt = (root / "build" / "film.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v Ada>Is anyone there?" in vtt
    for cue in srt_starts(root / "build" / "film.srt"):
        onset = loud[loud >= round((cue - 0.3) * rate)][0] / rate
        assert abs(onset - cue) < 0.1
    for stem in ("music", "effects"):
        assert (root / "build" / "stems" / "one" / f"{stem}.wav").is_file()
    # Picture and sound end together, to the frame: every shot's frames are all there.
    decoded = probe_frames(film)
    assert decoded == round(len(audio) / 16000 * 12)

    filmkit(root, "build")
    assert set(report(root).values()) == {"cached"}

    scene = root / "scenes" / "01.yaml"
    scene.write_text(scene.read_text().replace("Is anyone there?", "Hello?"))
    filmkit(root, "build")
    ran = sorted(step for step, status in report(root).items() if status == "ran")
    assert ran == [
        "cut",
        "loudness",
        "master:one",
        "mix:one",
        "reel:one",
        "shot:one/ada",
        "timeline",
        "voice:one/ada/1",
    ]
