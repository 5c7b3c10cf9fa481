"""The sound: loudness and true peak, fitting and ducking, stems, subtitles and checks."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from filmkit.errors import BuildError
from filmkit.generators.sound.procedural import SoundParams, synthesise
from filmkit.media import read_wav, run_ffmpeg, write_wav
from filmkit.project import Project
from filmkit.render import loudness
from filmkit.render.mix import duck_gain, fit
from tests.conftest import SCENE_TWO, TINY_FILM, write_project
from tests.fakes import fake_registry

RATE = 48000


def speechy(seconds: float, seed: int = 1) -> np.ndarray:
    """Bursts of harmonic tone with pauses and one sharp transient: hard to level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 180 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    gate = (np.sin(2 * np.pi * 0.7 * t) > -0.2).astype(float)
    audio = 0.05 * tone * gate
    audio[RATE : RATE + 50] += 0.9  # a click far above everything else
    return np.stack([audio, 0.8 * audio], axis=1)


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_normalise_meets_the_target_and_keeps_the_true_peak_under_the_ceiling(target):
    audio, _gain = loudness.normalise(speechy(8.0), RATE, target, -1.5)
    levels = loudness.measure(audio, RATE)
    assert levels.integrated == pytest.approx(target, abs=0.1)
    assert levels.true_peak <= -1.5 + 0.05


def test_true_peak_sees_between_the_samples():
    # A sine at a quarter of the rate, sampled off its crests: samples say -3 dB,
    # the reconstructed wave reaches 0 dB.
    n = np.arange(RATE)
    audio = np.sin(2 * np.pi * (RATE / 4) * n / RATE + np.pi / 4)[:, None].repeat(2, axis=1)
    sample_peak = 20 * np.log10(np.abs(audio).max())
    assert sample_peak == pytest.approx(-3.0, abs=0.1)
    assert loudness.true_peak(audio) == pytest.approx(0.0, abs=0.3)


def test_limiter_leaves_quiet_audio_alone():
    quiet = speechy(2.0) * 0.5
    quiet[RATE : RATE + 50] = 0.0
    assert np.array_equal(loudness.limit(quiet, RATE, -1.0), quiet)


