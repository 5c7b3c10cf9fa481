"""The film's sound as AAC, encoded scene by scene and joined without re-encoding.

AAC codes audio in frames of 1024 samples. Each scene's mix is encoded on
its own (:func:`encode`), from its own first sample and a little past its
end, so the bytes depend on the scene alone and not on where the film puts
it. The cut then lays the scenes on the film's frame grid (:func:`stitch`):
scene ``u`` starting at sample ``B`` begins at frame ``round(B / 1024)`` and
contributes as many frames as reach the next scene's grid position.

So every scene's sound sits within half an AAC frame (about 11 ms at 48 kHz,
a quarter of a picture frame at 24 fps) of its picture, the error never
accumulates over a film, and a scene that did not change is never encoded
again, however much the scenes before it grew or shrank. At a scene
boundary, sound that runs across it may skip or repeat up to one AAC frame,
blended by the decoder's own overlap.

The encoder's first frame of every scene is its priming frame (the
encoder's delay); it is dropped, so the decoded sound starts on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np
from filmkit.media import FeedingFfmpeg

FRAME = 1024
BITRATE = "192k"
# :func:`encode` hands ffmpeg this many samples at a time, the pump up to AHEAD blocks behind.
PIPE_SAMPLES = 2**16
AHEAD = 2


def window(samples: int) -> int:
    """Samples a scene's mix covers: its own, plus enough to fill its last grid frames."""
    return (-(-samples // FRAME) + 2) * FRAME


def encode(audio: np.ndarray, rate: int, out: Path, bitrate: str = BITRATE) -> None:
    """Encode float stereo ``audio`` as an ADTS AAC stream (one self-delimited frame each)."""
    with Encoder(rate, out, bitrate) as encoder:
        for start in range(0, audio.shape[0], PIPE_SAMPLES):
            encoder.write(audio[start : start + PIPE_SAMPLES])


class Encoder(FeedingFfmpeg):
    """An ADTS AAC encode fed float stereo audio a block at a time, through ffmpeg's stdin.

    The bytes are those of :func:`encode` on all the blocks at once: ffmpeg
    reads the samples as one stream however they are split. ffmpeg encodes
    one block while the caller makes the next (up to ``AHEAD`` behind).
    """

    def __init__(self, rate: int, out: Path, bitrate: str = BITRATE) -> None:
        args = ["-nostdin", "-f", "f32le", "-ar", str(rate), "-ac", "2", "-i", "pipe:0"]
        # ffmpeg's fast AAC search: a third of the default's time at this bitrate.
        args += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", bitrate, "-f", "adts"]
        super().__init__(args, out, ahead=AHEAD, taking="audio")

    def write(self, audio: np.ndarray) -> None:
        """Queue the next ``(samples, 2)`` float samples (copied) for ffmpeg."""
        self._put(np.array(audio, dtype="<f4", order="C"))


def frames(data: bytes) -> list[bytes]:
    """The frames of an ADTS stream, each with its header."""
    found = []
    at = 0
    while at < len(data):
        header = data[at : at + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            raise MediaError(f"not an ADTS AAC stream at byte {at}")
        size = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if size < 7:
            raise MediaError(f"damaged ADTS frame at byte {at}")
        found.append(data[at : at + size])
        at += size
    return found


def grid(starts: Sequence[int], total: int) -> list[int]:
    """How many AAC frames each scene contributes, from the scenes' first samples.

    Scene ``u`` begins at frame ``round(starts[u] / FRAME)`` and the sound ends
    at frame ``round(total / FRAME)``: each scene is off its picture by at most
    half a frame, and the offsets never add up.
    """
    edges = [round(s / FRAME) for s in starts] + [round(total / FRAME)]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def stitch(sections: Sequence[Path], starts: Sequence[int], total: int, out: Path) -> int:
    """Join the scenes' ADTS streams on the film's frame grid; the frames written."""
    written = 0
    with out.open("wb") as sink:
        for path, count in zip(sections, grid(starts, total), strict=True):
            encoded = frames(path.read_bytes())
            if len(encoded) < count + 1:
                raise MediaError(
                    f"{path.name}: {len(encoded)} AAC frames, the cut needs {count + 1}"
                )
            sink.write(b"".join(encoded[1 : count + 1]))  # frame 0 is the encoder's priming
            written += count
    return written
