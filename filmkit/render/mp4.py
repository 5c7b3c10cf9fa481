"""MP4 files as sample tables: how the cut joins encoded picture and sound without ffmpeg.

An MP4 keeps its coded samples (pictures, AAC frames) in an ``mdat`` box and,
in ``moov``, tables that say where each sample lies, how long it lasts and
which pictures are keyframes. Everything the cut joins is encoded already, so
the film is those tables concatenated (numpy, whatever the film's length) and
the samples' bytes copied across in large ranges. ffmpeg's muxer does the same
one packet at a time, which for a feature-length film is most of an edit's
rebuild. The file written has its ``moov`` first (it plays while it downloads)
and the picture and sound interleaved about once a second.

:func:`read_video` takes the video track of a file ffmpeg wrote (a reel);
:class:`Samples` describes a track to write, as rows of (source file, offset,
size, duration); :func:`lay_out_movie` turns the tracks into a :class:`Movie`
(the header and the byte ranges to copy after it), which the cut stores and
:func:`write_laid_out` writes where the film is published. Only what the cut
needs is covered: one H.264 and one AAC track, plain edit lists.
"""

from __future__ import annotations

import array
import hashlib
import json
import mmap
import os
import queue
import struct
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np

MOVIE_TIMESCALE = 1000
# Picture and sound alternate in chunks of about this many seconds.
CHUNK_SECONDS = 1.0
_UNITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # the identity matrix
_LANGUAGE = 0x55C4  # "und", ISO 639-2/T packed in three 5-bit letters
# Past this many bytes of samples, chunk offsets take 64 bits (co64) and mdat a large size.
WIDE_FROM = 0xFFFF_FFFF - 2**20
_TAG_KEYS = {"title": b"\xa9nam", "comment": b"\xa9cmt", "encoder": b"\xa9too"}


@dataclass(frozen=True)
class Samples:
    """One track's samples, in decode order, and where their bytes are.

    ``source`` indexes ``paths``; ``offset`` and ``size`` locate each sample
    in its file; ``delta`` is its duration in ``timescale`` units.
    ``composition`` (picture minus decode time) and ``sync`` (keyframes) are
    for video; sound leaves them empty (every AAC frame stands alone).
    """

    paths: tuple[Path, ...]
    source: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    delta: np.ndarray
    timescale: int
    composition: np.ndarray | None = None
    sync: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.size.shape[0])

    @property
    def duration(self) -> int:
        """The track's length in its own timescale."""
        return int(self.delta.sum())


@dataclass(frozen=True)
class Video:
    """The H.264 track of one file: its samples and the settings a join must share."""

    samples: Samples
    width: int
    height: int
    config: bytes  # the avcC box: profile, level, SPS and PPS
    media_time: int  # where the edit list starts the track (the decoder's delay)


@dataclass(frozen=True)
class Sound:
    """An AAC track: its samples (raw frames, no ADTS headers) and decoder config."""

    samples: Samples
    config: bytes  # the AudioSpecificConfig
    rate: int
    channels: int


def read_video(path: Path) -> Video:
    """The H.264 track of the MP4 at ``path``, from its ``moov`` alone."""
    moov = _read_box(path, b"moov")
    for trak in _children(moov, b"trak"):
        mdia = _child(trak, b"mdia")
        if _child(mdia, b"hdlr")[8:12] == b"vide":
            return _video_track(path, trak, mdia)
    raise MediaError(f"{path.name}: no video track")


def join_videos(videos: Sequence[Video]) -> Video:
    """One track playing ``videos`` one after another (their samples are not copied).

    They must share codec settings and frame timing, which every segment the
    cut joins does: they were all encoded by the same writer. Their decoder
    delays may differ (a segment of a frame or two has no reordered frames):
    the joined track takes the longest, and shifts the others' pictures by
    the difference so every segment's first picture shows right after the
    last one of the segment before.
    """
    first = videos[0]
    shape = (first.config, first.width, first.height, first.samples.timescale)
    for other in videos[1:]:
        if (other.config, other.width, other.height, other.samples.timescale) != shape:
            raise MediaError(
                f"{other.samples.paths[0].name} was encoded with other settings than "
                f"{first.samples.paths[0].name} and cannot be joined to it by copy"
            )
    delay = max(video.media_time for video in videos)
    parts = [video.samples for video in videos]
    counts = np.cumsum([0] + [len(part.paths) for part in parts])
    samples = Samples(
        paths=tuple(path for part in parts for path in part.paths),
        source=np.concatenate([part.source + at for part, at in zip(parts, counts, strict=False)]),
        offset=np.concatenate([part.offset for part in parts]),
        size=np.concatenate([part.size for part in parts]),
        delta=np.concatenate([part.delta for part in parts]),
        timescale=first.samples.timescale,
        composition=np.concatenate(
            [_or_zeros(v.samples.composition, v.samples) + delay - v.media_time for v in videos]
        ),
        sync=np.concatenate([_or_true(part.sync, part) for part in parts]),
    )
    return Video(samples, first.width, first.height, first.config, delay)


