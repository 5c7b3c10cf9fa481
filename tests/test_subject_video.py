"""SubjectTracker: GrabCut cut-outs carried from frame to frame of a synthetic clip."""

from __future__ import annotations

import cv2
import numpy as np

from filmkit.render.masks import SubjectTracker, subject_mask

SUPER = 4  # shapes are drawn this much larger and shrunk, for anti-aliased edges
WIDTH, HEIGHT = 320, 192


def backdrop(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A blotchy wall of two muted colours above a darker skirting, touching every border."""
    x, y = np.arange(width)[None, :, None], np.arange(height)[:, None, None]
    back = np.where(x < 0.55 * width, np.array([112.0, 126, 140]), np.array([172.0, 162, 140]))
    back = np.where(y > 0.8 * height, np.array([96.0, 102, 86]), back) * np.ones((height, width, 1))
    blotches = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)), (0, 0), width / 60)
    return back + blotches / blotches.std() * 6


def person(width: int, height: int, x: float, size: float) -> np.ndarray:
    """Coverage (0..1) of a head on a neck over shoulders that run off the bottom, centred at x."""
    w, h, cx = width * SUPER, height * SUPER, x * SUPER
    big = np.zeros((h, w), np.uint8)
    head_y, top = 0.42 * h, 0.42 * h + 0.24 * h * size
    axes = (round(0.09 * w * size), round(0.2 * h * size))
    cv2.ellipse(big, (round(cx), round(head_y)), axes, 0, 0, 360, 255, -1)
    neck = 0.03 * w * size
    cv2.rectangle(big, (round(cx - neck), round(head_y)), (round(cx + neck), round(top)), 255, -1)
    top_half, bottom_half = 0.08 * w * size, 0.25 * w * size
    corners = [
        (cx - top_half, top),
        (cx + top_half, top),
        (cx + bottom_half, h),
        (cx - bottom_half, h),
    ]
    cv2.fillPoly(big, [np.round(corners).astype(np.int32)], 255)
    return cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def clip(
    frames: int, start: float, step: float, width: int = WIDTH, height: int = HEIGHT, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of a figure gliding ``step`` px a frame from ``start`` across, and its coverage."""
    rng = np.random.default_rng(seed)
    back = backdrop(width, height, rng)
    x, y = np.arange(width)[None, :, None], np.arange(height)[:, None, None]
    pictures, covers = [], []
    for i in range(frames):
        cx, size = start * width + step * i, 1 + 0.03 * np.sin(i / 2)
        cover = person(width, height, cx, size)
        stripes = 14 * np.sign(np.sin((x - cx) / (width / 40)))  # a striped plum shirt
        shirt = np.array([150.0, 36, 48]) + stripes
        skin = np.array([208.0, 152, 118]) * np.ones((1, width, 1))
        subject = np.where(y < 0.42 * height + 0.22 * height * size, skin, shirt)
        subject = subject + rng.normal(0, 8, (height, width, 3))
        wall = back + rng.normal(0, 4, (height, width, 3))
        mixed = subject * cover[..., None] + wall * (1 - cover[..., None])
        pictures.append(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))
        covers.append(cover)
    return pictures, covers


def iou(alpha: np.ndarray, cover: np.ndarray) -> float:
    """Intersection over union of the mask's opaque half and the true silhouette."""
    a, t = alpha >= 128, cover >= 0.5
    return float((a & t).sum() / (a | t).sum())


def test_tracker_follows_a_moving_figure_with_one_grabcut_round_a_frame() -> None:
    frames, covers = clip(12, start=0.35, step=5)
    tracker = SubjectTracker()

    first = tracker.mask(frames[0])
    first_rounds = tracker.rounds
    alphas = [first]
    for frame in frames[1:]:
        before = tracker.rounds
        alphas.append(tracker.mask(frame))
        assert tracker.rounds == before + 1  # the carried cut needs one round, no k-means

    # The first frame is subject_mask's cut, which took more rounds from its border seed.
    assert np.array_equal(first, subject_mask(frames[0]))
    assert first_rounds >= 2 and tracker.fresh == 1
    for alpha, cover in zip(alphas, covers, strict=True):
        assert alpha.shape == (HEIGHT, WIDTH) and alpha.dtype == np.uint8
        assert iou(alpha, cover) >= 0.95
    soft = (alphas[-1] > 0) & (alphas[-1] < 255)
    assert soft.sum() > 200  # feathered like subject_mask's


def test_tracker_is_deterministic() -> None:
    frames, _ = clip(6, start=0.4, step=6, seed=1)
    one, two = SubjectTracker(feather=0), SubjectTracker(feather=0)
    for frame in frames:
        alpha = one.mask(frame)
        # Whatever else drew from OpenCV's random generator, the cut is the same.
        cv2.randu(np.zeros((8, 8), np.float32), 0, 1)
        assert np.array_equal(two.mask(frame), alpha)
        assert set(np.unique(alpha)) <= {0, 255}


def test_reset_and_a_new_frame_size_start_from_scratch() -> None:
    frames, covers = clip(5, start=0.35, step=5, seed=2)
    tracker = SubjectTracker()
    for frame in frames[:3]:
        tracker.mask(frame)
    tracker.reset()
    before = tracker.rounds
    assert np.array_equal(tracker.mask(frames[3]), subject_mask(frames[3]))
    assert tracker.rounds - before >= 2 and tracker.fresh == 2  # cut afresh, not carried
    before = tracker.rounds
    assert iou(tracker.mask(frames[4]), covers[4]) >= 0.95
    assert tracker.rounds == before + 1

    wide, wide_covers = clip(2, start=0.5, step=5, width=256, height=160, seed=3)
    before = tracker.rounds
    alpha = tracker.mask(wide[0])
    assert alpha.shape == (160, 256)
    assert np.array_equal(alpha, subject_mask(wide[0]))
    assert tracker.fresh == 3
    assert iou(tracker.mask(wide[1]), wide_covers[1]) >= 0.95


def test_tracker_follows_a_figure_out_of_the_frame() -> None:
    frames, covers = clip(10, start=0.62, step=6, seed=4)
    tracker = SubjectTracker()
    for frame, cover in zip(frames, covers, strict=True):
        assert iou(tracker.mask(frame), cover) >= 0.9
    assert covers[-1][:, -1].max() == 1  # the shoulders and the head's edge are cut off
    # Once the figure has gone, only the wall is left, and nothing is cut out of it.
    wall = backdrop(WIDTH, HEIGHT, np.random.default_rng(4))
    alpha = tracker.mask(np.clip(np.rint(wall), 0, 255).astype(np.uint8))
    assert np.count_nonzero(alpha >= 128) <= 0.01 * alpha.size
    assert tracker.fresh == 1  # carried, not cut afresh, to the empty wall
