"""The sound of the film, scene by scene: stems, mix, loudness, master.

Sound is made per scene so that its cost follows the change, like the
picture's: an edit re-mixes and re-encodes the scenes whose sound it
changed, never the whole film.

* ``mix:<scene>`` lays out the scene's dialogue, music and effects stems on
  the scene's own clock (from the timeline), ducks the music under the
  speech and balances the stems; it records the scene's loudness blocks.
* ``loudness`` pools every scene's blocks into the film's integrated
  loudness (BS.1770 gating over the whole film) and sets one gain.
* ``master:<scene>`` applies that gain, holds the true peak under the
  ceiling and encodes the scene as AAC; the cut joins the scenes' AAC
  without re-encoding (:mod:`filmkit.render.aac`).

A cue or an ambience that runs across scenes is rendered in each scene it
reaches, from its own start: a scene takes only its stretch of it.

Audio is float32 numpy ``(samples, 2)`` at the mix rate, so gains, ducking
curves and the limiter work without rounding to 16 bits between stages. Both
steps go through a scene ``BLOCK_SAMPLES`` at a time, writing as they go, so
their memory does not grow with the scene; the results are the same as if
the scene were held whole.
User files (mp3, flac, ogg, any WAV) are decoded by imageio-ffmpeg's binary;
scipy's polyphase filter resamples the voices.
"""

from __future__ import annotations

import heapq
import json
import math
import tempfile
import wave
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np
from filmkit.media import WavWriter, read_wav, run_ffmpeg
from filmkit.plan.sound import STEMS
from filmkit.render import aac, loudness
from filmkit.render.checks import settle

DUCK_ATTACK = 0.12
DUCK_RELEASE = 0.45
LOOP_CROSSFADE = 1.0
CLIP_LEVEL = 0.999
# The film's loudness gain moves in steps this big (dB).
GAIN_STEP = 0.25
# The mix and the master work through a scene this many samples at a time (about
# 5.5 s at 48 kHz): their memory does not grow with the scene's length.
BLOCK_SAMPLES = 2**18


def load_audio(path: Path, rate: int) -> np.ndarray:
    """Any audio file as float32 stereo at ``rate``."""
    try:
        audio, source_rate = read_wav(path)
    except (MediaError, EOFError, wave.Error):
        audio, source_rate = _decode(path, rate)  # not 16-bit PCM WAV: ffmpeg reads it
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    audio = audio[:, :2]
    if source_rate != rate:
        from scipy.signal import resample_poly

        ratio = Fraction(rate, source_rate)
        audio = resample_poly(audio, ratio.numerator, ratio.denominator, axis=0)
    return audio.astype(np.float32)


