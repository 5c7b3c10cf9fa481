"""The music theory a score is written in: keys, modes, diatonic chords, voice leading.

Pitches are MIDI note numbers (60 = C4, 69 = A4 = 440 Hz); pitch classes are
0..11 with 0 = C. Melodies move in *scale steps*: step 0 is the tonic in
octave 4, step 7 the tonic an octave higher, step -1 the note below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

MODES: dict[str, tuple[int, ...]] = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
ALIASES = {"major": "ionian", "minor": "aeolian"}

# The last three chords (as scale degrees, 0 = tonic) that close a piece in
# each mode: its characteristic predominant -> cadence -> tonic. Aeolian's
# dominant gets a raised third (see CADENCE_RAISES_THIRD) so it pulls home.
CADENCES: dict[str, tuple[int, int, int]] = {
    "ionian": (3, 4, 0),
    "dorian": (1, 3, 0),
    "phrygian": (6, 1, 0),
    "lydian": (5, 1, 0),
    "mixolydian": (3, 6, 0),
    "aeolian": (3, 4, 0),
    "locrian": (5, 1, 0),
    "harmonic_minor": (3, 4, 0),
}
CADENCE_RAISES_THIRD = {"aeolian"}


def mode_name(mode: str) -> str:
    """Canonical name of a mode, resolving 'major' and 'minor'."""
    return ALIASES.get(mode, mode)


def pitch_class(key: str) -> int:
    """Pitch class of a key name such as 'D', 'F#' or 'Bb'."""
    pc = LETTERS[key[0].upper()]
    for accidental in key[1:]:
        pc += 1 if accidental == "#" else -1
    return pc % 12


@dataclass(frozen=True)
class Chord:
    """A chord: its scale degree, root pitch class and pitch classes (root first)."""

    degree: int
    root: int
    tones: tuple[int, ...]


@dataclass(frozen=True)
class Scale:
    """A tonic pitch class and the seven intervals of a mode."""

    tonic: int
    intervals: tuple[int, ...]

    @property
    def classes(self) -> frozenset[int]:
        """The seven pitch classes of the scale."""
        return frozenset((self.tonic + i) % 12 for i in self.intervals)

    def pitch(self, step: int, chord: Chord | None = None) -> int:
        """MIDI pitch of a scale step; alterations in ``chord`` win over the scale."""
        octave, index = divmod(step, 7)
        midi = 60 + self.tonic + 12 * octave + self.intervals[index]
        if chord is not None and midi % 12 not in chord.tones:
            # A chromatic chord tone a semitone away replaces the scale note,
            # so a melody over a raised dominant uses the leading tone.
            for shift in (1, -1):
                pc = (midi + shift) % 12
                if pc in chord.tones and pc not in self.classes:
                    return midi + shift
        return midi

    def chord(self, degree: int, size: int = 3, raise_third: bool = False) -> Chord:
        """The diatonic chord built in thirds on ``degree`` (triad or seventh)."""
        tones = [(self.tonic + self.intervals[(degree + 2 * i) % 7]) % 12 for i in range(size)]
        if raise_third:
            tones[1] = (tones[1] + 1) % 12
        return Chord(degree % 7, tones[0], tuple(tones))

    def is_chord_step(self, step: int, chord: Chord) -> bool:
        """Whether a scale step belongs to ``chord``."""
        return self.pitch(step, chord) % 12 in chord.tones

    def nearest_chord_step(self, step: int, chord: Chord) -> int:
        """The chord step closest to ``step``, the higher one on a tie."""
        for distance in range(7):
            for candidate in (step + distance, step - distance):
                if self.is_chord_step(candidate, chord):
                    return candidate
        return step


def nearest_pitch(pc: int, target: float, low: int, high: int) -> int:
    """The MIDI pitch of class ``pc`` in [low, high] closest to ``target``."""
    candidates = [p for p in range(low, high + 1) if p % 12 == pc]
    return min(candidates, key=lambda p: (abs(p - target), p))


def voice_lead(
    chord: Chord, previous: tuple[int, ...] | None, low: int, high: int
) -> tuple[int, ...]:
    """A close voicing of ``chord`` in [low, high] that moves least from ``previous``."""
    options = [[p for p in range(low, high + 1) if p % 12 == pc] for pc in chord.tones]
    centre = (low + high) / 2
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in product(*options):
        notes = tuple(sorted(combo))
        span = notes[-1] - notes[0]
        if span > 16 or len(set(notes)) < len(notes):
            continue
        if previous:
            move = sum(min(abs(n - p) for p in previous) for n in notes)
            move += sum(min(abs(p - n) for n in notes) for p in previous)
        else:
            move = sum(abs(n - centre) for n in notes)
        # Seconds low in the register turn to mud; spread voicings sound thin.
        mud = sum(3.0 for a, b in zip(notes, notes[1:], strict=False) if b - a < 3 and a < 57)
        cost = move + mud + 0.2 * max(0, span - 12)
        if best is None or (cost, notes) < best:
            best = (cost, notes)
    if best is None:
        root = nearest_pitch(chord.root, centre, low, high)
        return tuple(sorted(nearest_pitch(pc, root + 4, low, high + 12) for pc in chord.tones))
    return best[1]
