"""The procedural score: deterministic, the requested length, unclipped, and music, not a drone."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from filmkit.generators.base import Request
from filmkit.generators.music.procedural import (
    DEFAULT_DURATION,
    Params,
    ProceduralScore,
    resolve,
)
from filmkit.generators.music.score import compose
from filmkit.generators.music.theory import CADENCES, mode_name, pitch_class
from filmkit.media import read_wav

CEILING = 10 ** (-1 / 20)
TEXTURES = ["piano", "pad", "pulse", "music_box"]


@dataclass
class Rendered:
    """One generated file, decoded."""

    data: bytes
    audio: np.ndarray
    rate: int
    meta: dict[str, Any]

    @property
    def mono(self) -> np.ndarray:
        return self.audio.mean(axis=1)


def generate(path: Path, seed: int, duration: float | None, **params: Any) -> Rendered:
    meta = ProceduralScore().generate(
        Request(
            params=Params(**params),
            seed=seed,
            outputs={"audio": path},
            duration=duration,
        )
    )
    audio, rate = read_wav(path)
    return Rendered(path.read_bytes(), audio, rate, dict(meta))


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """Render (seed, duration, params) once per module."""
    folder = tmp_path_factory.mktemp("music")
    cache: dict[tuple, Rendered] = {}

    def run(seed: int = 1, duration: float | None = 8.0, **params: Any) -> Rendered:
        key = (seed, duration, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = generate(folder / f"{len(cache)}.wav", seed, duration, **params)
        return cache[key]

    return run


def in_bands(power: np.ndarray, freqs: np.ndarray, edges) -> np.ndarray:
    """Sum each frame's power between consecutive ``edges`` (Hz)."""
    pairs = zip(edges[:-1], edges[1:], strict=True)
    return np.stack([power[:, (freqs >= a) & (freqs < b)].sum(1) for a, b in pairs], axis=1)


def band_profile(mono: np.ndarray, rate: int) -> np.ndarray:
    """Mean log energy (dB) in half-octave bands from 100 Hz, over 46 ms frames."""
    frames = np.lib.stride_tricks.sliding_window_view(mono, 2048)[::1024] * np.hanning(2048)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(2048, 1 / rate)
    bands = in_bands(power, freqs, 100 * 2 ** np.arange(0, 7.5, 0.5))
    db = 10 * np.log10(bands + 1e-9)
    return np.maximum(db - db.max(), -80).mean(axis=0)


