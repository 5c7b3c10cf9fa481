"""Sound made in blocks: the same bytes as whole-scene arrays, in memory that does not grow."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filmkit.media import write_wav
from filmkit.render import loudness, mix
from filmkit.render.mix import duck_gain

RATE = 48000
STEMS = ("dialogue", "music", "effects")


def tone(seconds: float, freq: float, rate: int = RATE, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = level * np.sin(2 * np.pi * freq * t) * np.sin(np.pi * t / seconds)
    return np.stack([wave, 0.8 * wave], axis=1)


def scene(root: Path, seconds: float) -> tuple[dict[str, Any], dict[str, Path]]:
    """A scene of ``seconds``: a line every 2 s (one from before the scene), a looped cue
    with fades, a trimmed sting, a looped ambience and a hit in every 2 s shot."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    write_wav(root / "voice.wav", tone(0.9, 210.0, rate=24000)[:, :1], 24000)
    write_wav(root / "cue.wav", tone(1.5, 330.0, level=0.5) + 0.02, RATE)
    write_wav(root / "sting.wav", tone(2.0, 440.0, rate=44100), 44100)
    write_wav(root / "room.wav", 0.03 * rng.standard_normal((RATE, 2)), RATE)
    hit = np.zeros((RATE // 4, 2))
    hit[:400] = rng.uniform(-0.95, 0.95, (400, 2))
    write_wav(root / "hit.wav", hit, RATE)
    shots = int(seconds // 2)
    clock: dict[str, Any] = {"length": seconds, "shots": [[i, 2.0 * i, 2.0] for i in range(shots)]}
    clock["shots"].append([99, -2.0, 2.0])
    clock["lines"] = [[99, 0, -1.4, [[-1.3, -0.6]]]]
    clock["lines"] += [
        [i, 0, 2.0 * i + 0.7, [[2.0 * i + 0.8, 2.0 * i + 1.5]]] for i in range(shots)
    ]
    inputs = {"clock": root / "clock.json", "line:99:0": root / "voice.wav"}
    inputs |= {f"line:{i}:0": root / "voice.wav" for i in range(shots)}
    inputs |= {"cue:theme": root / "cue.wav", "cue:sting": root / "sting.wav"}
    inputs |= {"sound:0:0": root / "room.wav"}
    inputs |= {f"sound:{i}:1": root / "hit.wav" for i in range(shots)}
    (root / "clock.json").write_text(json.dumps(clock))
    how = {"gain_db": 0.0, "fade_in": 0.3, "fade_out": 0.6, "loop": True}
    cues = [
        how | {"id": "theme", "first": 99, "last": shots - 1, "trim": None, "duck_db": -9.0},
        how
        | {"id": "sting", "first": 1, "last": 1, "trim": [0.2, 1.8], "duck_db": -4.0}
        | {"loop": False, "gain_db": -2.0},
    ]
    sounds = [how | {"shot": 0, "index": 0, "until": shots - 1, "scene_end": shots - 1, "at": 0.1}]
    sounds += [
        {"shot": i, "index": 1, "until": i, "scene_end": shots - 1, "at": 1.1, "gain_db": 0.0}
        | {"loop": False, "fade_in": 0.0, "fade_out": 0.0}
        for i in range(shots)
    ]
    gains = {"dialogue": 0.0, "music": -1.0, "effects": 2.0}
    params = {"rate": RATE, "last": True, "cues": cues, "sounds": sounds, "gains": gains}
    return params | {"checks": "warn"}, inputs


def mix_and_master(params: dict, inputs: dict[str, Path], out: Path) -> dict[str, bytes]:
    """Every output of the scene's mix and master (at +6 dB, so the limiter works)."""
    out.mkdir()
    outputs = {name: out / f"{name}.wav" for name in STEMS}
    outputs |= {"audio": out / "mix.npy", "levels": out / "levels.json"}
    mix.mix_scene(params, inputs, outputs)
    (out / "gain.json").write_text(json.dumps({"gain_db": 6.0}))
    masters = {
        "aac": out / "scene.aac",
        "frames": out / "frames.json",
        "levels": out / "master.json",
    }
    mastering = {"audio": outputs["audio"], "levels": outputs["levels"], "gain": out / "gain.json"}
    mix.master_scene({"rate": RATE, "true_peak": -1.0}, mastering, masters)
    return {path.name: path.read_bytes() for path in [*outputs.values(), *masters.values()]}


def test_a_scene_mixed_and_mastered_in_blocks_is_the_scene_mixed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params, inputs = scene(tmp_path / "in", 6.0)
    monkeypatch.setattr(mix, "BLOCK_SAMPLES", 10**9)  # one block: the whole-array mix
    whole = mix_and_master(params, inputs, tmp_path / "whole")
    monkeypatch.setattr(mix, "BLOCK_SAMPLES", 12_289)  # 24 blocks, off every other grid
    blocked = mix_and_master(params, inputs, tmp_path / "blocked")
    samples = np.load(tmp_path / "blocked" / "mix.npy")
    assert samples.shape == (mix.aac.window(6 * RATE), 2) and samples.dtype == np.float32
    master = json.loads(blocked["master.json"])
    assert master["true_peak"] < -1.49  # the limiter was at work
    assert max(abs(samples).max(axis=0)) * 10 ** (6 / 20) > 10 ** (-1.5 / 20)
    for name, data in whole.items():
        assert blocked[name] == data, name


def test_speech_long_before_a_window_does_not_duck_it() -> None:
    speech = [[-8.0, -7.0], [3.0, 4.0], [30.0, 31.0]]
    ducked = [(-20.0, 40.0, -10.0)]
    whole = duck_gain(speech, ducked, 0, 40 * RATE, RATE)
    assert whole[: 2 * RATE].min() == pytest.approx(1.0)  # -7 s is long gone at 0 s
    for first in (0, 5 * RATE, 17 * RATE + 123, 29 * RATE):
        window = duck_gain(speech, ducked, first, 4 * RATE, RATE)
        assert np.array_equal(window, whole[first : first + 4 * RATE])


def whole_block_powers(audio: np.ndarray, rate: int) -> np.ndarray:
    """The gating-block powers as they were computed before streaming: one whole array."""
    from pyloudnorm import IIRfilter
    from scipy.signal import lfilter

    size, hop = round(0.4 * rate), round(0.1 * rate)
    if audio.shape[0] < size:
        return np.zeros(0)
    weighted = audio.astype(np.float64)
    for stage in (
        IIRfilter(4.0, 1 / math.sqrt(2), 1500.0, rate, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
    ):
        weighted = lfilter(stage.b, stage.a, weighted, axis=0)
    energy = np.concatenate([[0.0], np.cumsum(np.square(weighted).sum(axis=1))])
    starts = np.arange(0, weighted.shape[0] - size + 1, hop)
    return (energy[starts + size] - energy[starts]) / size


def signal(samples: int, seed: int = 2) -> np.ndarray:
    """Noise and a tone, loud in stretches, with clicks over full scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    audio = 0.2 * np.sin(2 * np.pi * 997 * t)[:, None] + 0.05 * rng.standard_normal((samples, 2))
    audio[np.sin(2 * np.pi * 0.7 * t) > 0.6] *= 3.5
    for at in rng.integers(0, samples - 40, 25):
        audio[at : at + 40] = rng.uniform(-1.3, 1.3)
    return audio.astype(np.float32)


@pytest.mark.parametrize("pieces", [[1], [7, 4800, 31_337], [19_200], [300_000]])
def test_block_powers_fed_in_pieces_are_the_whole_arrays(pieces: list[int]) -> None:
    audio = signal(5 * RATE + 1234)
    meter = loudness.BlockPowers(RATE)
    at = k = 0
    while at < audio.shape[0] and k < 2000:
        meter.feed(audio[at : at + pieces[k % len(pieces)]])
        at, k = at + pieces[k % len(pieces)], k + 1
    meter.feed(audio[at:])
    want = whole_block_powers(audio, RATE)
    assert want.size == 47
    np.testing.assert_allclose(meter.powers(), want, rtol=1e-9, atol=0)
    np.testing.assert_allclose(loudness.block_powers(audio, RATE), want, rtol=1e-9, atol=0)
    assert loudness.block_powers(audio[:1000], RATE).size == 0


@pytest.mark.parametrize("block", [4096, 12_345, 100_000])
def test_the_limiter_in_blocks_is_the_limiter_on_the_whole_signal(block: int) -> None:
    audio = signal(3 * RATE + 77)
    whole = loudness.limit(audio, RATE, -1.5)
    assert not np.array_equal(whole, audio)  # it has peaks to hold down
    parts = list(
        loudness.limited_blocks(lambda a, b: audio[a:b], audio.shape[0], RATE, -1.5, block)
    )
    assert [first for first, _ in parts] == list(range(0, audio.shape[0], block))
    blocked = np.concatenate([part for _, part in parts])
    assert blocked.dtype == whole.dtype
    np.testing.assert_allclose(blocked, whole, rtol=0, atol=1e-6)


def test_true_peak_fed_in_pieces_and_envelopes_in_short_runs_are_the_whole_signals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audio = signal(2 * RATE + 5)
    envelope = loudness.peak_envelope(audio, 0.0)
    monkeypatch.setattr(loudness, "RUN_BLOCKS", 2)
    assert np.array_equal(loudness.peak_envelope(audio, 0.0), envelope)
    for pieces in ([audio.shape[0]], [1000, 7, 50_000]):
        meter = loudness.TruePeak()
        at = k = 0
        while at < audio.shape[0]:
            meter.feed(audio[at : at + pieces[k % len(pieces)]])
            at, k = at + pieces[k % len(pieces)], k + 1
        assert meter.result() == pytest.approx(loudness.true_peak(audio), abs=1e-9)
    assert loudness.TruePeak().result() == -120.0


def peaks(params: dict, inputs: dict[str, Path], out: Path) -> tuple[int, int]:
    """Traced peak memory of a scene's mix and of its master."""
    out.mkdir()
    outputs = {name: out / f"{name}.wav" for name in STEMS}
    outputs |= {"audio": out / "mix.npy", "levels": out / "levels.json"}
    tracemalloc.start()
    try:
        mix.mix_scene(params, inputs, outputs)
        mixing = tracemalloc.get_traced_memory()[1]
        (out / "gain.json").write_text(json.dumps({"gain_db": 6.0}))
        masters = {
            "aac": out / "scene.aac",
            "frames": out / "frames.json",
            "levels": out / "master.json",
        }
        inputs = {"audio": outputs["audio"], "levels": outputs["levels"], "gain": out / "gain.json"}
        tracemalloc.reset_peak()
        mix.master_scene({"rate": RATE, "true_peak": -1.0}, inputs, masters)
        return mixing, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_memory_of_a_scenes_sound_does_not_grow_with_its_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mix, "BLOCK_SAMPLES", 2**15)
    peaks(*scene(tmp_path / "warm-in", 4.0), tmp_path / "warm")  # imports, caches
    short = peaks(*scene(tmp_path / "short-in", 4.0), tmp_path / "short")
    long = peaks(*scene(tmp_path / "long-in", 16.0), tmp_path / "long")
    assert long[0] < 1.25 * short[0], (short, long)
    assert long[1] < 1.25 * short[1], (short, long)
