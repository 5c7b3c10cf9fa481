"""Faces that move: a still portrait driven by a video of a face (landmarks, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from filmkit.errors import MediaError
from filmkit.generators.base import Request
from filmkit.generators.image.face import Params, ProceduralFace
from filmkit.generators.image.landmarks import detect
from filmkit.render.drive import driven_keys, head_poses
from filmkit.render.frames import ShotFrames
from filmkit.spec.models import ColorLayer, FaceLayer
from tests.test_dataset import write_video

FPS = 12


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A painted face's three frames, 256 px."""
    folder = tmp_path_factory.mktemp("face")
    frames = {name: folder / f"{name}.png" for name in ("image", "mouth_open", "blink")}
    ProceduralFace().generate(Request(params=Params(), seed=8, outputs=frames, size=(256, 256)))
    return frames


def on_backdrop(face: Path, canvas: tuple[int, int], x: float, turn: float) -> np.ndarray:
    """The face flattened on grey, turned ``turn`` degrees about its centre and moved
    ``x`` pixels right, on a ``canvas``-sized frame."""
    with Image.open(face) as opened:
        rgba = np.asarray(opened.convert("RGBA")).astype(np.float32)
    flat = rgba[..., :3] * rgba[..., 3:] / 255 + 170 * (1 - rgba[..., 3:] / 255)
    w, h = canvas
    frame = np.full((h, w, 3), 170, np.float32)
    top, left = (h - flat.shape[0]) // 2, (w - flat.shape[1]) // 2
    frame[top : top + flat.shape[0], left : left + flat.shape[1]] = flat
    turn_matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -turn, 1.0)
    turn_matrix[0, 2] += x
    moved = cv2.warpAffine(frame, turn_matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.clip(moved, 0, 255).astype(np.uint8)


def test_the_heads_motion_is_read_from_the_video(tmp_path: Path, portrait: dict[str, Path]) -> None:
    sliding = [on_backdrop(portrait["image"], (384, 288), 3 * k, 0) for k in range(12)]
    turning = [on_backdrop(portrait["image"], (384, 288), 0, 1.0 * k) for k in range(12)]
    eyes = detect(sliding[0]).interocular
    write_video(tmp_path / "slide.mp4", sliding, fps=FPS)
    write_video(tmp_path / "turn.mp4", turning, fps=FPS)
    slide = head_poses(tmp_path / "slide.mp4", FPS, 16)
    turn = head_poses(tmp_path / "turn.mp4", FPS, 16)
    assert slide.shape == (16, 4)
    assert np.allclose(slide[0], [0, 0, 0, 1], atol=0.05)
    # 33 px right, then held; 11 degrees clockwise.
    assert slide[11, 0] * eyes == pytest.approx(33, abs=4)
    assert abs(slide[11, 1]) * eyes < 3 and abs(slide[11, 2]) < 2
    assert np.array_equal(slide[15], slide[11])
    assert turn[11, 2] == pytest.approx(11, abs=2.5)
    assert turn[11, 3] == pytest.approx(1.0, abs=0.08)
    # Smooth: no jump between frames bigger than the motion itself.
    assert np.abs(np.diff(slide[:12, 0])).max() * eyes < 6


def test_a_video_without_a_face_says_so(tmp_path: Path) -> None:
    video = tmp_path / "wall.mp4"
    write_video(video, [np.full((96, 128, 3), 90, np.uint8)] * 4, fps=FPS)
    with pytest.raises(MediaError, match="no face found in wall.mp4"):
        head_poses(video, FPS, 4)


def test_keys_follow_the_poses_scaled_to_the_portraits_face() -> None:
    layer = FaceLayer(character="ada", drive={"video": "me.mp4", "motion": 0.5})
    plain = {"kind": "character", **layer.model_dump(mode="json")}
    poses = np.array([[0, 0, 0, 1], [1, -0.5, 10, 1.2]], dtype=float)
    times = np.array([0.0, 1 / FPS])
    eyes = (0.0, -200.0)  # 200 px above the anchor (the bottom of the portrait)
    keys = driven_keys(plain, poses, times, FPS, eyes, 100, frame=(1000, 500))
    assert keys[0]["position"] == pytest.approx([0.5, 1.0]) and keys[0]["rotation"] == 0
    assert keys[1]["rotation"] == pytest.approx(5) and keys[1]["scale"] == pytest.approx(1.1)
    # Turned and scaled about the anchor, the eyes end where half the video's move says.
    turn = np.radians(keys[1]["rotation"])
    x, y = keys[1]["position"][0] * 1000, keys[1]["position"][1] * 500
    ex = x + 1.1 * (eyes[0] * np.cos(turn) - eyes[1] * np.sin(turn))
    ey = y + 1.1 * (eyes[0] * np.sin(turn) + eyes[1] * np.cos(turn))
    assert (ex, ey) == pytest.approx((500 + 0.5 * 100, 500 - 200 - 0.25 * 100))


def test_a_driven_face_moves_in_the_shot(tmp_path: Path, portrait: dict[str, Path]) -> None:
    frames = [on_backdrop(portrait["image"], (384, 288), 4 * k, 0) for k in range(12)]
    video = tmp_path / "me.mp4"
    write_video(video, frames, fps=FPS)
    layer = FaceLayer(character="ada", drive={"video": "me.mp4"}, position=(0.5, 1.0))
    params = face_shot(layer.model_dump(mode="json"))
    inputs = {f"layer1.{name}": path for name, path in portrait.items()}
    inputs["layer1.drive"] = video
    with ShotFrames(params, inputs) as shot:
        first, last = shot.frame(0).copy(), shot.frame(11).copy()
    still = FaceLayer(character="ada", position=(0.5, 1.0)).model_dump(mode="json")
    params = face_shot(still)
    with ShotFrames(params, inputs) as shot:
        undriven = shot.frame(0).copy()
    # Where the video's head has not moved yet, the face is as it is undriven (and opaque).
    assert np.abs(first.astype(int) - undriven).mean() < 1.5

    def centre(pixels: np.ndarray) -> float:
        face = np.argwhere(np.abs(pixels.astype(int) - [20, 20, 20]).sum(axis=2) > 40)
        return float(face[:, 1].mean())

    # The video's head moved 44 px at its own scale; the portrait follows, at its own.
    assert centre(last) - centre(first) > 8


def face_shot(face: dict, duration: float = 1.0, lines: list[dict] | None = None) -> dict[str, Any]:
    """A 320x180 shot's params: a dark colour, and over it the character layer ``face``."""
    backdrop = ColorLayer(color="#141414").model_dump(mode="json")
    return {
        "size": [320, 180],
        "fps": FPS,
        "duration": duration,
        "lead_in": 0.0,
        "tail": 0.0,
        "layers": [{"kind": "color", **backdrop}, {"kind": "character", **face}],
        "lines": lines or [],
        "overlap": [0, 0],
    }


def test_lines_are_lip_synced_by_the_users_wav2lip_weights(
    tmp_path: Path, portrait: dict[str, Path]
) -> None:
    from filmkit.media import write_wav
    from tests.test_wav2lip import _save_published, _tiny

    weights = _save_published(_tiny(), tmp_path / "wav2lip.pth")
    rate = 16000
    t = np.arange(int(0.6 * rate)) / rate
    write_wav(tmp_path / "line.wav", 0.5 * np.sin(2 * np.pi * 220 * t) * (t < 0.5), rate)
    plain = FaceLayer(character="ada", position=(0.5, 1.0)).model_dump(mode="json")
    synced = {**plain, "lipsync": "wav2lip.pth"}
    params = face_shot(plain, lines=[{"who": "ada", "pause": 0.0}])
    inputs = {f"layer1.{name}": path for name, path in portrait.items()}
    inputs |= {"line0": tmp_path / "line.wav", "layer1.lipsync": weights}
    with ShotFrames(params, inputs) as shot:
        before = [shot.frame(i).copy() for i in (2, 10)]
    params = face_shot(synced, lines=[{"who": "ada", "pause": 0.0}])
    with ShotFrames(params, inputs) as shot:
        after = [shot.frame(i).copy() for i in (2, 10)]
    speaking = np.abs(after[0].astype(int) - before[0]).sum(axis=2) > 30
    rows = np.nonzero(speaking.any(axis=1))[0]
    # While it speaks the mouth is redrawn (a random network draws something else), and
    # only the lower face: never above the eyes. After the line, nothing is redrawn.
    eyes = max(detect(before[0]).left_eye[1], detect(before[0]).right_eye[1])
    assert speaking.sum() > 20 and rows.min() > eyes
    assert np.array_equal(after[1], before[1])


def test_a_motion_model_redraws_the_face_from_the_video(
    tmp_path: Path, portrait: dict[str, Path]
) -> None:
    from tests.test_fomm import _checkpoint

    weights, _ = _checkpoint(tmp_path)
    frames = [on_backdrop(portrait["image"], (384, 288), 4 * k, 0) for k in range(6)]
    write_video(tmp_path / "me.mp4", frames, fps=FPS)
    layer = FaceLayer(character="ada", drive={"video": "me.mp4", "model": "vox-cpk.pth.tar"})
    params = face_shot(layer.model_dump(mode="json"), duration=0.5)
    inputs = {f"layer1.{name}": path for name, path in portrait.items()}
    inputs |= {"layer1.drive": tmp_path / "me.mp4", "layer1.drive_model": weights}
    with ShotFrames(params, inputs) as shot:
        drawn = [shot.frame(i).copy() for i in range(6)]
    background = np.abs(drawn[0].astype(int) - [20, 20, 20]).sum(axis=2) <= 3
    # A random network draws something else than the portrait, but inside its silhouette:
    # the portrait's alpha is kept, so the corners stay the background.
    assert background[:20, :60].all() and not background[60:, 140:180].all()
    assert len({frame.tobytes() for frame in drawn}) > 1
