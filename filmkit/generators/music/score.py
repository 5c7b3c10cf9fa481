"""The composer: a style and a length become timed notes.

A piece is whole 4/4 bars with one chord per bar. Two progressions from the
mood's pool alternate in 4-bar phrases (A A B A); the last three bars are the
mode's cadence. Parts are written against that harmony: a bass in octave 2, a
voice-led accompaniment in octaves 3-4, a motif-based melody in octaves 4-5
whose strong beats land on chord tones, and optional drums. Everything random
comes from the one generator passed in, so a seed fixes the piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from filmkit.generators.music.patterns import (
    ACCENTS,
    BASS_RANGE,
    BASSLINES,
    CHORD_RANGE,
    CLOSINGS,
    FIGURES,
    MELODY_RANGE,
    OSTINATOS,
    RHYTHMS,
)
from filmkit.generators.music.theory import (
    CADENCE_RAISES_THIRD,
    CADENCES,
    Chord,
    Scale,
    nearest_pitch,
    voice_lead,
)
from filmkit.lazy import numpy as np


@dataclass(frozen=True)
class Style:
    """Everything that shapes a piece, resolved from a mood and the params."""

    scale: Scale
    mode: str
    tempo: float
    texture: str
    drums: bool
    swing: float
    progressions: tuple[tuple[int, ...], ...]
    sevenths: float
    density: str
    brightness: float
    wobble: float


class Note(NamedTuple):
    """One sound: start and gate in seconds, MIDI pitch (0 for drums), velocity, voice, pan."""

    time: float
    gate: float
    pitch: int
    velocity: float
    voice: str
    pan: float


@dataclass(frozen=True)
class Score:
    """A composed piece: its notes, chords, bar count, beat times and length."""

    notes: list[Note]
    chords: list[Chord]
    bars: int
    beats: list[float]
    duration: float


class Clock:
    """Maps beats to seconds: steady tempo, swung off-beats, a ritardando into the last bar."""

    def __init__(self, tempo: float, bars: int, swing: float = 0.0) -> None:
        count = 4 * bars
        stretch = np.ones(count)
        tail = min(6, count)
        stretch[-tail:] += 0.3 * (np.arange(1, tail + 1) / tail) ** 2
        self.lengths = 60.0 / tempo * stretch
        self.starts = np.concatenate([[0.0], np.cumsum(self.lengths)])
        self.swing = swing
        self.duration = float(self.starts[-1])

    def at(self, beat: float) -> float:
        """Seconds at ``beat`` (0 = start); off-beat 8ths are delayed by the swing."""
        if abs(beat % 1.0 - 0.5) < 1e-6:
            beat += self.swing / 6.0  # full swing puts the off-beat on the triplet
        index = min(int(beat), len(self.lengths) - 1)
        return float(self.starts[index] + (beat - index) * self.lengths[index])

    def span(self, beat: float, length: float) -> tuple[float, float]:
        """Start and duration in seconds of ``length`` beats from ``beat``."""
        start = self.at(beat)
        return start, self.at(beat + length) - start


def count_bars(tempo: float, duration: float) -> int:
    """The number of bars whose length (ritardando included) is closest to ``duration``."""
    estimate = max(1, round(duration * tempo / 240.0))
    candidates = range(max(1, estimate - 2), estimate + 3)
    return min(candidates, key=lambda n: (abs(Clock(tempo, n).duration - duration), n))


def plan_harmony(style: Style, bars: int, intro: int, rng: np.random.Generator) -> list[Chord]:
    """One chord per bar: progressions A A B A, closing on the mode's cadence.

    The ``intro`` bars play the opening chords of A, and the phrases proper
    start after them, in step with the melody.
    """
    pool = style.progressions
    first = int(rng.integers(len(pool)))
    others = [i for i in range(len(pool)) if i != first] or [first]
    second = others[int(rng.integers(len(others)))]
    progressions = [pool[first], pool[second]]
    # Sevenths are fixed per progression so that a repeated phrase repeats exactly.
    sevenths = [rng.random(len(p)) < style.sevenths for p in progressions]
    cadence = CADENCES[style.mode]
    raise_third = style.mode in CADENCE_RAISES_THIRD
    chords = []
    for bar in range(bars):
        position = bar - intro if bar >= intro else bar
        which = 1 if (position // 4) % 4 == 2 else 0
        progression = progressions[which]
        degree = progression[position % len(progression)]
        seventh = bool(sevenths[which][position % len(progression)])
        from_end = bars - bar
        if from_end <= 3:
            degree = cadence[3 - from_end]
            seventh = from_end == 2 and style.sevenths > 0.0
        raised = raise_third and from_end == 2
        chords.append(style.scale.chord(degree, 4 if seventh else 3, raise_third=raised))
    return chords


def shape(bars: int) -> np.ndarray:
    """Per-bar intensity: builds to a peak two thirds in, then settles."""
    x = np.arange(bars) / max(1, bars - 1)
    return np.interp(x, [0.0, 0.65, 1.0], [0.72, 1.0, 0.7])


def compose(style: Style, duration: float, rng: np.random.Generator) -> Score:
    """Write a piece of about ``duration`` seconds in ``style``."""
    bars = count_bars(style.tempo, duration)
    clock = Clock(style.tempo, bars, style.swing)
    intro = 2 if bars >= 8 else (1 if bars >= 5 else 0)
    chords = plan_harmony(style, bars, intro, rng)
    levels = shape(bars)
    notes = write_bass(style, chords, clock, levels, rng)
    notes += write_accompaniment(style, chords, clock, levels, rng)
    notes += write_melody(style, chords, clock, levels, intro, rng)
    if style.drums:
        notes += write_drums(style, bars, clock, levels, intro, rng)
    notes = humanise(notes, rng)
    beats = [round(float(t), 6) for t in clock.starts[:-1]]
    return Score(notes, chords, bars, beats, clock.duration)


def write_bass(
    style: Style, chords: list[Chord], clock: Clock, levels: np.ndarray, rng: np.random.Generator
) -> list[Note]:
    """The bass line: roots, fifths and approach notes in octave 2."""
    voice = "piano" if style.texture == "piano" else "bass"
    figure = BASSLINES[style.texture][int(rng.integers(len(BASSLINES[style.texture])))]
    low, high = BASS_RANGE
    notes, previous = [], nearest_pitch(style.scale.tonic, 41, low, high)
    for bar, chord in enumerate(chords):
        root = nearest_pitch(chord.root, previous, low, high - 2)
        previous = root
        final = bar == len(chords) - 1
        for onset, length, role in ((0, 4, "root"),) if final else figure:
            pitch = root
            if role == "fifth":
                pitch = root + (chord.tones[2] - chord.root) % 12
            elif role == "octave":
                pitch = root + 12
            elif role == "approach":
                target = nearest_pitch(chords[bar + 1].root, root, low, high)
                pitch = target - 1 if target > root else target + 2
            start, gate = clock.span(4 * bar + onset, length)
            accent = 1.0 if onset in (0, 2) else 0.85
            notes.append(Note(start, gate * 0.95, pitch, 0.7 * accent * levels[bar], voice, 0.0))
    return notes


def write_accompaniment(
    style: Style, chords: list[Chord], clock: Clock, levels: np.ndarray, rng: np.random.Generator
) -> list[Note]:
    """The harmony part: broken chords, pads, an ostinato or music-box arpeggios."""
    notes: list[Note] = []
    voicing = None
    texture = style.texture
    figure = FIGURES[int(rng.integers(len(FIGURES)))]
    ostinato = OSTINATOS[int(rng.integers(len(OSTINATOS)))]
    slow = style.tempo < 90
    for bar, chord in enumerate(chords):
        voicing = voice_lead(chord, voicing, *CHORD_RANGE)
        extended = list(voicing) + [p + 12 for p in voicing]
        level = levels[bar]
        bar_start, bar_len = clock.span(4 * bar, 4)
        final = bar == len(chords) - 1
        if texture in ("pad", "pulse") or final:
            soft = 0.2 if texture == "pulse" and not final else 0.6  # pulse: a quiet halo
            for i, pitch in enumerate(voicing):
                voice = "pad" if texture in ("pad", "pulse") else _arp_voice(texture)
                shift = 12 if texture == "music_box" else 0
                onset = 0.06 * i if final and texture != "pad" else 0.0  # roll the last chord
                start, gate = clock.span(4 * bar + onset, 4 - onset)
                notes.append(
                    Note(start, gate + 0.05, pitch + shift, soft * level, voice, _spread(pitch))
                )
            if texture == "pad":
                # The top voice doubled an octave up, as strings divide: air over the chord.
                start, gate = clock.span(4 * bar, 4)
                top = voicing[-1] + 12
                notes.append(Note(start, gate + 0.05, top, 0.4 * level, "pad", _spread(top)))
            if final or texture == "pad":
                continue
        if texture == "piano":
            for slot, index in enumerate(figure):
                if index is None:
                    continue
                start = clock.at(4 * bar + slot / 2)
                accent = 0.48 if slot % 2 == 0 else 0.38
                gate = bar_start + bar_len - start + 0.08  # the pedal holds until the bar ends
                notes.append(
                    Note(
                        start,
                        gate,
                        extended[index],
                        accent * level,
                        "piano",
                        _spread(extended[index]),
                    )
                )
        elif texture == "pulse":
            step = 0.25 if slow else 0.5
            for i in range(int(4 / step)):
                index = ostinato[i % len(ostinato)]
                accent = 0.8 if ACCENTS[i % len(ACCENTS)] else 0.55
                start, gate = clock.span(4 * bar + i * step, step * 0.8)
                notes.append(Note(start, gate, extended[index], accent * level, "pluck", -0.3))
        elif texture == "music_box":
            step = 0.5 if slow else 1.0
            for i in range(int(4 / step)):
                index = (0, 1, 2, 3, 2, 1, 2, 1)[i]
                start, gate = clock.span(4 * bar + i * step, step)
                accent = 0.55 if i == 0 else 0.4
                notes.append(
                    Note(
                        start,
                        gate,
                        extended[index] + 12,
                        accent * level,
                        "bell",
                        _spread(extended[index]),
                    )
                )
    return notes


def _arp_voice(texture: str) -> str:
    """The voice that plays a texture's final chord."""
    return {"piano": "piano", "music_box": "bell"}.get(texture, "pad")


