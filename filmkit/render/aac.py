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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def frame_table(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where each frame of an ADTS stream starts, and its size with its header.

    A frame's header holds its size, so the frames are found by hopping from
    one to the next. numpy reads a size at every place a header could start
    and links each to the place it leads to. The frames are then the places
    some link leads to (and the first): when those hop one to the next from
    the first byte to the last, they are the chain, found without a loop; a
    look-alike header inside a frame that another look-alike leads to breaks
    that, and the hops are followed one by one.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    places = np.flatnonzero((raw[:-6] == 0xFF) & ((raw[1:-5] & 0xF0) == 0xF0))
    fields = raw[places[:, None] + np.arange(3, 6)].astype(np.int64)
    sizes = ((fields[:, 0] & 0x03) << 11) | (fields[:, 1] << 3) | (fields[:, 2] >> 5)
    ends = places + sizes
    following = np.minimum(np.searchsorted(places, ends), max(len(places) - 1, 0))
    linked = (sizes >= 7) & (places[following] == ends)
    if len(places) and places[0] == 0:
        reached = np.zeros(len(places), dtype=bool)
        reached[0] = True
        reached[following[linked]] = True
        chain = np.flatnonzero(reached)
        if (
            linked[chain[:-1]].all()
            and np.array_equal(following[chain[:-1]], chain[1:])
            and ends[chain[-1]] == len(data)
        ):
            return places[chain], sizes[chain]
    # -1: the last frame (it ends the data); -2: it leads nowhere.
    hop = np.where(linked, following, np.where(ends == len(data), -1, -2)).tolist()
    chain, at = [], 0 if len(places) and places[0] == 0 else -2
    while at >= 0:
        chain.append(at)
        at = hop[at]
    if at == -2:
        where = int(places[chain[-1]] if chain else 0)
        raise MediaError(f"not an ADTS AAC stream, or a damaged one, at byte {where}")
    return places[chain], sizes[chain]


def grid(starts: Sequence[int], total: int) -> list[int]:
    """How many AAC frames each scene contributes, from the scenes' first samples.

    Scene ``u`` begins at frame ``round(starts[u] / FRAME)`` and the sound ends
    at frame ``round(total / FRAME)``: each scene is off its picture by at most
    half a frame, and the offsets never add up.
    """
    edges = [round(s / FRAME) for s in starts] + [round(total / FRAME)]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def film_sound(sections: Sequence[Path], starts: Sequence[int], total: int) -> mp4.Sound:
    """The scenes' ADTS streams laid on the film's frame grid, as the film's sound track.

    Scene ``u`` gives the frames after its priming frame that :func:`grid`
    allots it; nothing is copied here, the track says where those frames are.
    """
    sources, offsets, sizes = [], [], []
    config = None
    for number, (path, count) in enumerate(zip(sections, grid(starts, total), strict=True)):
        data = path.read_bytes()
        first, size = frame_table(data)
        if first.shape[0] < count + 1:
            raise MediaError(f"{path.name}: {first.shape[0]} AAC frames, the cut needs {count + 1}")
        first, size = first[1 : count + 1], size[1 : count + 1]  # frame 0 is the priming
        if count:
            header = data[int(first[0]) : int(first[0]) + 7]
            if config is None:
                config = header
            elif (header[2], header[3] & 0xC0) != (config[2], config[3] & 0xC0):
                raise MediaError(f"{path.name}: AAC of another rate or layout than the film's")
        protected = np.frombuffer(data, dtype=np.uint8)[first + 1] & 1 == 0
        blocks = np.frombuffer(data, dtype=np.uint8)[first + 6] & 0x03
        if blocks.any():
            raise MediaError(f"{path.name}: ADTS frames of several AAC blocks")
        header = 7 + 2 * protected.astype(np.int64)  # a CRC follows the header
        sources.append(np.full(count, number, dtype=np.int64))
        offsets.append(first + header)
        sizes.append(size - header)
    if config is None:
        raise MediaError("the film has no sound")
    profile, rate_index = config[2] >> 6, (config[2] >> 2) & 0x0F
    channels = ((config[2] & 0x01) << 2) | (config[3] >> 6)
    specific = ((profile + 1) << 11) | (rate_index << 7) | (channels << 3)
    if rate_index >= len(RATES):
        raise MediaError(f"{sections[0].name}: an ADTS sampling rate index of {rate_index}")
    rate = RATES[rate_index]
    samples = mp4.Samples(
        paths=tuple(sections),
        source=np.concatenate(sources),
        offset=np.concatenate(offsets),
        size=np.concatenate(sizes),
        delta=np.full(sum(len(s) for s in sizes), FRAME, dtype=np.int64),
        timescale=rate,
    )
    return mp4.Sound(samples, specific.to_bytes(2, "big"), rate, channels)
