"""The voice backends (piper, espeak) and the shaping they share."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.voice.espeak import EspeakParams, EspeakVoice
from filmkit.generators.voice.piper import PiperParams, PiperVoice
from filmkit.generators.voice.shaping import (
    normalise_peak,
    read_direction,
    read_timings,
    shift_pitch,
    trim_silence,
)
from filmkit.media import read_wav, wav_duration, write_wav

SHORT = "Hello there."
LONG = (
    "Hello there. The lighthouse keeper had not spoken to anyone in three weeks, "
    "and the silence suited him."
)
# Each backend's param for "five semitones higher".
SHIFT_UP = {"piper": {"pitch": 5.0}, "espeak": {"semitones": 5.0}}


def speak(backend: Generator, folder: Path, name: str, text: str, **params: object) -> Path:
    """Have ``backend`` say ``text`` into ``folder/name.wav``; check its metadata."""
    out = folder / f"{name}.wav"
    outputs = {"audio": out, "timings": folder / f"{name}.json"}
    request = Request(params=backend.Params(**params), seed=7, outputs=outputs, text=text)
    meta = backend.generate(request)
    assert meta is not None
    assert meta["duration"] == pytest.approx(wav_duration(out), abs=1e-3)
    return out


def median_f0(path: Path) -> float:
    """Median fundamental frequency of the voiced 40 ms frames, by autocorrelation."""
    audio, rate = read_wav(path)
    signal = audio[:, 0].astype(np.float64)
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    shortest, longest = int(rate / 400), int(rate / 60)
    loud = 0.1 * np.sqrt(np.mean(signal**2))
    estimates = []
    for start in range(0, signal.size - frame, hop):
        window = signal[start : start + frame] - signal[start : start + frame].mean()
        if np.sqrt(np.mean(window**2)) < loud:
            continue
        spectrum = np.fft.rfft(window, 2 * frame)
        correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:frame]
        correlation /= correlation[0]
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[lag] > 0.5:  # clearly periodic: a voiced frame
            estimates.append(rate / lag)
    assert len(estimates) > 20, f"{path.name}: too few voiced frames"
    return float(np.median(estimates))


@pytest.fixture(scope="module", params=[PiperVoice, EspeakVoice], ids=["piper", "espeak"])
def takes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One backend's lines: short, long, long again, long shifted up."""
    backend = request.param()
    folder = tmp_path_factory.mktemp(backend.name)
    return {
        "short": speak(backend, folder, "short", SHORT),
        "long": speak(backend, folder, "long", LONG),
        "again": speak(backend, folder, "again", LONG),
        "higher": speak(backend, folder, "higher", LONG, **SHIFT_UP[backend.name]),
    }


def test_timings_mark_the_audible_speech(takes):
    timings = read_timings(takes["long"].with_suffix(".json"))
    assert timings["duration"] == pytest.approx(wav_duration(takes["long"]), abs=1e-4)
    # The shared shaping pads every line with 60 ms of silence at each end.
    assert timings["onset"] == pytest.approx(0.06, abs=0.005)
    assert timings["offset"] == pytest.approx(timings["duration"] - 0.06, abs=0.005)
    segments = timings["segments"]
    assert segments and segments[0]["start"] >= timings["onset"]
    assert all(a["end"] < b["start"] for a, b in zip(segments, segments[1:], strict=False))
    # A long line of two sentences has at least one pause in it.
    assert len(segments) >= 2
    assert timings["words"] == []
    phonemes = timings["phonemes"]
    if "piper" in str(takes["long"]):
        # Piper's alignments: one timed phoneme per sound, in order, inside the speech.
        assert timings["source"] == "piper-alignments"
        assert len(phonemes) > 40
        assert all(
            a["end"] <= b["start"] + 1e-4 for a, b in zip(phonemes, phonemes[1:], strict=False)
        )
        assert phonemes[0]["start"] >= timings["onset"] - 0.05
        assert phonemes[-1]["end"] <= min(timings["offset"] + 0.15, timings["duration"])
        assert "ˈ" not in "".join(p["text"] for p in phonemes)  # stress marks are merged
    else:
        assert phonemes == [] and timings["source"] == "envelope"


def test_speech_is_a_mono_16_bit_wav_at_minus_3_dbfs(takes):
    audio, rate = read_wav(takes["long"])
    assert audio.shape[1] == 1
    assert rate == 22050
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.max(np.abs(audio)) == pytest.approx(10 ** (-3 / 20), abs=1e-3)


def test_duration_grows_with_the_text(takes):
    assert wav_duration(takes["long"]) > 3 * wav_duration(takes["short"])