def write_movie(out: Path, video: Video, sound: Sound, tags: dict[str, str]) -> None:
    """Write ``video`` and ``sound`` as one MP4 at ``out``, ``moov`` first.

    ``tags`` (``title``, ``comment``, ``encoder``) go into the file's metadata.
    """
    lay_out_movie(video, sound, tags).write(out)


@dataclass(frozen=True)
class Movie:
    """An MP4 file before it is written: its header (``ftyp``, ``moov``, the ``mdat``
    header), then byte ranges of other files, one after another: range ``k`` is
    ``length[k]`` bytes at ``begin[k]`` of ``paths[source[k]]`` (a chunk of pictures
    or of AAC frames, each lying back to back in the file it comes from).

    A cut keeps this (a few dozen bytes a second of film, see :meth:`dumps`)
    rather than a copy of the film: the film is written once, where it is
    published, and writing it needs neither numpy nor ffmpeg.
    """

    header: bytes
    paths: tuple[Path, ...]
    source: Sequence[int]
    begin: Sequence[int]
    length: Sequence[int]

    def write(self, out: Path, sources: Mapping[str, Path] | None = None) -> str:
        """Write the file at ``out``; its sha256. ``sources`` gives the files that
        :attr:`paths` name (a layout read back by :meth:`loads` names them).

        Each source is mapped a few MiB at a time, the ranges are written many to a
        system call (``writev``), and a second thread hashes each batch once it is
        written: a handful of windows and batches are held, whatever the film's length.
        """
        found = sources or {}
        windows = _Windows([found.get(str(path), path) for path in self.paths])
        written: queue.Queue[list[memoryview] | None] = queue.Queue(_BATCHES_AHEAD)
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(_sha256_of, self.header, written)
            try:
                with out.open("wb", buffering=0) as sink:
                    _write_all(sink.fileno(), [memoryview(self.header)])
                    batch, size = [], 0
                    for source, begin, length in zip(
                        self.source, self.begin, self.length, strict=True
                    ):
                        batch.append(windows.view(source, begin, length))
                        size += length
                        if len(batch) == _BATCH_RANGES or size >= _BATCH_BYTES:
                            _write_all(sink.fileno(), batch)
                            written.put(batch)
                            batch, size = [], 0
                    _write_all(sink.fileno(), batch)
                    written.put(batch)
            finally:
                written.put(None)
                windows.close()
            return digest.result()

    def dumps(self, names: Mapping[Path, str]) -> bytes:
        """The layout as bytes, each source file under its name in ``names``."""
        head = {"header": len(self.header), "paths": [names[path] for path in self.paths]}
        head["ranges"] = len(self.begin)
        columns = [np.asarray(c, dtype="<i8") for c in (self.source, self.begin, self.length)]
        body = b"".join(column.tobytes() for column in columns)
        return _LAYOUT_MAGIC + json.dumps(head).encode() + b"\n" + self.header + body

    @classmethod
    def loads(cls, data: bytes) -> Movie:
        """A layout :meth:`dumps` wrote; its paths are the names given there."""
        if not data.startswith(_LAYOUT_MAGIC):
            raise MediaError("not a movie layout written by filmkit (or one of an older kind)")
        end = data.index(b"\n", len(_LAYOUT_MAGIC))
        head = json.loads(data[len(_LAYOUT_MAGIC) : end])
        at = end + 1
        header = data[at : at + head["header"]]
        count = head["ranges"]
        table = array.array("q", data[at + head["header"] : at + head["header"] + 24 * count])
        if sys.byteorder == "big":  # written little-endian
            table.byteswap()
        source, begin, length = (table[i * count : (i + 1) * count] for i in range(3))
        paths = tuple(Path(name) for name in head["paths"])
        return cls(header, paths, source, begin, length)


