"""model/style and the Stylist: training runs, repeats, moves colours; the per-frame schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request
from filmkit.generators.style.fast import StyleParams, StyleTrainer
from filmkit.render.style import Stylist, schedule

# Tiny everything: a training run takes a second or two on one core.
TINY = {"steps": 30, "size": 32, "batch": 2, "width": 4, "blocks": 1, "style_size": 64}
STYLE_COLOURS = ((230, 40, 140), (250, 200, 20))  # magenta and yellow stripes


def _save(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def _stripes(size: int = 64) -> np.ndarray:
    """Diagonal stripes in two strong colours: the style."""
    yy, xx = np.mgrid[0:size, 0:size]
    band = ((xx + yy) // 4) % 2
    return np.where(band[..., None] == 1, STYLE_COLOURS[0], STYLE_COLOURS[1])


def _scene(width: int = 96, height: int = 64) -> np.ndarray:
    """A grey-blue room-ish picture: a gradient wall, a dark box, a light disc."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), np.float64)
    img[...] = (70, 90, 120)
    img += (xx / width * 60)[..., None]
    img[20:50, 10:40] = (30, 30, 40)
    img[((xx - 70) ** 2 + (yy - 30) ** 2) < 150] = (200, 210, 220)
    return img


def _train(tmp: Path, seed: int, tag: str, **params: Any) -> tuple[Path, dict[str, Any]]:
    inputs = {
        "style": _save(tmp / "style.png", _stripes()),
        "content0": _save(tmp / "content0.png", _scene()),
        "content1": _save(tmp / "content1.png", _scene()[::-1, ::-1]),
    }
    out = tmp / f"{tag}-{seed}.pt"
    request = Request(
        params=StyleParams(**{**TINY, "device": "cpu", **params}),
        seed=seed,
        outputs={"weights": out},
        inputs=inputs,
    )
    return out, StyleTrainer().generate(request)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three tiny runs: seed 1 twice, seed 2 once."""
    tmp = tmp_path_factory.mktemp("style")
    a, meta = _train(tmp, 1, "a")
    b, _ = _train(tmp, 1, "b")
    c, _ = _train(tmp, 2, "c")
    return {"a": a, "b": b, "c": c, "meta": meta, "tmp": tmp}


def test_trainer_declares_the_interface() -> None:
    assert StyleTrainer.id() == "model/style"
    assert StyleTrainer.outputs == {"weights": ".pt"}
    with pytest.raises(ValidationError):
        StyleParams(stpes=3)


def test_training_writes_loadable_weights_and_lowers_the_loss(trained: dict[str, Any]) -> None:
    payload = torch.load(trained["a"], map_location="cpu", weights_only=True)
    assert payload["format"] == "filmkit-style-net"
    config = payload["config"]
    assert (config["width"], config["blocks"], config["noise"]) == (4, 1, 2)
    assert payload["state_dict"]
    meta = trained["meta"]
    assert meta["steps"] == 30 and meta["device"] == "cpu"
    assert meta["final_loss"] < 0.8 * meta["first_loss"]


def test_same_seed_same_bytes_other_seed_other_network(trained: dict[str, Any]) -> None:
    assert trained["a"].read_bytes() == trained["b"].read_bytes()
    assert trained["a"].read_bytes() != trained["c"].read_bytes()


def test_training_needs_a_style_and_content(tmp_path: Path) -> None:
    request = Request(params=StyleParams(**TINY), seed=0, outputs={"weights": tmp_path / "w.pt"})
    with pytest.raises(GeneratorError, match="style image"):
        StyleTrainer().generate(request)


def test_apply_keeps_shape_and_strength_zero_is_identity(trained: dict[str, Any]) -> None:
    frame = _scene(53, 37).astype(np.uint8)  # odd sizes: the network pads to a multiple of 4
    stylist = Stylist([trained["a"], trained["c"]], scale=0.5)
    assert len(stylist) == 2
    for index in (0, 1):
        out = stylist.apply(frame, index)
        assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(stylist.apply(frame, 0), stylist.apply(frame, 1))
    frame.setflags(write=False)  # as frames read from files are: no warning from torch
    assert np.array_equal(stylist.apply(frame, 1), stylist.apply(frame, 1))  # fixed strokes
    with pytest.raises(GeneratorError, match="no network 2"):
        stylist.apply(frame, 2)
    untouched = Stylist([trained["a"]], strength=0.0).apply(frame, 0)
    assert np.array_equal(untouched, frame)
    half = Stylist([trained["a"]], strength=0.5, scale=1.0).apply(frame, 0)
    full = Stylist([trained["a"]], scale=1.0).apply(frame, 0)
    expected = (full.astype(np.float64) + frame) / 2
    assert np.abs(half - expected).max() <= 1.0


def test_stylised_colours_move_toward_the_style(trained: dict[str, Any]) -> None:
    frame = _scene().astype(np.uint8)
    out = Stylist([trained["a"]], scale=1.0).apply(frame, 0)
    style_mean = _stripes().reshape(-1, 3).mean(0)
    before = np.linalg.norm(frame.reshape(-1, 3).mean(0) - style_mean)
    after = np.linalg.norm(out.reshape(-1, 3).mean(0) - style_mean)
    assert after < 0.6 * before


def test_bad_weights_and_arguments_are_reported(tmp_path: Path, trained: dict[str, Any]) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(GeneratorError, match="junk.pt: cannot read model/style weights"):
        Stylist([junk])
    other = tmp_path / "other.pt"
    torch.save({"format": "filmkit-char-lstm", "config": {}, "state_dict": {}}, other)
    with pytest.raises(GeneratorError, match="other.pt: not model/style weights"):
        Stylist([other])
    with pytest.raises(GeneratorError, match="strength"):
        Stylist([trained["a"]], strength=1.5)
    with pytest.raises(GeneratorError, match="no model/style weights"):
        Stylist([])


def test_schedule_is_seeded_and_never_repeats() -> None:
    picks = schedule(200, 3, seed=7)
    assert picks.shape == (200,) and picks.dtype.kind == "i"
    assert np.array_equal(picks, schedule(200, 3, seed=7))
    assert not np.array_equal(picks, schedule(200, 3, seed=8))
    assert set(picks.tolist()) == {0, 1, 2}
    assert np.all(picks[1:] != picks[:-1])


def test_schedule_holds_each_pick_for_every_frames() -> None:
    picks = schedule(25, 2, seed=3, every=4)
    assert len(picks) == 25 and set(picks.tolist()) <= {0, 1}
    runs = picks.reshape(-1)[:24].reshape(6, 4)
    assert np.all(runs == runs[:, :1])  # constant within a run
    assert np.all(runs[1:, 0] != runs[:-1, 0])  # and a new network at every run
    assert picks[24] != picks[23]
    assert np.array_equal(schedule(9, 1, seed=5), np.zeros(9, np.int64))
    assert schedule(0, 3, seed=1).shape == (0,)
    with pytest.raises(ValueError):
        schedule(5, 0, seed=1)
