"""The figures parts are built from: melody rhythms, broken chords, ostinatos, bass lines.

Beats are quarter notes from the start of a bar (4/4); pitch ranges are MIDI
note numbers (36 = C2, 60 = C4).
"""

from __future__ import annotations

# Melody rhythms for one bar: (onset beat, length in beats) per note.
RHYTHMS: dict[str, list[tuple[tuple[float, float], ...]]] = {
    "sparse": [
        ((0, 3),),
        ((0, 2), (2, 2)),
        ((0, 1.5), (1.5, 2.5)),
        ((1, 3),),
        ((0, 1), (1, 3)),
    ],
    "medium": [
        ((0, 1), (1, 1), (2, 2)),
        ((0, 1.5), (1.5, 0.5), (2, 2)),
        ((0, 0.5), (0.5, 0.5), (1, 1), (2, 2)),
        ((0, 2), (2, 1), (3, 1)),
        ((0.5, 0.5), (1, 1), (2, 1), (3, 1)),
        ((0, 1), (1, 0.5), (1.5, 2.5)),
    ],
    "busy": [
        ((0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)),
        ((0, 0.75), (0.75, 0.25), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)),
        ((0, 0.5), (0.5, 1), (1.5, 0.5), (2, 0.5), (2.5, 1.5)),
        ((0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 0.5), (3.5, 0.5)),
    ],
}
# The last bar of a phrase settles on a long note so the melody breathes.
CLOSINGS = [((0, 3),), ((0, 2),), ((0, 1), (1, 3))]
# Broken-chord figures on an 8th-note grid: indices into the voicing (extended
# an octave up), None = rest. Slot 0 is left to the bass.
FIGURES = [
    (None, 0, 1, 2, 3, 2, 1, 2),
    (None, 0, 2, 1, None, 0, 2, 1),
    (None, 1, 0, 2, None, 1, 0, 2),
    (None, 0, 1, 2, 3, 4, 3, 2),
]
# Repeated-note ostinatos for the pulse texture, and the 3+3+2 accent that drives them.
OSTINATOS = [(0, 1, 2, 1, 0, 1, 2, 1), (0, 2, 1, 2, 0, 2, 1, 3), (0, 0, 2, 0, 1, 0, 2, 1)]
ACCENTS = (1, 0, 0, 1, 0, 0, 1, 0)
# Bass figures per texture: (onset beat, length in beats, role).
BASSLINES: dict[str, list[tuple[tuple[float, float, str], ...]]] = {
    "piano": [
        ((0, 4, "root"),),
        ((0, 2, "root"), (2, 2, "fifth")),
        ((0, 3, "root"), (3, 1, "approach")),
    ],
    "pad": [((0, 4, "root"),), ((0, 3, "root"), (3, 1, "fifth"))],
    "pulse": [
        tuple((i / 2, 0.4, "root") for i in range(8)),
        tuple((i / 2, 0.4, "octave" if i in (3, 6) else "root") for i in range(8)),
        tuple((i / 2, 0.4, "approach" if i == 7 else "root") for i in range(8)),
    ],
    "music_box": [((0, 2, "root"), (2, 2, "fifth")), ((0, 3, "root"), (3, 1, "approach"))],
}
BASS_RANGE = (36, 50)
CHORD_RANGE = (50, 72)
MELODY_RANGE = (64, 86)