_LAYOUT_MAGIC = b"filmkit movie layout 2\n"


def write_laid_out(layout: Path, sources: Mapping[str, Path], out: Path) -> str:
    """The movie whose layout (:meth:`Movie.dumps`) is at ``layout``, written at ``out``
    from ``sources`` (the files its names stand for); the sha256 of what was written."""
    return Movie.loads(layout.read_bytes()).write(out, sources)


def lay_out_movie(video: Video, sound: Sound, tags: dict[str, str]) -> Movie:
    """Where everything in the MP4 of ``video`` and ``sound`` goes (see :func:`write_movie`)."""
    tracks = [video.samples, sound.samples]
    chunks = [_chunking(track) for track in tracks]
    order = _interleaving(tracks, chunks)
    chunk_bytes = [np.add.reduceat(t.size, c) for t, c in zip(tracks, chunks, strict=True)]
    data = sum(int(sizes.sum()) for sizes in chunk_bytes)
    wide = data > WIDE_FROM
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    if wide:  # size 1: the real size follows in 64 bits
        mdat_header = struct.pack(">I4sQ", 1, b"mdat", data + 16)
    else:
        mdat_header = struct.pack(">I4s", data + 8, b"mdat")

    def moov(offsets: list[np.ndarray]) -> bytes:
        traks = [
            _video_trak(video, chunks[0], offsets[0], wide),
            _sound_trak(sound, chunks[1], offsets[1], wide),
        ]
        return _box(b"moov", _mvhd(tracks) + b"".join(traks) + _udta(tags))

    # The moov's size does not depend on the offsets' values: size it, then fill them in.
    placeholder = [np.zeros(len(c), dtype=np.int64) for c in chunks]
    start = len(ftyp) + len(moov(placeholder)) + len(mdat_header)
    sizes = np.concatenate(chunk_bytes)[order]
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = start + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    offsets = [positions[: len(chunks[0])], positions[len(chunks[0]) :]]
    header = ftyp + moov(offsets) + mdat_header
    assert len(header) == start
    paths, source, begin, length = _ranges(tracks, chunks, order)
    return Movie(header, paths, source.tolist(), begin.tolist(), length.tolist())


def _or_zeros(values: np.ndarray | None, part: Samples) -> np.ndarray:
    return values if values is not None else np.zeros(len(part), dtype=np.int64)


def _or_true(values: np.ndarray | None, part: Samples) -> np.ndarray:
    return values if values is not None else np.ones(len(part), dtype=bool)


# -- reading -------------------------------------------------------------------


def _read_box(path: Path, wanted: bytes) -> bytes:
    """The payload of the top-level box ``wanted``, found by skipping the others."""
    with path.open("rb") as source:
        while header := source.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            skip = 8
            if size == 1:
                size = struct.unpack(">Q", source.read(8))[0]
                skip = 16
            if kind == wanted:
                if size == 0:
                    return source.read()
                return source.read(size - skip)
            if size == 0:
                break
            source.seek(size - skip, 1)
    raise MediaError(f"{path.name}: not an MP4 file (no {wanted.decode()} box)")


