"""dataset/faces: photos or a video in, an .npz of aligned face crops and a contact sheet out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request
from filmkit.generators.image.dataset import FaceDataset, Params
from filmkit.generators.image.face import Params as FaceParams
from filmkit.generators.image.face import ProceduralFace

SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> dict[int, np.ndarray]:
    """Painted portraits (RGBA, 256 px) by seed."""
    folder = tmp_path_factory.mktemp("painted")
    out = {}
    for seed in (*SEEDS, 5):
        outputs = {name: folder / f"{seed}_{name}.png" for name in ProceduralFace.outputs}
        ProceduralFace().generate(
            Request(params=FaceParams(), seed=seed, outputs=outputs, size=(256, 256))
        )
        out[seed] = np.asarray(Image.open(outputs["image"]))
    return out


def flatten(rgba: np.ndarray, background: tuple[int, int, int] = (128, 128, 128)) -> np.ndarray:
    alpha = rgba[:, :, 3:].astype(np.float32) / 255
    rgb = rgba[:, :, :3] * alpha + np.array(background, np.float32) * (1 - alpha)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def run(tmp_path: Path, photos: Path, **params: Any) -> tuple[dict[str, Any], Any, Path]:
    """Run the backend; its metadata, the npz's arrays and the sheet's path."""
    outputs = {"dataset": tmp_path / "out.npz", "sheet": tmp_path / "sheet.png"}
    seen: list[float] = []
    request = Request(
        params=Params(photos=str(photos), **params),
        seed=0,
        outputs=outputs,
        inputs={"photos": photos},
        progress=seen.append,
    )
    meta = FaceDataset().generate(request)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    with np.load(outputs["dataset"], allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return meta, arrays, outputs["sheet"]


def test_a_folder_of_photos(tmp_path: Path, portraits: dict[int, np.ndarray]) -> None:
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    Image.fromarray(portraits[1]).save(photos / "a.png")
    Image.fromarray(portraits[2]).save(photos / "more" / "b.png")
    Image.fromarray(flatten(portraits[3])).save(photos / "c.jpg", quality=92)
    Image.fromarray(flatten(portraits[4], (40, 70, 50))).save(photos / "d.webp", quality=90)
    Image.new("RGB", (200, 150), (120, 80, 60)).save(photos / "flat.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "notes.txt").write_text("not a picture, not counted")
    (photos / "._a.png").write_bytes(b"hidden: left out")

    meta, arrays, sheet = run(tmp_path, photos)
    faces = arrays["faces"]
    assert faces.shape == (4, 64, 64, 3) and faces.dtype == np.uint8
    assert list(arrays["sources"]) == ["a.png", "c.jpg", "d.webp", "more/b.png"]
    assert meta["found"] == 4 and meta["read"] == 5
    assert meta["skipped"]["count"] == 2
    reasons = {item["name"]: item["reason"] for item in meta["skipped"]["first"]}
    assert reasons["flat.png"] == "no face"
    assert reasons["broken.jpg"].startswith("unreadable")
    assert len(meta["mean"]) == 3 and all(0 < s < 0.5 for s in meta["std"])
    # Aligned crops: the eyes sit level at the same height in every crop, so the
    # crops look alike in the middle (faces) more than at the edges.
    assert faces.std(axis=0).mean() < 60
    with Image.open(sheet) as img:
        assert img.size[0] >= 2 * 64 and img.mode == "RGB"
    # Mirrored copies, a smaller size.
    meta, arrays, _ = run(tmp_path, photos, size=32, mirror=True)
    assert arrays["faces"].shape == (8, 32, 32, 3)
    assert np.array_equal(arrays["faces"][1], arrays["faces"][0][:, ::-1])
    assert arrays["sources"][1] == "a.png (mirrored)"
    assert meta["found"] == 4 and meta["faces"] == 8


def test_small_faces_are_skipped(tmp_path: Path, portraits: dict[int, np.ndarray]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(portraits[1]).save(photos / "big.png")
    Image.fromarray(portraits[2]).resize((128, 128), Image.Resampling.LANCZOS).save(
        photos / "small.png"
    )
    meta, arrays, _ = run(tmp_path, photos, min_face=80)
    assert list(arrays["sources"]) == ["big.png"]
    (item,) = meta["skipped"]["first"]
    assert item["name"] == "small.png" and item["reason"].startswith("face too small")


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, macro_block_size=16, quality=8
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def test_a_video_is_sampled_every_half_second(
    tmp_path: Path, portraits: dict[int, np.ndarray]
) -> None:
    face = flatten(portraits[5])
    # Two seconds at 10 fps; the face drifts two pixels a frame.
    moving = [np.roll(face, 2 * k, axis=1) for k in range(20)]
    write_video(tmp_path / "clip.mp4", moving)
    meta, arrays, _ = run(tmp_path, tmp_path / "clip.mp4", every=0.5)
    assert list(arrays["sources"]) == [f"clip.mp4@{t:.2f}s" for t in (0, 0.5, 1, 1.5)]
    assert arrays["faces"].shape == (4, 64, 64, 3)
    # Aligned: the drifting face gives nearly the same crop every time.
    first = arrays["faces"][0].astype(int)
    assert all(np.abs(f.astype(int) - first).mean() < 12 for f in arrays["faces"][1:])
    assert meta["found"] == 4

    # A still shot: one face, the other samples are the same picture again.
    write_video(tmp_path / "still.mp4", [face] * 20)
    meta, arrays, _ = run(tmp_path, tmp_path / "still.mp4", every=0.5)
    assert list(arrays["sources"]) == ["still.mp4@0.00s"]
    assert meta["skipped"]["count"] == 3
    assert {i["reason"] for i in meta["skipped"]["first"]} == {"same as the frame before"}


def test_centre_crops_for_pictures_that_are_not_faces(tmp_path: Path) -> None:
    photos = tmp_path / "rooms"
    photos.mkdir()
    wide = np.zeros((30, 90, 3), np.uint8)
    wide[:, :30], wide[:, 30:60], wide[:, 60:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(wide).save(photos / "wide.png")
    tall = np.zeros((120, 40, 4), np.uint8)
    tall[:] = (10, 20, 200, 255)
    Image.fromarray(tall).save(photos / "tall.png")
    meta, arrays, _ = run(tmp_path, photos, crop="centre", size=32)
    faces = arrays["faces"]
    assert faces.shape == (2, 32, 32, 3)
    assert list(arrays["sources"]) == ["tall.png", "wide.png"]
    assert np.all(faces[0] == (10, 20, 200))
    assert np.all(faces[1] == (0, 255, 0))  # the middle third of the wide picture
    assert meta["skipped"]["count"] == 0


def test_no_face_is_an_error_with_a_hint(tmp_path: Path) -> None:
    photos = tmp_path / "rooms"
    photos.mkdir()
    for k, colour in enumerate([(200, 30, 30), (30, 200, 30)]):
        Image.new("RGB", (160, 120), colour).save(photos / f"room{k}.jpg")
    with pytest.raises(GeneratorError) as caught:
        run(tmp_path, photos)
    message = str(caught.value)
    assert str(photos) in message
    assert "2 pictures read" in message and "crop: centre" in message
    with pytest.raises(GeneratorError, match="no such folder"):
        run(tmp_path, tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GeneratorError, match="0 pictures read"):
        run(tmp_path, empty)


def test_params() -> None:
    assert FaceDataset.id() == "dataset/faces"
    assert FaceDataset.file_params == ("photos",)
    assert set(FaceDataset.outputs) == {"dataset", "sheet"}
    params = Params(photos="faces/")
    assert (params.size, params.every, params.crop, params.min_face, params.mirror) == (
        64,
        0.5,
        "faces",
        48,
        False,
    )
    for field in Params.model_fields.values():
        assert field.description
    with pytest.raises(ValueError):
        Params(photos="x", size=100)
    with pytest.raises(ValueError):
        Params(photos="x", unknown=1)