def _spread(pitch: int) -> float:
    """Pan by register, low notes a little left and high a little right, as on a stage."""
    return float(np.interp(pitch, [48, 84], [-0.5, 0.5]))


def write_melody(
    style: Style,
    chords: list[Chord],
    clock: Clock,
    levels: np.ndarray,
    intro: int,
    rng: np.random.Generator,
) -> list[Note]:
    """A motif-based melody in 4-bar phrases (A A B A) that ends on the tonic."""
    bars = len(chords)
    scale = style.scale
    voice = {"piano": "piano", "pad": "lead", "pulse": "lead", "music_box": "bell"}[style.texture]
    # The music box plays an octave up, where real ones sing; its line is
    # written a fourth lower so that it does not end up shrill.
    shift = 12 if style.texture == "music_box" else 0
    low, high = MELODY_RANGE if not shift else (MELODY_RANGE[0] - 4, MELODY_RANGE[1] - 7)
    density = style.density
    phrases = [_phrase(density, rng), _phrase(density, rng)]
    start_step = scale.nearest_chord_step(4, chords[min(intro, bars - 1)])
    notes: list[Note] = []
    step = start_step
    for bar in range(intro, bars - 1):
        position = (bar - intro) % 4
        phrase = phrases[1] if ((bar - intro) // 4) % 4 == 2 else phrases[0]
        if position == 0:
            step = start_step  # a repeated phrase starts where it started before
        rhythm, moves = phrase[position]
        chord = chords[bar]
        for (onset, length), move in zip(rhythm, moves, strict=True):
            previous = step
            step += move
            pitch = scale.pitch(step, chord)
            # Elastic register: wandering too far pulls the line back.
            if pitch > high - 3:
                step -= 3 + abs(move)
            elif pitch < low + 2:
                step += 3 + abs(move)
            strong = onset % 2 == 0 or length >= 1.5
            if strong:
                step = _land(scale, chord, step, previous)
            pitch = scale.pitch(step, chord)
            start, gate = clock.span(4 * bar + onset, length)
            velocity = (0.82 if onset % 2 == 0 else 0.72) * levels[bar]
            notes.append(Note(start, gate * 0.92, pitch + shift, velocity, voice, 0.12))
    if bars > 1:
        final = chords[-1]
        roots = [s for s in range(step - 6, step + 7) if scale.pitch(s, final) % 12 == final.root]
        step = min(roots, key=lambda s: (abs(s - step), s))
        start, gate = clock.span(4 * (bars - 1), 4)
        notes.append(
            Note(start, gate * 0.9, scale.pitch(step, final) + shift, 0.7 * levels[-1], voice, 0.12)
        )
    return notes


def _land(scale: Scale, chord: Chord, step: int, previous: int) -> int:
    """The chord tone next to ``step`` (above or below) that the line reaches most smoothly.

    A repeated note counts as a move of two steps, so the line prefers to keep
    moving by step but would rather repeat than leap.
    """
    below = next(s for s in range(step, step - 8, -1) if scale.is_chord_step(s, chord))
    above = next(s for s in range(step, step + 8) if scale.is_chord_step(s, chord))
    return min((below, above), key=lambda s: (abs(s - previous) + 2 * (s == previous), s))


def _phrase(density: str, rng: np.random.Generator) -> list[tuple[tuple, list[int]]]:
    """Four bars of (rhythm, scale-step moves): motif, answer, varied motif, closing."""
    pool = RHYTHMS[density]
    motif = [pool[int(rng.integers(len(pool)))] for _ in range(2)]
    closing = CLOSINGS[int(rng.integers(len(CLOSINGS)))]
    # Mostly steps, some thirds, the odd leap: the proportions of sung melodies.
    choices = np.array([-3, -2, -1, 0, 1, 2, 3])
    weights = np.array([0.04, 0.13, 0.31, 0.04, 0.31, 0.13, 0.04])

    def moves(rhythm) -> list[int]:
        return [int(m) for m in rng.choice(choices, size=len(rhythm), p=weights)]

    first, answer = moves(motif[0]), moves(motif[1])
    varied = [-m for m in first]  # the motif's rhythm again, its contour turned over
    return [(motif[0], first), (motif[1], answer), (motif[0], varied), (closing, moves(closing))]


def write_drums(
    style: Style,
    bars: int,
    clock: Clock,
    levels: np.ndarray,
    intro: int,
    rng: np.random.Generator,
) -> list[Note]:
    """Drums: a driving kit for the pulse texture, brushed and quiet for the others."""
    driving = style.texture == "pulse"
    sixteenths = driving and style.tempo < 90
    push = rng.random() < 0.5  # an extra kick on the "and" of 3
    notes: list[Note] = []

    def hit(beat: float, voice: str, velocity: float, pan: float) -> None:
        notes.append(Note(clock.at(beat), 0.0, 0, velocity * levels[beat_bar(beat)], voice, pan))

    def beat_bar(beat: float) -> int:
        return min(bars - 1, int(beat // 4))

    weight = 1.0 if driving else 0.55
    for bar in range(intro, bars - 1):
        b = 4 * bar
        hit(b, "kick", 0.9 * weight, 0.0)
        hit(b + 2, "kick", 0.8 * weight, 0.0)
        if push:
            hit(b + 2.5, "kick", 0.6 * weight, 0.0)
        for beat in (1, 3):
            hit(b + beat, "snare", (0.7 if driving else 0.35) * weight, -0.08)
        step = 0.25 if sixteenths else 0.5
        for i in range(int(4 / step)):
            on_beat = (i * step) % 1 == 0
            hit(b + i * step, "hat", (0.5 if on_beat else 0.32) * weight, 0.3)
        if (bar - intro) % 4 == 3:  # a small fill into the next phrase
            hit(b + 3.5, "snare", 0.45 * weight, -0.08)
            hit(b + 3.75, "snare", 0.55 * weight, -0.08)
            hit(b + 3.5, "open_hat", 0.4 * weight, 0.3)
    if bars > 1:
        hit(4 * (bars - 1), "kick", 0.7 * weight, 0.0)
    return notes


def humanise(notes: list[Note], rng: np.random.Generator) -> list[Note]:
    """Nudge timing by a few milliseconds and velocity by a few percent, as players do."""
    count = len(notes)
    nudges = np.clip(rng.normal(0.0, 0.006, count), -0.018, 0.018)
    scales = np.clip(rng.normal(1.0, 0.06, count), 0.8, 1.2)
    return [
        note._replace(
            time=max(0.0, note.time + float(d)), velocity=float(min(1.0, note.velocity * s))
        )
        for note, d, s in zip(notes, nudges, scales, strict=True)
    ]