def _boxes(payload: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (type, payload) of each box inside ``payload``."""
    at = 0
    while at + 8 <= len(payload):
        size, kind = struct.unpack_from(">I4s", payload, at)
        skip = 8
        if size == 1:
            size = struct.unpack_from(">Q", payload, at + 8)[0]
            skip = 16
        elif size == 0:
            size = len(payload) - at
        if size < skip or at + size > len(payload):
            raise MediaError(f"damaged MP4 box {kind!r}")
        yield kind, payload[at + skip : at + size]
        at += size


def _children(payload: bytes, kind: bytes) -> list[bytes]:
    return [body for name, body in _boxes(payload) if name == kind]


def _child(payload: bytes, kind: bytes) -> bytes:
    found = _children(payload, kind)
    if not found:
        raise MediaError(f"MP4 box {kind.decode()} missing")
    return found[0]


def _table(body: bytes, dtype: str, count: int, offset: int) -> np.ndarray:
    return np.frombuffer(body, dtype=dtype, count=count, offset=offset).astype(np.int64)


def _pairs(body: bytes, signed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """An (entry count, then two 32-bit fields per entry) table of a full box."""
    count = struct.unpack_from(">I", body, 4)[0]
    raw = np.frombuffer(body, dtype=">u4", count=2 * count, offset=8).reshape(count, 2)
    second = raw[:, 1].astype(np.int64)
    if signed:
        second = raw[:, 1].view(">i4").astype(np.int64)
    return raw[:, 0].astype(np.int64), second


def _video_track(path: Path, trak: bytes, mdia: bytes) -> Video:
    mdhd = _child(mdia, b"mdhd")
    timescale = struct.unpack_from(">I", mdhd, 20 if mdhd[0] == 1 else 12)[0]
    stbl = _child(_child(mdia, b"minf"), b"stbl")
    tables = dict(_boxes(stbl))
    entry = _sample_entry(tables[b"stsd"])
    if entry[0] != b"avc1":
        raise MediaError(f"{path.name}: the picture is {entry[0].decode()}, not H.264 (avc1)")
    width, height = struct.unpack_from(">HH", entry[1], 24)
    config = next((body for kind, body in _boxes(entry[1][78:]) if kind == b"avcC"), None)
    if config is None:
        raise MediaError(f"{path.name}: the H.264 track has no avcC configuration")

    counts, deltas = _pairs(tables[b"stts"])
    delta = np.repeat(deltas, counts)
    total = delta.shape[0]
    size = _sample_sizes(tables[b"stsz"], total)
    composition = np.zeros(total, dtype=np.int64)
    if b"ctts" in tables:
        counts, shifts = _pairs(tables[b"ctts"], signed=True)
        composition = np.repeat(shifts, counts)
    sync = np.ones(total, dtype=bool)
    if b"stss" in tables:
        sync[:] = False
        count = struct.unpack_from(">I", tables[b"stss"], 4)[0]
        sync[_table(tables[b"stss"], ">u4", count, 8) - 1] = True
    offset = _sample_offsets(tables, size)
    if composition.shape[0] != total or offset.shape[0] != total:
        raise MediaError(f"{path.name}: its sample tables disagree")
    samples = Samples(
        paths=(path,),
        source=np.zeros(total, dtype=np.int64),
        offset=offset,
        size=size,
        delta=delta,
        timescale=timescale,
        composition=composition,
        sync=sync,
    )
    return Video(samples, width, height, config, _media_time(path, trak))


def _sample_entry(stsd: bytes) -> tuple[bytes, bytes]:
    """The (format, body) of the one sample description in ``stsd``."""
    if struct.unpack_from(">I", stsd, 4)[0] != 1:
        raise MediaError("an MP4 track with several sample descriptions")
    return next(_boxes(stsd[8:]))


def _sample_sizes(stsz: bytes, total: int) -> np.ndarray:
    constant, count = struct.unpack_from(">II", stsz, 4)
    if count != total:
        raise MediaError("MP4 sample sizes and durations disagree")
    if constant:
        return np.full(count, constant, dtype=np.int64)
    return _table(stsz, ">u4", count, 12)


def _sample_offsets(tables: dict[bytes, bytes], size: np.ndarray) -> np.ndarray:
    """Where each sample starts in the file, from the chunk offsets and samples-a-chunk."""
    if b"co64" in tables:
        count = struct.unpack_from(">I", tables[b"co64"], 4)[0]
        chunk_offset = _table(tables[b"co64"], ">u8", count, 8)
    else:
        count = struct.unpack_from(">I", tables[b"stco"], 4)[0]
        chunk_offset = _table(tables[b"stco"], ">u4", count, 8)
    stsc = tables[b"stsc"]
    entries = struct.unpack_from(">I", stsc, 4)[0]
    raw = _table(stsc, ">u4", 3 * entries, 8).reshape(entries, 3)
    firsts = np.append(raw[:, 0], count + 1)
    per_chunk = np.repeat(raw[:, 1], np.diff(firsts))
    if per_chunk.sum() != size.shape[0]:
        raise MediaError("MP4 chunk table does not cover every sample")
    chunk = np.repeat(np.arange(count), per_chunk)
    before = np.concatenate([[0], np.cumsum(size)[:-1]])  # bytes of all earlier samples
    chunk_first = np.concatenate([[0], np.cumsum(per_chunk)[:-1]])
    return chunk_offset[chunk] + before - before[chunk_first[chunk]]


def _media_time(path: Path, trak: bytes) -> int:
    """The edit list's start in media time: 0 without one."""
    edts = _children(trak, b"edts")
    if not edts:
        return 0
    elst = _child(edts[0], b"elst")
    version, count = elst[0], struct.unpack_from(">I", elst, 4)[0]
    form = ">Qq" if version == 1 else ">Ii"
    step = struct.calcsize(form) + 4
    starts = [struct.unpack_from(form, elst, 8 + i * step)[1] for i in range(count)]
    if len(starts) != 1 or starts[0] < 0:
        raise MediaError(f"{path.name}: an edit list the cut cannot join ({starts})")
    return starts[0]


# -- writing -------------------------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _chunking(track: Samples) -> np.ndarray:
    """Index of the first sample of each chunk: a new chunk every CHUNK_SECONDS and file."""
    if not len(track):
        return np.zeros(0, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(track.delta)[:-1]])
    window = start // max(1, round(track.timescale * CHUNK_SECONDS))
    change = (np.diff(window) != 0) | (np.diff(track.source) != 0)
    return np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)