def _decode(path: Path, rate: int) -> tuple[np.ndarray, int]:
    # Through a 16-bit WAV in its own channel layout: asked for stereo, ffmpeg would
    # upmix a mono file at -3 dB.
    with tempfile.TemporaryDirectory(prefix="filmkit-audio-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        try:
            run_ffmpeg(["-i", str(path), "-vn", "-acodec", "pcm_s16le", "-ar", str(rate), str(wav)])
        except MediaError as exc:
            raise MediaError(f"cannot read audio file {path.name}: {exc}") from None
        return read_wav(wav)


def _samples(seconds: float, rate: int) -> int:
    return max(0, round(seconds * rate))


def _at(seconds: float, rate: int) -> int:
    """A time in samples; before the scene's start it is negative."""
    return round(seconds * rate)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def place(bed: np.ndarray, audio: np.ndarray, at: int) -> None:
    """Add ``audio`` into ``bed`` starting at sample ``at``, cut at the bed's end."""
    if at >= bed.shape[0] or audio.size == 0:
        return
    end = min(bed.shape[0], at + audio.shape[0])
    bed[at:end] += audio[: end - at]


def fitted(
    audio: np.ndarray,
    length: int,
    rate: int,
    *,
    loop: bool,
    fade_in: float = 0.0,
    fade_out: float = 0.0,
    first: int = 0,
    count: int | None = None,
) -> np.ndarray:
    """Samples ``first`` to ``first + count`` of ``audio`` fitted to ``length`` samples.

    Fitting cuts ``audio`` at ``length``, or loops it with a crossfade at each
    seam when it is shorter and ``loop`` is set; equal-power fades shape both
    ends of the fitted sound. Only the samples asked for are computed, so a
    scene can take its stretch of a long cue without the cue being built
    whole; outside the fitted sound the result is silence.
    """
    looping = loop and audio.shape[0] < length and audio.shape[0] >= rate // 2
    end = length if looping else min(length, audio.shape[0])
    count = end - first if count is None else count
    out = np.zeros((max(count, 0), audio.shape[1]), dtype=np.float32)
    at = np.arange(max(first, 0), min(first + count, end))
    if at.size == 0:
        return out
    if looping:
        overlap = min(_samples(LOOP_CROSSFADE, rate), audio.shape[0] // 4)
        period = audio.shape[0] - overlap
        offset = at % period
        values = audio[offset].astype(np.float32)
        seam = (at >= period) & (offset < overlap)
        rise = np.sin(offset[seam] / max(overlap - 1, 1) * (np.pi / 2))[:, None]
        fall = np.sin((overlap - 1 - offset[seam]) / max(overlap - 1, 1) * (np.pi / 2))[:, None]
        values[seam] = audio[offset[seam]] * rise + audio[period + offset[seam]] * fall
    else:
        values = audio[at].astype(np.float32)
    for seconds, head in ((fade_in, True), (fade_out, False)):
        n = min(_samples(seconds, rate), end)
        if n > 1:
            into = at if head else end - 1 - at
            ramp = np.sin(np.clip(into / (n - 1), 0.0, 1.0) * (np.pi / 2))
            values *= ramp.astype(np.float32)[:, None]
    out[at - first] = values
    return out


def fit(audio: np.ndarray, length: int, rate: int, *, loop: bool) -> np.ndarray:
    """``audio`` cut to ``length`` samples, or looped with crossfades when it is shorter."""
    return fitted(audio, length, rate, loop=loop)


# -- a scene's sound ---------------------------------------------------------


def duck_gain(
    speech: list[list[float]],
    ducked: list[tuple[float, float, float]],
    first: int,
    count: int,
    rate: int,
) -> np.ndarray:
    """Per-sample gain for the music over samples ``first`` to ``first + count``.

    ``ducked`` gives each cue's span (seconds) and its ``duck_db``; while
    anyone speaks (``speech``: audible segments, seconds) the music under
    those cues dips by that much. The segments switch ducking on, widened by
    the attack before and the release after, then smoothed into ramps so the
    score breathes rather than jumps. The curve is computed with a second's
    margin either side, so neighbouring scenes agree where they meet.
    """
    from scipy.ndimage import uniform_filter1d

    margin = rate
    start, total = first - margin, count + 2 * margin
    depth = np.zeros(total, dtype=np.float32)
    for begin, end, duck_db in ducked:
        depth[max(0, _at(begin, rate) - start) : max(0, _at(end, rate) - start)] = duck_db
    speaking = np.zeros(total, dtype=np.float32)
    for begin, end in speech:
        low = max(0, math.ceil((begin - DUCK_ATTACK) * rate) - start)
        high = min(total, math.ceil((end + DUCK_RELEASE) * rate) - start)
        if high > low:  # speech before the window (high < 0) must not index from its end
            speaking[low:high] = 1.0
    speaking = uniform_filter1d(speaking, size=max(1, int(DUCK_ATTACK * rate)), mode="nearest")
    gain = (10 ** (depth * speaking / 20)).astype(np.float32)
    return gain[margin : margin + count]


def mix_scene(params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]) -> dict:
    """One scene's sound: its dialogue, music and effects stems, ducked and balanced.

    Everything is placed relative to the scene's first frame (``clock``, from
    the timeline), over the scene plus the few AAC frames past its end that
    the cut may need (:func:`filmkit.render.aac.window`). Writes the mix as
    float samples, the stems as WAV, and the gating-block powers the film's
    loudness is computed from.

    The scene is mixed ``BLOCK_SAMPLES`` at a time and every output is written
    as it goes, so its memory does not grow with the scene's length: a line,
    a cue or a sound is loaded when the blocks reach it and let go once they
    have passed it.
    """
    rate = params["rate"]
    clock = _read_json(inputs["clock"])
    shots = {int(i): (start, duration) for i, start, duration in clock["shots"]}
    own = _samples(clock["length"], rate)
    count = aac.window(own)
    stems = {name: _Stem() for name in STEMS}
    for shot, line, start, _segments in clock["lines"]:
        if f"line:{shot}:{line}" in inputs:
            at = _at(start, rate)
            stems["dialogue"].add(at, partial(_line, inputs[f"line:{shot}:{line}"], at, rate))
    ducked = []
    for cue in params["cues"]:
        begin = shots[cue["first"]][0]
        end = sum(shots[cue["last"]]) + cue["fade_out"]
        if params["last"]:
            end = min(end, clock["length"])
        length = _at(end, rate) - _at(begin, rate)
        stems["music"].add(_at(begin, rate), partial(_cue, cue, begin, length, inputs, rate))
        ducked.append((begin, end, cue["duck_db"]))
    film_end = clock["length"] if params["last"] else None
    for sound in params["sounds"]:
        start = shots[sound["shot"]][0] + sound["at"]
        load = partial(_effect, sound, start, shots, inputs, rate, film_end)
        stems["effects"].add(_at(start, rate), load)
    speech = [seg for *_, segments in clock["lines"] for seg in segments]
    gains = {name: np.float32(10 ** (db / 20)) for name, db in params["gains"].items()}
    clipped = {name: (0, 0) for name in STEMS}  # samples at or over the clip level, the first
    powers = loudness.BlockPowers(rate)
    with ExitStack() as files:
        samples = files.enter_context(outputs["audio"].open("wb"))
        _npy_header(samples, (count, 2))
        wavs = {name: files.enter_context(WavWriter(outputs[name], 2, rate)) for name in STEMS}
        for first in range(0, count, BLOCK_SAMPLES):
            size = min(BLOCK_SAMPLES, count - first)
            audio = {name: stem.block(first, size) for name, stem in stems.items()}
            music = audio["music"] * duck_gain(speech, ducked, first, size, rate)[:, None]
            mixed = audio["dialogue"] * gains["dialogue"] + music * gains["music"]
            mixed += audio["effects"] * gains["effects"]
            mixed.tofile(samples)
            mine = max(0, min(size, own - first))  # the scene's own samples in this block
            for name, stem in audio.items():
                wavs[name].write(stem[:mine])
                over = np.flatnonzero(loudness.magnitude(stem[:mine]) >= CLIP_LEVEL)
                if over.size:
                    seen, at = clipped[name]
                    clipped[name] = (seen + over.size, at if seen else first + int(over[0]))
            powers.feed(mixed[:mine])
    problems = [
        f"the {name} stem clips ({seen} samples, first at "
        f"{at / rate:.2f}s into the scene): lower its level (gain_db) there"
        for name, (seen, at) in clipped.items()
        if seen
    ]
    blocks = powers.powers()
    _write_json(outputs["levels"], {"samples": own, "blocks": blocks.tolist()})
    meta = {"duration": round(own / rate, 6), "lufs": round(loudness.gated_loudness(blocks), 2)}
    return meta | settle(problems, params["checks"], "the scene's sound")


class _Sound(Protocol):
    """A loaded line, cue or sound: where it ends (samples), and how it adds into a stem."""

    @property
    def end(self) -> int:
        """The sample of the scene where it has ended."""

    def add_to(self, bed: np.ndarray, first: int) -> None:
        """Add its samples ``first`` to ``first + len(bed)`` into ``bed``."""


class _Stem:
    """One stem's sounds, each loaded when the blocks reach it and let go once past its end.

    A block adds the sounds in play in the order they were added, as one
    whole-scene bed would have them: the sums are the same to the bit.
    """

    def __init__(self) -> None:
        self._coming: list[tuple[int, int, Callable[[], _Sound]]] = []  # a heap, soonest first
        self._added = 0
        self._playing: dict[int, _Sound] = {}

    def add(self, at: int, load: Callable[[], _Sound]) -> None:
        """A sound starting at sample ``at`` of the scene, loaded by ``load()`` when needed."""
        heapq.heappush(self._coming, (at, self._added, load))
        self._added += 1

    def block(self, first: int, count: int) -> np.ndarray:
        """The stem over samples ``first`` to ``first + count``."""
        bed = np.zeros((count, 2), dtype=np.float32)
        while self._coming and self._coming[0][0] < first + count:
            _at, order, load = heapq.heappop(self._coming)
            self._playing[order] = load()
        for order in sorted(self._playing):
            sound = self._playing[order]
            sound.add_to(bed, first)
            if sound.end <= first + count:
                del self._playing[order]
        return bed


@dataclass
class _Line:
    """A line of dialogue as it was spoken, from sample ``at`` of the scene."""

    at: int
    audio: np.ndarray

    @property
    def end(self) -> int:
        return self.at + self.audio.shape[0]

    def add_to(self, bed: np.ndarray, first: int) -> None:
        place(bed, self.audio[max(0, first - self.at) :], max(0, self.at - first))


@dataclass
class _Placed:
    """A cue or a sound fitted to ``length`` samples from ``start`` seconds into the scene."""

    audio: np.ndarray
    start: float
    length: int
    how: dict[str, Any]
    rate: int

    @property
    def end(self) -> int:
        return _at(self.start, self.rate) + max(0, self.length)

    def add_to(self, bed: np.ndarray, first: int) -> None:
        bed += _placed(
            self.audio, self.start, self.length, self.how, self.rate, first, bed.shape[0]
        )


def _line(path: Path, at: int, rate: int) -> _Line:
    return _Line(at, load_audio(path, rate))


def _cue(
    cue: dict[str, Any], begin: float, length: int, inputs: dict[str, Path], rate: int
) -> _Placed:
    """A music cue, trimmed, over ``length`` samples from ``begin`` seconds into the scene."""
    audio = load_audio(inputs[f"cue:{cue['id']}"], rate)
    if cue["trim"]:
        audio = audio[_samples(cue["trim"][0], rate) : _samples(cue["trim"][1], rate)]
    return _Placed(audio, begin, length, cue, rate)


def _effect(
    sound: dict[str, Any],
    start: float,
    shots: dict[int, tuple[float, float]],
    inputs: dict[str, Path],
    rate: int,
    film_end: float | None,
) -> _Placed:
    """One sound effect or ambience, from ``start`` seconds into the scene.

    It starts ``at`` seconds into its shot and plays to its own end, or loops
    or is cut at the end of its ``until`` shot; it never plays past the end of
    its last scene (or of the film).
    """
    audio = load_audio(inputs[f"sound:{sound['shot']}:{sound['index']}"], rate)
    limit = sum(shots[sound["scene_end"]])
    if sound["loop"] or sound["until"] != sound["shot"]:
        limit = min(limit, sum(shots[sound["until"]]))
    if film_end is not None:
        limit = min(limit, film_end)
    length = _at(limit, rate) - _at(start, rate)
    if not sound["loop"]:
        length = min(length, audio.shape[0])
    return _Placed(audio, start, length, sound, rate)


def _placed(
    audio: np.ndarray,
    start: float,
    length: int,
    how: dict[str, Any],
    rate: int,
    first: int,
    count: int,
) -> np.ndarray:
    """A cue or a sound over the scene's samples ``first`` to ``first + count``.

    Fitted, faded and at its gain; it starts ``start`` seconds into the scene.
    """
    stretch = fitted(
        audio,
        length,
        rate,
        loop=how["loop"],
        fade_in=how["fade_in"],
        fade_out=how["fade_out"],
        first=first - _at(start, rate),
        count=count,
    )
    return stretch * np.float32(10 ** (how["gain_db"] / 20))


def _npy_header(file: BinaryIO, shape: tuple[int, ...]) -> None:
    """The header :func:`numpy.save` writes for a float32 array of ``shape``."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
    np.lib.format.write_array_header_1_0(file, header | {"shape": shape})


class _Samples:
    """A ``.npy`` file of ``(samples, channels)`` audio, read a stretch at a time.

    Read with plain file reads rather than ``np.load(mmap_mode=...)``: pages of a
    memory map stay resident as the master walks through a long scene, and would
    count in the step's memory.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        version = np.lib.format.read_magic(self._file)
        read = np.lib.format.read_array_header_1_0
        if version != (1, 0):
            read = np.lib.format.read_array_header_2_0
        self.shape, fortran, self._dtype = read(self._file)
        if fortran or len(self.shape) != 2:
            self._file.close()
            raise MediaError(f"{path.name}: not a (samples, channels) array")
        self._data = self._file.tell()

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop``."""
        row = self.shape[1] * self._dtype.itemsize
        self._file.seek(self._data + start * row)
        data = self._file.read((stop - start) * row)
        return np.frombuffer(data, dtype=self._dtype).reshape(-1, self.shape[1])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Samples:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the film's loudness and each scene's master ------------------------------


def film_gain(params: dict[str, Any], inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """The one gain that brings the film to its loudness target, from every scene's blocks.

    The gain is held to steps of ``GAIN_STEP`` dB: an edit that moves the
    film's loudness by a hundredth of a LU does not change the gain, so the
    scenes it did not touch are not mastered and encoded again.
    """
    powers = np.concatenate(
        [np.asarray(_read_json(inputs[f"levels{u}"])["blocks"]) for u in range(params["scenes"])]
    )
    before = loudness.gated_loudness(powers)
    gain = 0.0
    if before > loudness.FLOOR_LUFS:
        gain = round((params["loudness"] - before) / GAIN_STEP) * GAIN_STEP
    _write_json(out, {"gain_db": gain})
    return {"lufs_before": round(before, 2), "gain_db": gain}


def master_scene(params: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path]) -> dict:
    """A scene's mix at the film's gain, under the true-peak ceiling, encoded as AAC
    (``aac``: the frames back to back; ``frames``: their :class:`aac.Units` table).

    The mix is read, limited, measured and encoded ``BLOCK_SAMPLES`` at a
    time (the limiter reads a little of the mix either side of each block),
    so the memory it takes does not grow with the scene's length.
    """
    rate = params["rate"]
    own = _read_json(inputs["levels"])["samples"]
    gain = _read_json(inputs["gain"])["gain_db"]
    scale = np.float32(10 ** (gain / 20))
    powers = loudness.BlockPowers(rate)
    peak = loudness.TruePeak()
    adts = outputs["aac"].with_name(outputs["aac"].name + ".adts")
    with _Samples(inputs["audio"]) as mixed, aac.Encoder(rate, adts) as encoder:
        # A little headroom under the ceiling: AAC encoding adds a few tenths of a dB.
        for first, mastered in loudness.limited_blocks(
            lambda start, stop: mixed.read(start, stop) * scale,
            mixed.shape[0],
            rate,
            params["true_peak"] - 0.5,
            BLOCK_SAMPLES,
        ):
            encoder.write(mastered)
            mine = mastered[: max(0, own - first)]
            powers.feed(mine)
            peak.feed(mine)
    blocks, true_peak = powers.powers(), peak.result()
    _write_json(
        outputs["levels"], {"samples": own, "blocks": blocks.tolist(), "true_peak": true_peak}
    )
    # Kept without ADTS headers, with its frames' table: the cut lays the film's
    # sound out from the table, and the film takes the frames in whole ranges.
    outputs["frames"].write_text(aac.unwrap(adts, outputs["aac"]).dumps(), encoding="utf-8")
    adts.unlink()
    return {
        "gain_db": gain,
        "lufs": round(loudness.gated_loudness(blocks), 2),
        "true_peak_dbtp": round(true_peak, 2),
    }


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
