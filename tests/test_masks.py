"""Masks: GrabCut cut-out, chroma key and a user's ONNX model, on small synthetic pictures."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from filmkit.render.masks import apply_mask, chroma_key, model_mask, subject_mask

SUPER = 4  # silhouettes are drawn this much larger and shrunk, for anti-aliased edges


def silhouette(width: int, height: int) -> np.ndarray:
    """Coverage (0..1) of a head-and-shoulders figure whose shoulders run off the bottom."""
    w, h = width * SUPER, height * SUPER
    big = np.zeros((h, w), np.uint8)
    cv2.ellipse(big, (w // 2, int(h * 0.38)), (int(w * 0.12), int(h * 0.2)), 0, 0, 360, 255, -1)
    cv2.rectangle(big, (int(w * 0.46), int(h * 0.5)), (int(w * 0.54), int(h * 0.72)), 255, -1)
    cv2.ellipse(big, (w // 2, h), (int(w * 0.34), int(h * 0.32)), 0, 180, 360, 255, -1)
    small = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255


def over(subject: np.ndarray, back: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """The subject laid over the backdrop with its coverage, as uint8 RGB."""
    mixed = subject * cover[..., None] + back * (1 - cover[..., None])
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def dressed(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy skin-coloured head above noisy plum cloth."""
    rows = np.arange(height)[:, None, None]
    skin = np.array([205.0, 150.0, 120.0]) + rng.normal(0, 10, (height, width, 3))
    cloth = np.array([110.0, 40.0, 60.0]) + rng.normal(0, 12, (height, width, 3))
    return np.where(rows < height * 0.6, skin, cloth)


def iou(alpha: np.ndarray, cover: np.ndarray) -> float:
    """Intersection over union of the mask's opaque half and the true silhouette."""
    a, t = alpha >= 128, cover >= 0.5
    return float((a & t).sum() / (a | t).sum())


def green_excess(rgb: np.ndarray) -> np.ndarray:
    """How far green stands above the larger of red and blue, per pixel."""
    return rgb[..., 1].astype(np.int32) - rgb[..., [0, 2]].max(axis=2)


def test_subject_mask_cuts_a_figure_from_a_textured_backdrop() -> None:
    rng = np.random.default_rng(7)
    width, height = 480, 320
    cover = silhouette(width, height)
    across, down = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    back = np.stack([50 + 60 * across, 120 + 70 * down, 150 + 70 * across - 40 * down], axis=2)
    blotches = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)), (0, 0), 8)
    back += blotches / blotches.std() * 10 + rng.normal(0, 6, back.shape)
    picture = over(dressed(width, height, rng), back, cover)

    alpha = subject_mask(picture)

    assert alpha.shape == (height, width) and alpha.dtype == np.uint8
    assert iou(alpha, cover) >= 0.97
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 200  # a feathered edge all the way round
    # ... and only at the edge: inside and outside are solid.
    edge = cv2.dilate(((cover > 0) & (cover < 1)).astype(np.uint8), np.ones((7, 7)))
    assert not np.any(soft & (edge == 0))