def centroid(mono: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    return float((power * freqs).sum() / power.sum())


def dominant_pitch_class(segment: np.ndarray, rate: int) -> int:
    """The pitch class holding the most spectral energy between 50 Hz and 2 kHz."""
    power = np.abs(np.fft.rfft(segment * np.hanning(len(segment)))) ** 2
    freqs = np.fft.rfftfreq(len(segment), 1 / rate)
    keep = (freqs > 50) & (freqs < 2000)
    classes = np.round(12 * np.log2(freqs[keep] / 440) + 69).astype(int) % 12
    return int(np.bincount(classes, weights=power[keep], minlength=12).argmax())


def onset_strength(mono: np.ndarray, rate: int, hop: int = 256) -> np.ndarray:
    """Half-wave rectified rise of log energy in octave bands, per hop."""
    frames = np.lib.stride_tricks.sliding_window_view(mono, 1024)[::hop] * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(1024, 1 / rate)
    bands = in_bands(power, freqs, [40, 160, 640, 2560, 10240])
    rise = np.diff(10 * np.log10(bands + 1e-9), axis=0)
    return np.maximum(rise, 0).sum(axis=1)


def test_generator_is_registered_as_music_procedural():
    assert ProceduralScore.id() == "music/procedural"
    assert ProceduralScore.outputs == {"audio": ".wav"}
    assert ProceduralScore.Params is Params
    (entry,) = [e for e in entry_points(group="filmkit.generators") if e.name == "music/procedural"]
    assert entry.load() is ProceduralScore


@pytest.mark.parametrize("mood", ["whimsical", "eerie"])
def test_same_seed_params_and_duration_give_identical_bytes(tmp_path, mood):
    first = generate(tmp_path / "a.wav", 7, 6.0, mood=mood)
    second = generate(tmp_path / "b.wav", 7, 6.0, mood=mood)
    assert first.data == second.data
    assert first.meta == second.meta


def test_different_seeds_give_different_music(render):
    one, two = render(seed=1, duration=12.0), render(seed=2, duration=12.0)
    assert one.data != two.data
    size = min(len(one.mono), len(two.mono))
    assert np.corrcoef(one.mono[:size], two.mono[:size])[0, 1] < 0.8


def test_output_is_stereo_16_bit_44k(render):
    out = render()
    assert out.rate == 44100 and out.audio.shape[1] == 2
    assert int.from_bytes(out.data[34:36], "little") == 16  # bits per sample in the header
    assert not np.allclose(out.audio[:, 0], out.audio[:, 1])  # panned and reverberated


@pytest.mark.parametrize(
    ("mood", "duration", "tempo"),
    [
        ("melancholy", 30.0, None),
        ("tense", 7.5, None),
        ("hopeful", 20.0, 137.0),
        ("eerie", 3.0, None),
    ],
)
def test_length_is_whole_bars_within_one_bar_of_the_request(mood, duration, tempo):
    style, _ = resolve(Params(mood=mood, tempo=tempo))
    score = compose(style, duration, np.random.default_rng(0))
    bar = 240 / style.tempo
    assert abs(score.duration - duration) <= bar
    assert len(score.beats) == 4 * score.bars
    steps = np.diff(score.beats)
    assert score.beats[0] == 0.0
    assert np.all(steps >= 60 / style.tempo - 1e-6)
    assert np.all(steps <= 1.31 * 60 / style.tempo)  # only the closing ritardando stretches


def test_file_length_and_metadata_match(render):
    out = render(duration=None, mood="tense")
    seconds = len(out.audio) / out.rate
    assert abs(seconds - DEFAULT_DURATION) <= 240 / 104
    assert out.meta["duration"] == pytest.approx(seconds, abs=1e-4)
    assert out.meta["tempo"] == 104 and out.meta["mode"] == "phrygian" and out.meta["key"] == "D"
    assert len(out.meta["beats"]) == 4 * out.meta["bars"]
    assert out.meta["beats"][-1] < seconds


def test_params_override_the_mood(render):
    out = render(mood="melancholy", tempo=90, key="F#", mode="dorian", texture="pulse")
    assert (out.meta["tempo"], out.meta["key"], out.meta["mode"]) == (90, "F#", "dorian")
    assert out.meta["texture"] == "pulse"
    assert np.diff(out.meta["beats"][:6]) == pytest.approx(60 / 90, abs=1e-6)


@pytest.mark.parametrize("texture", TEXTURES)
def test_no_clipping_even_when_pushed(render, texture):
    normal = render(seed=3, duration=10.0, texture=texture, tempo=120.0, drums=False)
    pushed = render(seed=3, duration=10.0, texture=texture, tempo=120.0, drums=True, gain_db=12.0)
    assert np.abs(normal.audio).max() < CEILING
    assert np.abs(pushed.audio).max() < CEILING
    assert np.sqrt(np.mean(pushed.audio**2)) > np.sqrt(np.mean(normal.audio**2))


@pytest.mark.parametrize("mode", ["minor", "major", "dorian", "phrygian", "lydian"])
def test_the_harmony_closes_with_the_modes_cadence_and_the_melody_on_the_tonic(mode):
    style, _ = resolve(Params(mode=mode, key="F#"))
    score = compose(style, 20.0, np.random.default_rng(5))
    predominant, cadence, tonic = CADENCES[mode_name(mode)]
    assert [c.degree for c in score.chords[-3:]] == [predominant, cadence, tonic]
    assert score.chords[-1].root == pitch_class("F#")
    melody = [n for n in score.notes if n.voice == "piano" and n.pan == 0.12]
    assert max(melody, key=lambda n: n.time).pitch % 12 == pitch_class("F#")


def test_the_piece_ends_with_a_decaying_chord(render):
    out = render(duration=12.0)
    last_bar = int(out.meta["beats"][-4] * out.rate)
    chord = out.mono[last_bar : last_bar + out.rate // 2]
    assert 20 * np.log10(np.sqrt(np.mean(chord**2))) > -35
    assert 20 * np.log10(np.sqrt(np.mean(out.mono[-2205:] ** 2)) + 1e-12) < -55


def test_harmony_changes_and_the_audio_follows_the_chords(render):
    params = {"mood": "melancholy", "texture": "piano", "tempo": 120.0}
    out = render(seed=3, duration=24.0, **params)
    style, _ = resolve(Params(**params))
    chords = compose(style, 24.0, np.random.default_rng(3)).chords
    beats = out.meta["beats"] + [len(out.mono) / out.rate]
    dominant = []
    for bar in range(out.meta["bars"]):
        start, end = (int(beats[4 * bar + i] * out.rate) for i in (0, 4))
        dominant.append(dominant_pitch_class(out.mono[start:end], out.rate))
    assert len(set(dominant)) >= 3
    assert (
        sum(a != b for a, b in zip(dominant[:-1], dominant[1:], strict=True)) >= len(dominant) // 3
    )
    in_chord = sum(pc in chord.tones for pc, chord in zip(dominant, chords, strict=True))
    assert in_chord >= 0.75 * len(chords)


@pytest.mark.parametrize("tempo", [100.0, 140.0])
def test_pulse_onsets_come_at_the_tempo(render, tempo):
    out = render(duration=12.0, mood="tense", texture="pulse", drums=True, tempo=tempo)
    hop = 256
    strength = onset_strength(out.mono, out.rate, hop)
    strength = strength - strength.mean()
    lags = np.arange(int(0.2 * out.rate / hop), int(1.2 * out.rate / hop))
    similarity = [np.dot(strength[:-lag], strength[lag:]) / (len(strength) - lag) for lag in lags]
    period = lags[int(np.argmax(similarity))] * hop / out.rate
    beat = 60 / tempo
    # The strongest repetition is the 8th, the beat or the two-beat kick-snare cycle.
    assert min(abs(period - beat * m) for m in (0.5, 1, 2)) < 0.05 * beat


def test_textures_sound_different(render):
    profiles, centroids = {}, {}
    for texture in TEXTURES:
        out = render(seed=3, duration=10.0, texture=texture, tempo=120.0, drums=False)
        profiles[texture] = band_profile(out.mono, out.rate)
        centroids[texture] = centroid(out.mono, out.rate)
    for i, a in enumerate(TEXTURES):
        for b in TEXTURES[i + 1 :]:
            distance = np.sqrt(np.mean((profiles[a] - profiles[b]) ** 2))
            assert distance > 2.5, (a, b, distance)
    assert centroids["music_box"] > 1.3 * max(centroids["piano"], centroids["pad"])


@pytest.mark.parametrize(
    "params",
    [
        {"moood": "tense"},
        {"mood": "tense", "reverb": 2.0},
        {"mood": "sad"},
        {"key": "H"},
        {"texture": "drone"},
        {"swing": 1.5},
        {"tempo": 10},
    ],
)
def test_params_reject_unknown_keys_and_bad_values(params):
    with pytest.raises(ValidationError):
        Params(**params)


def test_every_param_is_described():
    for name, field in Params.model_fields.items():
        assert field.description, name
