"""The film's sound as AAC, encoded scene by scene and joined without re-encoding.

AAC codes audio in frames of 1024 samples. Each scene's mix is encoded on
its own (:func:`encode`), from its own first sample and a little past its
end, so the bytes depend on the scene alone and not on where the film puts
it. The cut then lays the scenes on the film's frame grid (:func:`film_sound`):
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

A master keeps its scene's frames without their ADTS headers (:func:`unwrap`),
back to back as an MP4 holds them, with a table of their sizes
(:class:`Units`): the cut lays the film's sound out from the tables alone, and
the film copies each second of sound across as one range.
"""

from __future__ import annotations

import array
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np
from filmkit.media import FeedingFfmpeg
from filmkit.render import mp4

FRAME = 1024
# ADTS sampling-frequency index -> samples a second.
RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
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


def frames(stream: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """Each frame of the ADTS stream ``stream`` reads on: its header (7 bytes, 9 with a
    CRC) and its payload.

    A frame's header holds its size, so each frame leads to the next; read from
    the first byte, sync-word look-alikes inside payloads are never mistaken for
    headers, and a stream of any length is read a frame at a time.
    """
    at = 0
    while header := stream.read(7):
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            what = "not an ADTS AAC stream" if at == 0 else "a damaged ADTS AAC stream"
            raise MediaError(f"{what}: no frame header at byte {at}")
        if not header[1] & 0x01:  # protection absent = 0: a CRC follows the header
            header += stream.read(2)
        size = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        payload = stream.read(size - len(header)) if size > len(header) else b""
        if size < len(header) or len(payload) != size - len(header):
            raise MediaError(f"a damaged ADTS AAC stream: the frame at byte {at} is cut short")
        yield header, payload
        at += size


def grid(starts: Sequence[int], total: int) -> list[int]:
    """How many AAC frames each scene contributes, from the scenes' first samples.

    Scene ``u`` begins at frame ``round(starts[u] / FRAME)`` and the sound ends
    at frame ``round(total / FRAME)``: each scene is off its picture by at most
    half a frame, and the offsets never add up.
    """
    edges = [round(s / FRAME) for s in starts] + [round(total / FRAME)]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


class Units(NamedTuple):
    """A scene's AAC as the master stores it: its frames' payloads back to back (no
    ADTS headers, which an MP4 does not keep), their sizes, and the decoder's config.

    Where each frame lies follows from the sizes, so the cut lays a scene's sound
    out without reading the sound itself.
    """

    sizes: np.ndarray
    config: bytes  # the AudioSpecificConfig an MP4 track needs
    rate: int
    channels: int

    def dumps(self) -> str:
        value = {
            "config": self.config.hex(),
            "rate": self.rate,
            "channels": self.channels,
            "sizes": self.sizes.tolist(),
        }
        return json.dumps(value, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Units:
        value = json.loads(text)
        sizes = np.asarray(value["sizes"], dtype=np.int64)
        return cls(sizes, bytes.fromhex(value["config"]), value["rate"], value["channels"])


def unwrap(adts: Path, out: Path) -> Units:
    """Write the payloads of the ADTS stream at ``adts`` back to back at ``out``; their table.

    Every frame must be one AAC block, and all share one rate and layout (as an
    encode by :class:`Encoder` does). Read and written a frame at a time.
    """
    sizes = array.array("q")
    first = b""
    with adts.open("rb") as stream, out.open("wb") as sink:
        try:
            for header, payload in frames(stream):
                if header[6] & 0x03:
                    raise MediaError("ADTS frames of several AAC blocks")
                if not first:
                    first = header
                elif header[2] != first[2] or (header[3] ^ first[3]) & 0xC0:
                    raise MediaError("ADTS frames of several rates or layouts")
                sink.write(payload)
                sizes.append(len(payload))
        except MediaError as error:
            raise MediaError(f"{adts.name}: {error}") from None
    if not first:
        raise MediaError(f"{adts.name}: no AAC frames")
    profile, rate_index = first[2] >> 6, (first[2] >> 2) & 0x0F
    if rate_index >= len(RATES):
        raise MediaError(f"{adts.name}: an ADTS sampling rate index of {rate_index}")
    channels = ((first[2] & 0x01) << 2) | (first[3] >> 6)
    specific = ((profile + 1) << 11) | (rate_index << 7) | (channels << 3)
    return Units(np.asarray(sizes), specific.to_bytes(2, "big"), RATES[rate_index], channels)


def film_sound(
    sections: Sequence[tuple[Path, Units]], starts: Sequence[int], total: int
) -> mp4.Sound:
    """The scenes' sound (each its raw frames and their :class:`Units`) laid on the film's
    frame grid, as the film's sound track.

    Scene ``u`` gives the frames after its priming frame that :func:`grid`
    allots it; nothing is read or copied here, the track says where those frames are.
    """
    sources, offsets, sizes = [], [], []
    config = None
    counts = grid(starts, total)
    for number, ((path, units), count) in enumerate(zip(sections, counts, strict=True)):
        if len(units.sizes) < count + 1:
            raise MediaError(
                f"{path.name}: {len(units.sizes)} AAC frames, the cut needs {count + 1}"
            )
        if config is None:
            config = units
        elif (units.config, units.rate, units.channels) != config[1:]:
            raise MediaError(f"{path.name}: AAC of another rate or layout than the film's")
        at = np.cumsum(units.sizes) - units.sizes
        sources.append(np.full(count, number, dtype=np.int64))
        offsets.append(at[1 : count + 1])  # frame 0 is the priming
        sizes.append(units.sizes[1 : count + 1])
    if config is None or not sum(counts):
        raise MediaError("the film has no sound")
    samples = mp4.Samples(
        paths=tuple(path for path, _ in sections),
        source=np.concatenate(sources),
        offset=np.concatenate(offsets),
        size=np.concatenate(sizes),
        delta=np.full(sum(len(s) for s in sizes), FRAME, dtype=np.int64),
        timescale=config.rate,
    )
    return mp4.Sound(samples, config.config, config.rate, config.channels)