def _interleaving(tracks: list[Samples], chunks: list[np.ndarray]) -> np.ndarray:
    """The order chunks go into the file: by start time, picture before sound."""
    times, which = [], []
    for number, (track, firsts) in enumerate(zip(tracks, chunks, strict=True)):
        start = np.concatenate([[0], np.cumsum(track.delta)[:-1]])
        times.append(start[firsts] / track.timescale)
        which.append(np.full(len(firsts), number))
    return np.lexsort((np.concatenate(which), np.concatenate(times)))


def _ranges(
    tracks: list[Samples], chunks: list[np.ndarray], order: np.ndarray
) -> tuple[tuple[Path, ...], np.ndarray, np.ndarray, np.ndarray]:
    """The byte ranges the file's samples are copied from, in ``order`` (indexes into
    all tracks' chunks): each chunk's samples, in as few ranges as lie back to back
    in their files (one, for picture and for AAC frames stored without headers)."""
    paths: list[Path] = []
    sources, begins, lengths, firsts_run, counts = [], [], [], [], []
    runs = 0
    for track, firsts in zip(tracks, chunks, strict=True):
        source, offset, size = (
            np.asarray(c, dtype=np.int64) for c in (track.source, track.offset, track.size)
        )
        starts = np.zeros(len(size), dtype=bool)
        starts[firsts] = True  # a range never spans two chunks
        starts[1:] |= (source[1:] != source[:-1]) | (offset[1:] != offset[:-1] + size[:-1])
        run_starts = np.flatnonzero(starts)
        sources.append(source[run_starts] + len(paths))
        begins.append(offset[run_starts])
        lengths.append(np.add.reduceat(size, run_starts) if len(run_starts) else size[:0])
        first_run = np.cumsum(starts)[firsts] - 1
        firsts_run.append(first_run + runs)
        counts.append(np.diff(np.append(first_run, len(run_starts))))
        paths += track.paths
        runs += len(run_starts)
    first, count = np.concatenate(firsts_run)[order], np.concatenate(counts)[order]
    picked = np.repeat(first, count) + _ramp(count)
    return (
        tuple(paths),
        np.concatenate(sources)[picked],
        np.concatenate(begins)[picked],
        np.concatenate(lengths)[picked],
    )


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n - 1 for each n in ``counts``, one after another."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _sha256_of(header: bytes, batches: queue.Queue[list[memoryview] | None]) -> str:
    """The sha256 of ``header`` and then of every batch of bytes queued, up to None."""
    digest = hashlib.sha256(header)
    while (batch := batches.get()) is not None:
        for view in batch:
            digest.update(view)
    return digest.hexdigest()


# The film is written in batches of up to this many ranges (a writev's limit is
# 1024) or bytes, at most this many written ahead of the hashing.
_BATCH_RANGES = 512
_BATCH_BYTES = 1 << 22
_BATCHES_AHEAD = 4
_WINDOW = 1 << 22  # bytes of a source mapped at a time


def _write_all(fd: int, views: list[memoryview]) -> None:
    """Write ``views`` one after another, as few system calls as the system allows."""
    views = list(views)  # the caller's views stay whole (they are hashed after)
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _BATCH_RANGES])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:  # part of a view went out
            views[first] = views[first][written:]


