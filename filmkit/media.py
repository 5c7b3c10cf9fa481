"""Small media helpers shared by backends and the renderer: ffmpeg, WAV I/O.

ffmpeg comes from imageio-ffmpeg's bundled binary; no system ffmpeg is
assumed. Audio inside filmkit is float32 numpy arrays of shape
``(samples, channels)`` in [-1, 1].
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
import wave
from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Self

from filmkit.errors import MediaError
from filmkit.lazy import numpy as np


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def video_info(path: Path) -> tuple[int, int, float]:
    """Width and height of a video's frames as ffmpeg decodes them (rotation applied), and
    its duration in seconds (0 if ffmpeg does not say)."""
    import io
    import re

    from PIL import Image

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    cmd += ["-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    said = proc.stderr.decode(errors="replace")
    if proc.returncode != 0 or not proc.stdout:
        tail = said.strip()[-1000:] or "no video frames"
        raise MediaError(f"cannot read the video {path.name}: {tail}")
    with Image.open(io.BytesIO(proc.stdout)) as first:
        width, height = first.size
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", said)
    seconds = 0.0
    if found:
        h, m, sec = found.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(sec)
    return width, height, seconds


def sampled_frames(path: Path, rate: float, size: tuple[int, int]) -> Iterator[np.ndarray | None]:
    """A video's frames, ``rate`` a second (ffmpeg's fps filter picks the nearest), as RGB
    arrays of ``size`` (what :func:`video_info` says); None for a frame cut short at the end."""
    width, height = size
    frame = width * height * 3
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path)]
    cmd += ["-vf", f"fps=fps={rate!r}:round=near", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        try:
            k = 0
            while data := proc.stdout.read(frame):
                if len(data) < frame:
                    yield None
                    break
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
                k += 1
            if proc.wait() != 0 and k == 0:
                log.seek(0)
                said = log.read().decode(errors="replace").strip()[-1000:]
                raise MediaError(f"cannot read the video {path.name}: {said}")
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def run_ffmpeg(args: list[str], stdin: bytes | None = None) -> None:
    """Run ffmpeg quietly (``stdin`` feeds ``pipe:0``); raise :class:`MediaError` on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise MediaError(f"ffmpeg failed: {stderr[-2000:]}")


class FeedingFfmpeg:
    """An ffmpeg process fed numpy arrays through its standard input by a thread of its own.

    :meth:`_put` queues an array and returns at once unless the pump is ``ahead``
    arrays behind, so the caller makes the next one while ffmpeg takes this one.
    ffmpeg is never left running: on any error it is killed and waited for, and
    the error carries the end of what it printed (kept in a file, not a pipe
    nobody reads, which could stall it). Used as a context manager, leaving the
    block on an error stops ffmpeg and leaves ``out`` unfinished.
    """

    def __init__(self, args: list[str], out: Path, *, ahead: int, taking: str) -> None:
        self.out = out
        self._taking = taking
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close/abort
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, str(out)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(ahead)
        self._broken: Exception | None = None
        self._pump = threading.Thread(target=self._feed, name=f"to ffmpeg: {out.name}")
        self._pump.daemon = True
        self._pump.start()

    def _put(self, data: np.ndarray) -> None:
        """Queue an array for ffmpeg's stdin (C-contiguous once :meth:`_bytes` has it)."""
        if self._broken is not None:
            raise self._failure(f"ffmpeg stopped taking {self._taking} ({self._broken})")
        self._queue.put(data)

    def close(self) -> None:
        """Finish the file: wait for ffmpeg to take and encode everything written."""
        self._end_feed()
        if self._proc.wait() != 0 or self._broken is not None:
            raise self._failure("ffmpeg failed")
        self._log.close()

    def abort(self) -> None:
        """Stop ffmpeg now, leaving whatever it wrote; no zombie is left behind."""
        self._stop()
        self._log.close()

    def _feed(self) -> None:
        """The pump: queued arrays into ffmpeg's stdin until the end mark, then EOF."""
        stdin = self._proc.stdin
        assert stdin is not None
        while (data := self._queue.get()) is not None:
            if self._broken is None:
                try:
                    stdin.write(self._bytes(data).data)
                except Exception as error:  # ffmpeg is gone: drain, so _put never blocks
                    self._broken = error
        with suppress(OSError):  # the pipe's last bytes had nowhere to go
            stdin.close()

    def _bytes(self, data: np.ndarray) -> np.ndarray:
        """What the pump writes for a queued array (in its own thread): the array itself."""
        return data

    def _end_feed(self) -> None:
        if self._pump.is_alive():
            self._queue.put(None)
            self._pump.join()

    def _stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._end_feed()
        self._proc.wait()

    def _failure(self, what: str) -> MediaError:
        """The error for a failed encode, with the end of ffmpeg's log; ffmpeg is reaped."""
        self._stop()
        self._log.seek(0)
        said = self._log.read().decode(errors="replace").strip()[-2000:]
        self._log.close()
        said = said or f"exit status {self._proc.returncode}"
        return MediaError(f"{what} encoding {self.out.name}: {said}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def decode_audio(path: Path, rate: int, channels: int = 2) -> bytes:
    """A media file's first audio stream as raw float32 little-endian samples."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path)]
    cmd += ["-vn", "-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg cannot decode {path.name}: {proc.stderr.decode()[-2000:]}")
    return proc.stdout


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV file as float32 ``(samples, channels)`` and its rate."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        channels = wav.getnchannels()
        width = wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise MediaError(f"{path}: only 16-bit PCM WAV is supported, got {8 * width}-bit")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels), rate


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Write float audio ``(samples,)`` or ``(samples, channels)`` as 16-bit PCM."""
    if audio.ndim == 1:
        audio = audio[:, None]
    with WavWriter(path, audio.shape[1], rate) as wav:
        wav.write(audio)


class WavWriter:
    """A 16-bit PCM WAV file written a block of float audio at a time.

    The file has the same bytes as :func:`write_wav` of all the blocks at
    once; the header's sizes are set when it is closed.
    """

    def __init__(self, path: Path, channels: int, rate: int) -> None:
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, audio: np.ndarray) -> None:
        """Append float ``(samples, channels)`` audio, clipped to [-1, 1]."""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
        self._wav.writeframes(pcm.tobytes())

    def close(self) -> None:
        """Finish the header and close the file."""
        self._wav.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wav_duration(path: Path) -> float:
    """Duration of a WAV file in seconds, from its header."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())