def test_subject_mask_clear_of_the_border_hard_edged_and_repeatable() -> None:
    rng = np.random.default_rng(3)
    width, height = 320, 240
    big = np.zeros((height * SUPER, width * SUPER), np.uint8)
    cv2.circle(big, (width * SUPER // 2, height * SUPER // 2), 70 * SUPER, 255, -1)
    cover = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA) / 255.0
    back = np.array([235.0, 230.0, 215.0]) + rng.normal(0, 5, (height, width, 3))
    picture = over(dressed(width, height, rng), back, cover)

    alpha = subject_mask(picture, feather=0)

    assert set(np.unique(alpha)) <= {0, 255}
    assert iou(alpha, cover) >= 0.97
    # Whatever else drew from OpenCV's random generator, the cut is the same.
    cv2.randu(np.zeros((8, 8), np.float32), 0, 1)
    assert np.array_equal(subject_mask(picture, feather=0), alpha)


def test_subject_mask_refuses_a_picture_that_is_not_rgb() -> None:
    with pytest.raises(ValueError, match="uint8"):
        subject_mask(np.zeros((40, 40), np.uint8))


def test_chroma_key_keys_a_shaded_green_backdrop_and_removes_spill() -> None:
    rng = np.random.default_rng(11)
    width, height = 320, 240
    cover = silhouette(width, height)
    key = (40, 180, 60)
    across, down = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    shade = 0.55 + 0.45 * across * (1 - 0.3 * down)  # lit from the right, half as bright left
    back = np.array(key, float) * shade[..., None] + rng.normal(0, 4, (height, width, 3))
    subject = dressed(width, height, rng)
    rim = np.clip(4 * cover * (1 - cover), 0, 1)  # green light bouncing onto the edges
    subject += rim[..., None] * np.array([-10.0, 40.0, -10.0])
    picture = over(subject, back, cover)

    rgb, alpha = chroma_key(picture, key)

    assert iou(alpha, cover) >= 0.95
    clear = cv2.erode((cover == 0).astype(np.uint8), np.ones((3, 3))) == 1
    # The dark end of the backdrop keys too, bar a speck or two of noise.
    assert np.count_nonzero(alpha[clear]) <= 0.001 * clear.sum()
    assert np.all(alpha[cover == 1] == 255)
    edge = (cover > 0.2) & (cover < 0.8)
    assert green_excess(picture)[edge].mean() > 20
    assert green_excess(rgb)[edge].max() <= 0
    # Despill only pulls the key colour down: skin keeps its red and blue.
    inside = cover == 1
    assert np.array_equal(rgb[inside][:, [0, 2]], picture[inside][:, [0, 2]])


def test_chroma_key_alpha_ramps_over_the_softness() -> None:
    key = (30, 70, 200)
    ramp = np.linspace(0, 1, 64)[None, :, None]
    picture = np.rint(np.array(key) * (1 - ramp) + np.array([200, 180, 60]) * ramp)
    _, hard = chroma_key(picture.astype(np.uint8).repeat(8, axis=0), key, 0.3, 0)
    _, soft = chroma_key(picture.astype(np.uint8).repeat(8, axis=0), key, 0.3, 0.5)
    assert set(np.unique(hard)) == {0, 255}
    assert np.all(np.diff(soft[4].astype(int)) >= 0)  # monotonic from backdrop to subject
    assert (
        np.count_nonzero((soft[4] > 0) & (soft[4] < 255))
        > 2 * np.count_nonzero((hard[4] > 0) & (hard[4] < 255)) + 4
    )
    with pytest.raises(ValueError, match="grey"):
        chroma_key(picture.astype(np.uint8), (128, 128, 128))


class RedIsForeground:
    """Builds a fixed-weight torch model: a 1x1 convolution scoring red over green."""

    gain = 40.0

    @classmethod
    def export(cls, path: Path, *, logits: bool, size: tuple[int, int]) -> Path:
        torch = pytest.importorskip("torch")

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.score = torch.nn.Conv2d(3, 2, 1)
                with torch.no_grad():
                    # channel 0: red minus green; channel 1: its opposite
                    weight = torch.tensor([[cls.gain, -cls.gain, 0.0], [-cls.gain, cls.gain, 0.0]])
                    self.score.weight.copy_(weight.view(2, 3, 1, 1))
                    self.score.bias.fill_(0.0)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                scores = self.score(x)
                return scores if logits else torch.sigmoid(scores)

        width, height = size
        example = torch.zeros(1, 3, height, width)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                Net().eval(),
                (example,),
                str(path),
                dynamo=False,
                input_names=["image"],
                output_names=["mask"],
            )
        return path


def red_square(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey-green picture with a red square, and the square's mask."""
    picture = np.full((height, width, 3), (90, 140, 90), np.uint8)
    truth = np.zeros((height, width), np.float32)
    picture[60:180, 100:220] = (220, 40, 40)
    truth[60:180, 100:220] = 1
    return picture, truth


@pytest.mark.parametrize("logits", [False, True])
def test_model_mask_runs_an_onnx_model(tmp_path: Path, logits: bool) -> None:
    size = (64, 48)
    model = RedIsForeground.export(tmp_path / "red.onnx", logits=logits, size=size)
    picture, truth = red_square(320, 240)
    output = "logits" if logits else "probability"

    alpha = model_mask(picture, model, size=size, output=output)

    assert alpha.shape == (240, 320) and alpha.dtype == np.uint8
    assert iou(alpha, truth) >= 0.95
    assert alpha[120, 160] >= 250 and alpha[10, 10] <= 5
    # The other channel is the background's score: the square comes out as a hole.
    inverse = model_mask(picture, model, size=size, output=output, channel=1)
    assert iou(inverse, 1 - truth) >= 0.95
    # Read as the wrong kind, the numbers show it: logits taken for probabilities saturate,
    # probabilities put through a sigmoid never leave 0.5..0.73.
    wrong = model_mask(picture, model, size=size, output="probability" if logits else "logits")
    if logits:
        assert np.mean((wrong == 0) | (wrong == 255)) > 0.95
    else:
        assert wrong.min() >= 127 and wrong.max() <= 187


def test_model_mask_rejects_a_broken_model_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    picture, _ = red_square(320, 240)
    with pytest.raises(ValueError, match="broken.onnx"):
        model_mask(picture, broken)
    with pytest.raises(ValueError, match="missing.onnx"):
        model_mask(picture, tmp_path / "missing.onnx")
    model = RedIsForeground.export(tmp_path / "red.onnx", logits=False, size=(64, 48))
    with pytest.raises(ValueError, match=r"red\.onnx.*channel 2"):
        model_mask(picture, model, size=(64, 48), channel=2)


def test_apply_mask_makes_rgba() -> None:
    picture, truth = red_square(320, 240)
    image = apply_mask(picture, (truth * 255).astype(np.uint8))
    assert image.mode == "RGBA" and image.size == (320, 240)
    assert image.getpixel((150, 100)) == (220, 40, 40, 255)
    assert image.getpixel((10, 10))[3] == 0
    with pytest.raises(ValueError, match="does not match"):
        apply_mask(picture, np.zeros((10, 10), np.uint8))