class _Windows:
    """A window of ``_WINDOW`` bytes or more, mapped (``mmap``), onto each of the few
    sources being read, moved on as the ranges asked for move on (the picture's and
    the sound's go forwards). A window is unmapped once no view of it is left."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = paths
        self.files = _OpenFiles()
        self.windows: OrderedDict[int, tuple[int, mmap.mmap]] = OrderedDict()

    def view(self, source: int, begin: int, length: int) -> memoryview:
        """``length`` bytes at ``begin`` of source ``source``."""
        start, mapped = self.windows.get(source, (0, None))
        if mapped is None or not start <= begin <= begin + length <= start + len(mapped):
            path = self.paths[source]
            fd = self.files.get(path).fileno()
            size = os.fstat(fd).st_size
            if begin + length > size:
                raise MediaError(f"{path.name} is shorter than its sample tables say")
            if not length:
                return memoryview(b"")
            start = begin - begin % mmap.ALLOCATIONGRANULARITY
            span = min(max(begin + length - start, _WINDOW), size - start)
            mapped = mmap.mmap(fd, span, offset=start, access=mmap.ACCESS_READ)
            self.windows[source] = (start, mapped)
            if len(self.windows) > _OpenFiles.LIMIT:
                self.windows.popitem(last=False)
        self.windows.move_to_end(source)
        return memoryview(mapped)[begin - start : begin - start + length]

    def close(self) -> None:
        self.files.close()
        self.windows.clear()


class _OpenFiles:
    """The few source files being read from, most recently used last."""

    LIMIT = 8  # the picture and the sound each read one file at a time

    def __init__(self) -> None:
        self.open: OrderedDict[Path, BinaryIO] = OrderedDict()

    def get(self, path: Path) -> BinaryIO:
        if path in self.open:
            self.open.move_to_end(path)
            return self.open[path]
        if len(self.open) >= self.LIMIT:
            self.open.popitem(last=False)[1].close()
        self.open[path] = path.open("rb")
        return self.open[path]

    def close(self) -> None:
        while self.open:
            self.open.popitem()[1].close()


def _in_movie_time(duration: int, timescale: int) -> int:
    return round(duration * MOVIE_TIMESCALE / timescale)


def _mvhd(tracks: list[Samples]) -> bytes:
    duration = max(_in_movie_time(track.duration, track.timescale) for track in tracks)
    payload = struct.pack(">QQIQ", 0, 0, MOVIE_TIMESCALE, duration)
    payload += struct.pack(">IH10x9I24xI", 0x10000, 0x100, *_UNITY, len(tracks) + 1)
    return _full(b"mvhd", 1, 0, payload)


def _tkhd(track_id: int, duration: int, volume: int, width: int, height: int) -> bytes:
    payload = struct.pack(">QQI4xQ8xhhh2x", 0, 0, track_id, duration, 0, 0, volume)
    payload += struct.pack(">9III", *_UNITY, width << 16, height << 16)
    return _full(b"tkhd", 1, 3, payload)  # enabled, in the movie


def _mdia(track: Samples, handler: bytes, name: bytes, header: bytes, stbl: bytes) -> bytes:
    mdhd = _full(b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, track.timescale, track.duration,
                                            _LANGUAGE, 0))  # fmt: skip
    hdlr = _full(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, handler) + name + b"\0")
    dref = _full(b"dref", 0, 0, struct.pack(">I", 1) + _full(b"url ", 0, 1, b""))
    minf = _box(b"minf", header + _box(b"dinf", dref) + stbl)
    return _box(b"mdia", mdhd + hdlr + minf)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoding: (count, value) of each run of equal values."""
    if not values.shape[0]:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(values)) + 1])
    counts = np.diff(np.append(starts, values.shape[0]))
    return counts, values[starts]


def _pair_table(kind: bytes, version: int, counts: np.ndarray, values: np.ndarray) -> bytes:
    rows = np.stack([counts, values], axis=1)
    body = struct.pack(">I", rows.shape[0]) + rows.astype(">i4" if version else ">u4").tobytes()
    return _full(kind, version, 0, body)


