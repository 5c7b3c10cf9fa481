"""``dataset/faces``: the artist's photos (or a video) turned into a training set of faces.

Every picture in a folder (jpg, jpeg, png, webp, bmp; searched recursively,
in sorted order, hidden files and folders left out), or a frame every
``every`` seconds of one video file, is read; the largest face in it is found
and cropped upright (:func:`~filmkit.generators.image.landmarks.detect` and
:func:`~filmkit.generators.image.landmarks.align`) at ``size`` pixels. With
``crop: centre`` the pictures are simply cropped to their centre square, for
sets that are not faces (rooms, landscapes).

Outputs:

* ``dataset``: an ``.npz`` holding ``faces`` (uint8 N x S x S x 3, RGB) and
  ``sources`` (N names: the picture's path inside the folder, or
  ``video.mp4@12.50s`` for a video frame; mirrored copies end in ``(mirrored)``);
* ``sheet``: a contact sheet (PNG) of the first 64 faces, to check the crops.

A picture that cannot be read, has no face or only a face smaller than
``min_face`` is skipped and reported, not fatal; a video frame nearly the same
as the frame kept before it is skipped too. Finding no face at all is an error.
"""

from __future__ import annotations

import io
import math
import time
import zipfile
from collections.abc import Generator as Stream
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError, MediaError
from filmkit.generators.base import Generator, Request
from filmkit.lazy import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
SHEET_FACES = 64  # faces on the contact sheet, at most
SHEET_CELL = 64  # smallest cell of the contact sheet, pixels
REPORTED = 10  # skipped pictures named in the metadata, at most
# Mean absolute difference (0-255) of two small grey thumbnails under which two
# video frames count as the same picture.
SAME_FRAME = 1.0
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so that the same faces make the same bytes


class Params(BaseModel):
    """Where the photos are and how to cut faces out of them."""

    model_config = ConfigDict(extra="forbid")

    photos: str = Field(
        description="a folder of photos (jpg, jpeg, png, webp, bmp; searched recursively) "
        "or one video file (mp4, mov, mkv, webm, avi), in the project"
    )
    size: Literal[32, 64, 128, 256] = Field(
        64, description="side in pixels of the square crops in the data set"
    )
    every: float = Field(
        0.5, gt=0, le=3600, description="seconds between the frames sampled from a video"
    )
    crop: Literal["faces", "centre"] = Field(
        "faces",
        description="faces: find the largest face of each picture and crop it upright, eyes "
        "level; centre: the centre square of each picture (for pictures that are not faces)",
    )
    min_face: int = Field(
        48, ge=8, le=8192, description="faces narrower than this many pixels are skipped"
    )
    mirror: bool = Field(False, description="add a mirrored copy of every crop")


@dataclass(frozen=True)
class _Picture:
    """One picture to crop: its name in the data set and its pixels (or why it has none)."""

    name: str
    pixels: np.ndarray | None
    problem: str = ""
    video: bool = False


class FaceDataset(Generator):
    """Turns a folder of photos, or a video, into a data set of aligned face crops."""

    kind = "dataset"
    name = "faces"
    version = "1"
    Params = Params
    outputs: ClassVar[dict[str, str]] = {"dataset": ".npz", "sheet": ".png"}
    file_params: ClassVar[tuple[str, ...]] = ("photos",)
    licence = "filmkit (GPL-3.0-or-later); the crops are of your own photos"

    def generate(self, request: Request) -> dict[str, Any]:
        """Read, detect, crop; write ``dataset`` (.npz) and ``sheet`` (.png)."""
        params = request.params
        assert isinstance(params, Params)
        started = time.perf_counter()
        source = Path(request.inputs.get("photos") or params.photos)
        pictures, total = _pictures(source, params.every)
        crops: list[np.ndarray] = []
        names: list[str] = []
        skipped: list[dict[str, str]] = []
        read = 0
        previous: np.ndarray | None = None
        with closing(pictures):  # a video's ffmpeg stops even if a crop fails
            for i, picture in enumerate(pictures):
                if total:
                    request.progress(min(i / total, 0.99))
                if picture.pixels is None:
                    skipped.append({"name": picture.name, "reason": picture.problem})
                    continue
                read += 1
                if picture.video:
                    thumb = _thumbnail(picture.pixels)
                    if previous is not None and np.abs(thumb - previous).mean() < SAME_FRAME:
                        skipped.append({"name": picture.name, "reason": "same as the frame before"})
                        continue
                    previous = thumb
                crop, problem = _crop(picture.pixels, params)
                if crop is None:
                    skipped.append({"name": picture.name, "reason": problem})
                    continue
                crops.append(crop)
                names.append(picture.name)
                if params.mirror:
                    crops.append(np.ascontiguousarray(crop[:, ::-1]))
                    names.append(f"{picture.name} (mirrored)")
        if not crops:
            raise GeneratorError(_nothing_found(source, read, skipped, params))
        faces = np.stack(crops)
        _write_npz(
            request.outputs["dataset"],
            {"faces": faces, "sources": np.array(names, dtype=str)},
        )
        _contact_sheet(faces[:SHEET_FACES]).save(
            request.outputs["sheet"], format="PNG", compress_level=6
        )
        request.progress(1.0)
        pixels = faces.reshape(-1, 3).astype(np.float64) / 255.0
        return {
            "found": len(names) // (2 if params.mirror else 1),
            "faces": len(names),
            "read": read,
            "size": params.size,
            "mean": [round(float(v), 4) for v in pixels.mean(axis=0)],
            "std": [round(float(v), 4) for v in pixels.std(axis=0)],
            "skipped": {"count": len(skipped), "first": skipped[:REPORTED]},
            "seconds": round(time.perf_counter() - started, 2),
        }