def test_same_line_twice_is_byte_identical(takes):
    assert digest(takes["long"]) == digest(takes["again"])


def test_five_semitones_up_raises_f0_by_about_a_third(takes):
    ratio = median_f0(takes["higher"]) / median_f0(takes["long"])
    assert 1.2 < ratio < 1.5  # 2 ** (5 / 12) = 1.335


def test_partial_formant_shift_still_moves_the_pitch_all_the_way(tmp_path):
    plain = speak(EspeakVoice(), tmp_path, "plain", LONG)
    audio, rate = read_wav(plain)
    shifted = tmp_path / "shifted.wav"
    write_wav(shifted, shift_pitch(audio[:, 0], rate, semitones=5.0, formant=2.0), rate)
    assert 1.2 < median_f0(shifted) / median_f0(plain) < 1.5


def test_piper_seed_picks_a_different_take(tmp_path):
    # VITS samples noise in the graph: the seed must reach it.
    one = tmp_path / "one.wav"
    other = tmp_path / "other.wav"
    for seed, out in ((1, one), (2, other)):
        PiperVoice().generate(
            Request(
                params=PiperParams(),
                seed=seed,
                outputs={"audio": out, "timings": tmp_path / f"{seed}.json"},
                text=SHORT,
            )
        )
    assert digest(one) != digest(other)


@pytest.mark.parametrize("params", [PiperParams, EspeakParams])
def test_params_reject_unknown_keys(params):
    with pytest.raises(ValidationError, match="extra"):
        params(volume=3)


def test_formant_is_a_mode_or_semitones():
    assert PiperParams(formant="preserved").formant == "preserved"
    assert PiperParams(formant=2).formant == 2.0
    with pytest.raises(ValidationError):
        PiperParams(formant="sideways")


@pytest.mark.parametrize("backend", [PiperVoice, EspeakVoice])
def test_empty_line_is_an_error(backend, tmp_path):
    request = Request(
        params=backend.Params(), seed=0, outputs={"audio": tmp_path / "x.wav"}, text="  "
    )
    with pytest.raises(GeneratorError, match="empty"):
        backend().generate(request)


def test_unknown_espeak_voice_is_named_in_the_error(tmp_path):
    with pytest.raises(GeneratorError, match="no voice 'xx-nowhere'"):
        speak(EspeakVoice(), tmp_path, "x", SHORT, voice="xx-nowhere")


def test_trim_leaves_exactly_the_pad_at_each_end():
    rate = 10_000
    buzz = np.where(np.arange(2_000) % 2, 0.5, -0.5).astype(np.float32)
    for lead in (100, 3_000):  # less and more silence than the 600-sample pad
        audio = np.concatenate([np.zeros(lead, np.float32), buzz, np.zeros(5_000, np.float32)])
        trimmed = trim_silence(audio, rate, pad=0.06)
        assert trimmed.size == 600 + 2_000 + 600
        np.testing.assert_array_equal(trimmed[600:2_600], buzz)


def test_normalise_puts_the_peak_at_minus_3_dbfs():
    audio = normalise_peak(np.array([0.0, 0.1, -0.25], np.float32))
    assert np.max(np.abs(audio)) == pytest.approx(10 ** (-3 / 20))


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_directions_parse_into_pace_level_and_what_was_not_understood():
    parsed = read_direction("whispering, slowly and angrily")
    assert parsed.whisper and parsed.tempo == pytest.approx(0.8)
    assert parsed.unknown == ["angrily"]
    assert read_direction("(quickly)").tempo == pytest.approx(1.25)
    assert read_direction("shouting").volume == "loud"


@pytest.mark.parametrize("backend", [PiperVoice, EspeakVoice], ids=["piper", "espeak"])
def test_offline_voices_act_on_pace_and_level_and_warn_about_the_rest(backend, tmp_path):
    def say(direction: str) -> tuple[Path, dict]:
        out = tmp_path / f"{len(direction)}.wav"
        outputs = {"audio": out, "timings": out.with_suffix(".json")}
        request = Request(
            params=backend.Params(), seed=3, outputs=outputs, text=LONG, direction=direction
        )
        return out, backend().generate(request)

    plain, plain_meta = say("")
    quiet, quiet_meta = say("quietly, slowly, angrily")
    assert "warnings" not in plain_meta
    assert quiet_meta["warnings"] == [
        f"direction 'angrily' means nothing to {backend.name}; ignored"
    ]
    assert wav_duration(quiet) > 1.1 * wav_duration(plain)
    assert np.max(np.abs(read_wav(quiet)[0])) == pytest.approx(10 ** (-9 / 20), abs=2e-3)