def test_fit_loops_short_music_with_a_crossfade_and_cuts_long_music():
    t = np.arange(RATE * 3) / RATE
    music = np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32)
    looped = fit(music, RATE * 10, RATE, loop=True)
    assert looped.shape == (RATE * 10, 2)
    # No gap anywhere: every 50 ms window of the loop has sound in it.
    windows = np.abs(looped[: RATE * 10 // 2400 * 2400, 0]).reshape(-1, 2400).max(axis=1)
    assert windows.min() > 0.5
    assert fit(music, RATE, RATE, loop=True).shape == (RATE, 2)
    assert fit(music, RATE * 10, RATE, loop=False).shape == (RATE * 3, 2)


def test_music_ducks_only_while_someone_speaks_and_only_under_its_cue():
    speech = [[2.0, 3.0], [7.0, 8.0]]
    ducked = [(0.0, 5.0, -10.0)]  # the cue spans the first five seconds
    gain = 20 * np.log10(duck_gain(speech, ducked, 0, 10 * RATE, RATE))
    assert gain[int(2.5 * RATE)] == pytest.approx(-10.0, abs=0.01)
    assert gain[int(0.5 * RATE)] == pytest.approx(0.0, abs=0.01)
    assert gain[int(4.5 * RATE)] == pytest.approx(0.0, abs=0.01)
    # Speech at 7 s falls outside the cue's span (shot 0): nothing to duck.
    assert gain[int(7.5 * RATE)] == pytest.approx(0.0, abs=0.01)
    # The ramps are smooth: no step bigger than a small fraction of a dB per sample.
    assert np.max(np.abs(np.diff(gain))) < 0.01


def test_effects_have_the_character_of_their_names():
    def spectrum_peak(audio: np.ndarray, lo: float, hi: float) -> float:
        mono = audio.mean(axis=1)
        power = np.abs(np.fft.rfft(mono)) ** 2
        freqs = np.fft.rfftfreq(mono.size, 1 / 44100)
        band = (freqs > lo) & (freqs < hi)
        return float(freqs[band][np.argmax(power[band])])

    chime = synthesise(SoundParams(effect="chime", room=0.0), 3.0, 1)
    assert spectrum_peak(chime, 300, 2000) == pytest.approx(659.25, abs=3)
    hum = synthesise(SoundParams(effect="room_tone", mains=60, hum=1.0, room=0.0), 3.0, 1)
    assert spectrum_peak(hum, 90, 400) == pytest.approx(120.0, abs=1)
    steps = synthesise(SoundParams(effect="footsteps", pace=2.0, room=0.0), 4.0, 1)
    envelope = np.abs(steps[:, 0]).reshape(-1, 441).max(axis=1)  # 10 ms blocks
    onsets = np.flatnonzero((envelope[1:] > 0.2) & (envelope[:-1] <= 0.2))
    assert 7 <= onsets.size <= 9  # two steps a second for four seconds
    again = synthesise(SoundParams(effect="footsteps", pace=2.0, room=0.0), 4.0, 1)
    assert np.array_equal(steps, again)


# -- through the build ----------------------------------------------------------


def build(root: Path) -> dict:
    Project(root, fake_registry()).build()
    return json.loads((root / "build" / "report.json").read_text())


def failed_build(root: Path, step_id: str) -> dict:
    """Build expecting one step to fail; that step's record from the report."""
    with pytest.raises(BuildError, match="1 step"):
        build(root)
    report = json.loads((root / "build" / "report.json").read_text())
    step = next(s for s in report["steps"] if s["id"] == step_id)
    assert step["status"] == "failed"
    return step


def with_film(root: Path, extra: str, scenes: dict[str, str] | None = None) -> Path:
    return write_project(root, film=TINY_FILM + textwrap.dedent(extra), scenes=scenes)


LONG_LINE = "Well, that is a very long thing to say in one breath, " * 3


def test_a_line_too_fast_to_read_is_a_warning(tmp_path: Path) -> None:
    scenes = {"01.yaml": f'id: one\nshots:\n  - id: a\n    lines:\n      - ada: "{LONG_LINE}"\n'}
    film = TINY_FILM.replace("end: two/b", "end: one/a")
    root = write_project(tmp_path / "film", film=film, scenes=scenes)
    report = build(root)
    assert any("characters/s (limit 20)" in w for w in report["warnings"])
    timeline = next(s for s in report["steps"] if s["id"] == "timeline")
    assert timeline["meta"]["warnings"]


def test_checks_fail_stops_the_build_and_caches_nothing(tmp_path: Path) -> None:
    scenes = {"01.yaml": f'id: one\nshots:\n  - id: a\n    lines:\n      - ada: "{LONG_LINE}"\n'}
    film = TINY_FILM.replace("end: two/b", "end: one/a") + "checks: fail\nsubtitles:\n"
    film += "  reading_speed: 12\n"
    root = write_project(tmp_path / "film", film=film, scenes=scenes)
    timeline = failed_build(root, "timeline")
    assert "the subtitles failed 1 check" in timeline["reason"]
    assert "timeline" not in (root / "film.lock").read_text()


def test_music_from_a_file_is_trimmed_looped_and_faded_into_its_span(tmp_path: Path) -> None:
    root = tmp_path / "film"
    (root / "assets").mkdir(parents=True)
    t = np.arange(44100 * 4) / 44100
    write_wav(root / "assets" / "tune.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    run_ffmpeg(["-i", str(root / "assets" / "tune.wav"), str(root / "assets" / "tune.mp3")])
    film = TINY_FILM.replace(
        "    generate: {backend: music/chord}\n",
        "    file: assets/tune.mp3\n    trim: [1.0, 2.0]\n    gain_db: -6\n    fade_out: 0.5\n",
    )
    write_project(root, film=film)
    report = build(root)
    assert not [s for s in report["steps"] if s["id"].startswith("music:")]
    # Each scene's stems start at its first frame: end to end, they are the film's.
    parts = [read_wav(root / "build" / "stems" / scene / "music.wav") for scene in ("one", "two")]
    assert {rate for _, rate in parts} == {48000}
    music = np.concatenate([audio for audio, _ in parts])
    level = np.abs(music[:, 0]).reshape(-1, 480)[: music.shape[0] // 480].max(axis=1)
    # One second of the file loops for the whole film, at -6 dB, fading out at the end.
    # (Equal-power joins suit real music; on this pure tone they swell by up to 3 dB.)
    middle = level[len(level) // 4 : 3 * len(level) // 4]
    expected = 0.5 * 10 ** (-6 / 20)
    assert middle.min() > 0.85 * expected and middle.max() < 1.45 * expected
    assert level[-1] < 0.05


def test_switching_a_characters_backend_revoices_only_that_character(tmp_path: Path) -> None:
    root = write_project(tmp_path / "film")
    build(root)
    film = root / "film.yaml"
    film.write_text(
        film.read_text().replace(
            "voice: {backend: voice/tone, params: {pitch: 330}}",
            "voice: {backend: voice/buzz}",
        )
    )
    report = build(root)
    ran = sorted(s["id"] for s in report["steps"] if s["status"] == "ran")
    voices = [s for s in ran if s.startswith("voice:")]
    assert voices == ["voice:one/a/1"]  # Ada's only line; Bo's lines stay cached
    assert "shot:two/b" not in ran


def test_parenthetical_becomes_a_direction_and_a_warning_where_it_is_ignored(
    tmp_path: Path,
) -> None:
    scene = 'id: one\nshots:\n  - id: a\n    lines:\n      - ada: "(whispering) Over here."\n'
    film = TINY_FILM.replace("end: two/b", "end: one/a")
    root = write_project(tmp_path / "film", film=film, scenes={"01.yaml": scene})
    project = Project(root, fake_registry())
    spec = project.load()
    line = spec.film.scenes[0].shots[0].lines[0]
    assert (line.direction, line.text) == ("whispering", "Over here.")
    plan = project.plan(spec)
    assert plan["voice:one/a/1"].request_value() == {
        "text": "Over here.",
        "direction": "whispering",
    }
    (note,) = plan.notes
    rendered = note.render("warning")
    assert rendered.startswith("scenes/01.yaml:5:9: warning: voice/tone cannot act on")
    report = build(root)
    assert report["warnings"] == [rendered]


def test_burned_in_subtitles_draw_the_line_under_the_picture(tmp_path: Path) -> None:
    def bottom_of_frame(root: Path) -> np.ndarray:
        from moviepy import VideoFileClip

        build(root)
        clip = VideoFileClip(str(root / "build" / "film.mp4"), audio=False)
        try:
            frame = clip.get_frame(1.0)  # while Ada says "Hello there."
        finally:
            clip.close()
        return frame[-30:].astype(float)

    plain = bottom_of_frame(write_project(tmp_path / "plain"))
    burned = bottom_of_frame(with_film(tmp_path / "burned", "subtitles: {burn: true, size: 180}\n"))
    # White letters with black outlines: many more very bright pixels than before.
    assert (burned.min(axis=2) > 220).sum() > (plain.min(axis=2) > 220).sum() + 50


def test_an_unreachable_loudness_target_fails_the_films_own_check(tmp_path: Path) -> None:
    # -6 LUFS under a -12 dBTP ceiling cannot be had: the limiter keeps the ceiling,
    # and the check on the finished film names the miss.
    root = with_film(tmp_path / "film", "sound: {loudness: -6, true_peak: -12}\nchecks: fail\n")
    cut = failed_build(root, "cut")
    assert "off the target -6 LUFS" in cut["reason"]
    assert not (root / "build" / "film.mp4").exists()


def test_a_clipping_sound_is_reported_with_its_time(tmp_path: Path) -> None:
    root = tmp_path / "film"
    (root / "assets").mkdir(parents=True)
    square = np.sign(np.sin(2 * np.pi * 200 * np.arange(4800) / 48000))
    write_wav(root / "assets" / "bang.wav", square, 48000)
    scene = SCENE_WITH_SOUND.replace("SOUND", "{file: assets/bang.wav, at: 0.25}")
    write_project(root, scenes={"01.yaml": scene, "02.yaml": SCENE_TWO})
    report = build(root)
    (warning,) = [w for w in report["warnings"] if "clips" in w]
    assert warning.startswith("mix:one: the effects stem clips")
    assert "first at 0.25s into the scene" in warning


SCENE_WITH_SOUND = """\
id: one
shots:
  - id: a
    sounds:
      - SOUND
    lines:
      - ada: "Hello there."
"""