def _pictures(source: Path, every: float) -> tuple[Stream[_Picture, None, None], int]:
    """The pictures to read from ``source`` and about how many there are (0: not known)."""
    if source.is_dir():
        files = sorted(
            (
                p
                for p in source.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(source).parts)
                and p.is_file()
            ),
            key=lambda p: p.relative_to(source).as_posix(),
        )
        return (_read_photo(p, p.relative_to(source).as_posix()) for p in files), len(files)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        width, height, seconds = _video_info(source)
        count = math.ceil(seconds / every) if seconds > 0 else 0
        return _video_frames(source, every, width, height), count
    if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
        return (_read_photo(p, p.name) for p in [source]), 1
    if not source.exists():
        raise GeneratorError(f"dataset/faces: no such folder or video: {source}")
    raise GeneratorError(
        f"dataset/faces: {source} is neither a folder of photos nor a video "
        f"({', '.join(VIDEO_SUFFIXES)})"
    )


def _read_photo(path: Path, name: str) -> _Picture:
    """A photo as RGB or RGBA uint8, upright as its EXIF orientation says."""
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd but readable files warn (palettes, EXIF)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                transparent = img.mode in ("RGBA", "LA", "PA") or (
                    img.mode == "P" and "transparency" in img.info
                )
                pixels = np.asarray(img.convert("RGBA" if transparent else "RGB"))
    except Exception as exc:  # a corrupt file may fail in many ways; it is only skipped
        reason = str(exc).strip() or type(exc).__name__
        return _Picture(name, None, f"unreadable ({reason})")
    return _Picture(name, pixels)


def _video_frames(
    path: Path, every: float, width: int, height: int
) -> Stream[_Picture, None, None]:
    """A frame every ``every`` seconds of a video (ffmpeg's fps filter picks them)."""
    from filmkit.media import sampled_frames

    k = 0
    try:
        for k, pixels in enumerate(sampled_frames(path, 1 / every, (width, height))):
            name = f"{path.name}@{k * every:.2f}s"
            if pixels is None:
                yield _Picture(name, None, "unreadable (the video ends inside this frame)")
                break
            yield _Picture(name, pixels, video=True)
    except MediaError as exc:
        raise GeneratorError(f"dataset/faces: {exc}") from None


def _video_info(path: Path) -> tuple[int, int, float]:
    """Width, height and duration of a video (see :func:`filmkit.media.video_info`)."""
    from filmkit.media import video_info

    try:
        return video_info(path)
    except MediaError as exc:
        raise GeneratorError(f"dataset/faces: {exc}") from None


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    """A small grey float copy of a frame, to tell a new picture from the same one."""
    import cv2

    grey = cv2.cvtColor(pixels[:, :, :3], cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    scale = 64 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _crop(pixels: np.ndarray, params: Params) -> tuple[np.ndarray | None, str]:
    """The square crop of one picture at ``params.size``, or None and why not."""
    import cv2

    from filmkit.generators.image.landmarks import align, detect, to_rgb

    if params.crop == "centre":
        rgb = to_rgb(pixels)
        height, width = rgb.shape[:2]
        side = min(height, width)
        y0, x0 = (height - side) // 2, (width - side) // 2
        square = rgb[y0 : y0 + side, x0 : x0 + side]
        method = cv2.INTER_AREA if side > params.size else cv2.INTER_CUBIC
        return cv2.resize(square, (params.size, params.size), interpolation=method), ""
    # Searched for faces down to half min_face, so that smaller ones are reported as such.
    face = detect(pixels, min_size=max(16, params.min_face // 2))
    if face is None:
        return None, "no face"
    width = face.box[2] - face.box[0]
    if width < params.min_face:
        return None, f"face too small ({width:.0f} px wide, min_face is {params.min_face})"
    return align(pixels, face, params.size), ""


def _nothing_found(source: Path, read: int, skipped: list[dict[str, str]], params: Params) -> str:
    """The error message when no crop at all came out of ``source``."""
    what = "video frames" if source.is_file() else "pictures"
    message = f"dataset/faces: no face found in {source} ({read} {what} read"
    if skipped:
        reasons: dict[str, int] = {}
        for item in skipped:
            reason = item["reason"].split(" (")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        message += "; skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    message += ")"
    if read == 0:
        kinds = ", ".join(IMAGE_SUFFIXES)
        return message + f". Hint: put photos ({kinds}) in the folder, or give a video file."
    if params.crop == "faces":
        message += (
            ". Hint: for pictures that are not faces (rooms, landscapes) use crop: centre; "
            f"for small faces lower min_face (now {params.min_face})."
        )
    return message


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an ``.npz`` (what numpy.load reads) with fixed timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def _contact_sheet(faces: np.ndarray) -> Any:
    """The faces in a grid, up to eight a row, each cell at least SHEET_CELL pixels."""
    from PIL import Image

    count, size = len(faces), faces.shape[1]
    cols = min(8, max(1, math.ceil(math.sqrt(count))))
    rows = math.ceil(count / cols)
    cell = size * max(1, math.ceil(SHEET_CELL / size))
    gap = 2
    sheet = Image.new("RGB", (cols * (cell + gap) + gap, rows * (cell + gap) + gap), (24, 24, 24))
    for k, face in enumerate(faces):
        img = Image.fromarray(face)
        if cell != size:
            img = img.resize((cell, cell), Image.Resampling.NEAREST)
        sheet.paste(img, (gap + (k % cols) * (cell + gap), gap + (k // cols) * (cell + gap)))
    return sheet
