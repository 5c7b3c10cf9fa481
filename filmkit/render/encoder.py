"""Raw frames to H.264 and back, through ffmpeg's pipes.

:class:`FrameWriter` streams raw frames into ffmpeg's standard input, so no
frame is ever written to disk uncompressed, and ffmpeg encodes in its own
process while this one composites the next frames. A writer of 4:2:0 video
converts the frames itself (:func:`to_i420`, in the thread that feeds ffmpeg):
half the bytes go through the pipe, and the conversion costs less than half of
what ffmpeg's own takes, which leaves x264 more of a busy machine.
:func:`read_frames` is its counterpart, for frames kept to be blended again.
Either way ffmpeg is never left running: on any error it is killed and
waited for, and the error carries the end of what it printed.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np

from filmkit.errors import MediaError
from filmkit.media import FeedingFfmpeg, ffmpeg_exe

VIDEO_CODEC = "libx264"
AHEAD = 4
# Full-range chroma (OpenCV's YCrCb, JPEG's) to studio range (16..240), as 4:2:0 H.264 has it.
_STUDIO_CHROMA = np.round(128 + (np.arange(256) - 128) * 224 / 255).astype(np.uint8)


def to_i420(frame: np.ndarray) -> np.ndarray:
    """An RGB frame as planar 4:2:0 YUV (I420): ``(height * 3 / 2, width)`` uint8.

    ``frame`` is ``(height, width, 3)``, or ``(height, width, 4)`` with a fourth
    byte that is ignored; width and height are even. The colours are BT.601 in
    studio range, as ffmpeg converts rgb24 to yuv420p by default; each chroma
    sample is the mean of its 2x2 block of pixels (OpenCV's I420 conversion alone
    would take the block's top-left pixel), and every sample is within 1.5 levels
    of an exact conversion.
    """
    import cv2

    height, width, channels = frame.shape
    out = np.empty((height * 3 // 2, width), dtype=np.uint8)
    code = cv2.COLOR_RGBA2YUV_I420 if channels == 4 else cv2.COLOR_RGB2YUV_I420
    cv2.cvtColor(frame, code, dst=out)  # its luma; its chroma is replaced below
    means = cv2.resize(frame, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    full = cv2.cvtColor(means, cv2.COLOR_RGB2YCrCb)  # a fourth channel is dropped
    planes = out.reshape(-1)[width * height :].reshape(2, height // 2, width // 2)
    cv2.LUT(full[..., 2], _STUDIO_CHROMA, dst=planes[0])  # Cb, then Cr
    cv2.LUT(full[..., 1], _STUDIO_CHROMA, dst=planes[1])
    return out


class FrameWriter(FeedingFfmpeg):
    """An ffmpeg process encoding the uint8 RGB frames written to it.

    A frame is ``(height, width, 3)``, or ``(height, width, 4)`` with a fourth
    byte to ignore (as PIL keeps RGB in memory, so a canvas need not be packed).
    With ``yuv420``, the frames reach ffmpeg as 4:2:0 YUV (:func:`to_i420`) and
    ``codec_args`` must not ask for another pixel format; otherwise as rgb24.
    A thread of its own converts and feeds the pipe, up to ``AHEAD`` frames
    behind :meth:`write`, so the caller composites the next frame while this one
    is on its way to ffmpeg instead of waiting for ffmpeg to drain the pipe
    (on two busy cores: as fast as writing inline, up to 10 % faster).
    """

    def __init__(
        self,
        out: Path,
        size: tuple[int, int],
        fps: int,
        *,
        preset: str,
        codec_args: Sequence[str],
        yuv420: bool = False,
    ) -> None:
        if yuv420 and (size[0] % 2 or size[1] % 2):
            raise ValueError(f"4:2:0 video needs an even width and height, not {size}")
        self.shape = (size[1], size[0], 3)
        self.written = 0
        self._yuv420 = yuv420
        pixels = "yuv420p" if yuv420 else "rgb24"
        args = ["-f", "rawvideo", "-pix_fmt", pixels, "-s", f"{size[0]}x{size[1]}"]
        args += ["-r", str(fps), "-i", "-", "-an", "-c:v", VIDEO_CODEC, "-preset", preset]
        super().__init__([*args, *codec_args], out, ahead=AHEAD, taking="frames")

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame for ffmpeg; blocks while ffmpeg is ``AHEAD`` frames behind.

        The frame is read later, by the thread feeding ffmpeg: it must not change.
        """
        height, width = self.shape[:2]
        if frame.shape not in ((height, width, 3), (height, width, 4)) or frame.dtype != np.uint8:
            wanted = f"({height}, {width}, 3) or ({height}, {width}, 4) uint8"
            raise ValueError(f"a frame must be {wanted}, not {frame.shape} {frame.dtype}")
        if not self._yuv420:
            frame = np.ascontiguousarray(frame[..., :3])
        self._put(frame)
        self.written += 1

    def _bytes(self, data: np.ndarray) -> np.ndarray:
        return to_i420(data) if self._yuv420 else data


def write_frames(writer: FrameWriter, frames: Iterable[np.ndarray], count: int) -> None:
    """Write exactly the first ``count`` of ``frames``; too few is an error."""
    before = writer.written
    for frame in islice(frames, count):
        writer.write(frame)
    if writer.written - before != count:
        got = writer.written - before
        raise ValueError(f"{writer.out.name}: got {got} frames to encode, not {count}")


def write_video(
    frames: Iterable[np.ndarray],
    out: Path,
    count: int,
    size: tuple[int, int],
    fps: int,
    *,
    preset: str,
    codec_args: Sequence[str],
    yuv420: bool = False,
) -> None:
    """Encode exactly the first ``count`` of ``frames`` into ``out`` (see :class:`FrameWriter`)."""
    with FrameWriter(out, size, fps, preset=preset, codec_args=codec_args, yuv420=yuv420) as writer:
        write_frames(writer, frames, count)


def read_frames(path: Path, size: tuple[int, int], count: int) -> Iterator[np.ndarray]:
    """The first ``count`` frames of a video file, decoded to ``(height, width, 3)`` uint8."""
    width, height = size
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path)]
    cmd += ["-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        try:
            for i in range(count):
                data = proc.stdout.read(width * height * 3)
                if len(data) < width * height * 3:
                    proc.wait()
                    log.seek(0)
                    said = log.read().decode(errors="replace").strip()[-2000:]
                    raise MediaError(
                        f"{path.name} has {i} frames, not {count}" + (said and f": {said}")
                    )
                yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