def _stbl(track: Samples, entry: bytes, firsts: np.ndarray, offsets: np.ndarray, wide: bool):
    total = len(track)
    boxes = [_full(b"stsd", 0, 0, struct.pack(">I", 1) + entry)]
    boxes.append(_pair_table(b"stts", 0, *_runs(track.delta)))
    if track.sync is not None and not track.sync.all():
        numbers = (np.flatnonzero(track.sync) + 1).astype(">u4")
        boxes.append(_full(b"stss", 0, 0, struct.pack(">I", numbers.shape[0]) + numbers.tobytes()))
    if track.composition is not None and track.composition.any():
        signed = int(track.composition.min() < 0)
        boxes.append(_pair_table(b"ctts", signed, *_runs(track.composition)))
    per_chunk = np.diff(np.append(firsts, total))
    counts, values = _runs(per_chunk)
    first_chunks = np.concatenate([[0], np.cumsum(counts)[:-1]]) + 1
    rows = np.stack([first_chunks, values, np.ones_like(values)], axis=1).astype(">u4")
    boxes.append(_full(b"stsc", 0, 0, struct.pack(">I", rows.shape[0]) + rows.tobytes()))
    sizes = track.size.astype(">u4").tobytes()
    boxes.append(_full(b"stsz", 0, 0, struct.pack(">II", 0, total) + sizes))
    table = offsets.astype(">u8" if wide else ">u4").tobytes()
    boxes.append(_full(b"co64" if wide else b"stco", 0, 0, struct.pack(">I", len(firsts)) + table))
    return _box(b"stbl", b"".join(boxes))


def _video_trak(video: Video, firsts: np.ndarray, offsets: np.ndarray, wide: bool) -> bytes:
    track = video.samples
    duration = _in_movie_time(track.duration, track.timescale)
    entry = struct.pack(">6xH16xHHIIIH32sHh", 1, video.width, video.height, 0x480000, 0x480000,
                        0, 1, b"", 24, -1)  # fmt: skip
    entry = _box(b"avc1", entry + _box(b"avcC", video.config))
    edit = b""
    if video.media_time:
        elst = struct.pack(">IIiI", 1, duration, video.media_time, 0x10000)
        edit = _box(b"edts", _full(b"elst", 0, 0, elst))
    vmhd = _full(b"vmhd", 0, 1, struct.pack(">HHHH", 0, 0, 0, 0))
    stbl = _stbl(track, entry, firsts, offsets, wide)
    mdia = _mdia(track, b"vide", b"VideoHandler", vmhd, stbl)
    tkhd = _tkhd(1, duration, 0, video.width, video.height)
    return _box(b"trak", tkhd + edit + mdia)


def _descriptor(tag: int, payload: bytes) -> bytes:
    if len(payload) > 127:
        raise MediaError("MP4 descriptor too long")
    return bytes([tag, len(payload)]) + payload


def _sound_trak(sound: Sound, firsts: np.ndarray, offsets: np.ndarray, wide: bool) -> bytes:
    track = sound.samples
    seconds = max(track.duration / track.timescale, 1e-9)
    bitrate = round(int(track.size.sum()) * 8 / seconds)
    decoder = _descriptor(
        0x04,
        struct.pack(">BB3sII", 0x40, 0x15, b"\0\0\0", bitrate, bitrate)
        + _descriptor(0x05, sound.config),
    )
    es = _descriptor(0x03, struct.pack(">HB", 2, 0) + decoder + _descriptor(0x06, b"\x02"))
    entry = struct.pack(">6xH8xHHHHI", 1, sound.channels, 16, 0, 0, sound.rate << 16)
    entry = _box(b"mp4a", entry + _full(b"esds", 0, 0, es))
    smhd = _full(b"smhd", 0, 0, struct.pack(">hH", 0, 0))
    stbl = _stbl(track, entry, firsts, offsets, wide)
    mdia = _mdia(track, b"soun", b"SoundHandler", smhd, stbl)
    tkhd = _tkhd(2, _in_movie_time(track.duration, track.timescale), 0x100, 0, 0)
    return _box(b"trak", tkhd + mdia)


def _udta(tags: dict[str, str]) -> bytes:
    items = b""
    for name, value in tags.items():
        data = _box(b"data", struct.pack(">II", 1, 0) + value.encode("utf-8"))  # 1: UTF-8 text
        items += _box(_TAG_KEYS[name], data)
    hdlr = _full(b"hdlr", 0, 0, struct.pack(">I4s4s8x", 0, b"mdir", b"appl") + b"\0")
    return _box(b"udta", _full(b"meta", 0, 0, hdlr + _box(b"ilst", items)))
