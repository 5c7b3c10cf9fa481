"""Triangulated landmark morphing: endpoints, halfway shapes, alpha, and the fast path."""

from __future__ import annotations

import numpy as np
import pytest

from filmkit.generators.image.landmarks import TEMPLATE_NAMES, Face
from filmkit.render.morph import Morpher, border_points, fit, morph, morph_points

H, W = 96, 128


def picture(seed: int, channels: int = 3) -> np.ndarray:
    """A smooth random picture (no flat areas, so a misplaced pixel shows)."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (H, W, channels), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    smooth = cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX)
    return smooth.reshape(H, W, channels)


def points(seed: int, count: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding points, well inside the picture, moved a little from a to b."""
    rng = np.random.default_rng(seed)
    pa = rng.uniform((20, 15), (W - 20, H - 15), (count, 2))
    pb = pa + rng.normal(0, 4, (count, 2))
    return pa, pb


@pytest.mark.parametrize("channels", [3, 4])
def test_endpoints_reproduce_their_sources(channels: int) -> None:
    a, b = picture(1, channels), picture(2, channels)
    if channels == 4:
        a[:20, :30, 3] = 0  # some transparency, and some half-transparency
        b[-30:, -40:, 3] = 90
    pa, pb = points(3)
    assert np.array_equal(morph(a, pa, b, pb, 0.0), a)
    assert np.array_equal(morph(a, pa, b, pb, 1.0), b)
    morpher = Morpher(a, pa, b, pb)
    assert np.array_equal(morpher.frame(0.0), a)
    assert np.array_equal(morpher.frame(1.0), b)
    # The general path too, a hair away from the ends.
    for frame in (morph(a, pa, b, pb, 1e-6), morpher.frame(1e-6)):
        assert frame.dtype == np.uint8 and frame.shape == a.shape
        assert np.abs(frame.astype(int) - a).max() <= 2
    for frame in (morph(a, pa, b, pb, 1 - 1e-6), morpher.frame(1 - 1e-6)):
        assert np.abs(frame.astype(int) - b).max() <= 2


def square(centre: tuple[float, float], half: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A white square on black, and its corners and centre as points."""
    img = np.zeros((H * 2, W * 2, 3), np.uint8)
    cx, cy = centre
    img[int(cy) - half : int(cy) + half, int(cx) - half : int(cx) + half] = 255
    x0, y0, x1, y1 = cx - half - 0.5, cy - half - 0.5, cx + half - 0.5, cy + half - 0.5
    pts = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (cx - 0.5, cy - 0.5)])
    return img, pts


def centroid(img: np.ndarray) -> np.ndarray:
    weight = img[:, :, 0].astype(np.float64)
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.8])
def test_a_moved_square_is_part_way_at_alpha(alpha: float) -> None:
    a, pa = square((60, 70))
    b, pb = square((180, 130))
    for frame in (morph(a, pa, b, pb, alpha), Morpher(a, pa, b, pb).frame(alpha)):
        want = (1 - alpha) * centroid(a) + alpha * centroid(b)
        assert np.abs(centroid(frame) - want).max() < 1.0
        # Shapes line up: one solid square, not two ghosts.
        assert (frame[:, :, 0] > 250).sum() == pytest.approx((a[:, :, 0] > 250).sum(), rel=0.1)


def test_warp_and_dissolve_are_separate() -> None:
    a, pa = square((60, 70))
    b, pb = square((180, 130))
    # Warp 0: both pictures in a's shape, so b's square is moved onto a's.
    still = morph(a, pa, b, pb, 0.5, warp=0.0)
    assert still[70, 60, 0] == 255 and still[130, 180, 0] == 0
    assert np.abs(centroid(still) - centroid(a)).max() < 1.0
    # Warp only (alpha 0): a's square, moved all the way.
    moved = morph(a, pa, b, pb, 0.0, warp=1.0)
    assert np.abs(centroid(moved) - centroid(b)).max() < 1.0


def test_the_alpha_channel_morphs() -> None:
    a = np.zeros((H, W, 4), np.uint8)
    a[:, :, 1] = 200  # green under full transparency: must not leak into the mix
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 < 20**2
    a[disc] = (255, 0, 0, 255)
    b = np.zeros((H, W, 4), np.uint8)
    b[:] = (0, 0, 255, 255)
    pa = pb = np.array([(44.0, 48.0), (84.0, 48.0), (64.0, 28.0), (64.0, 68.0)])
    for frame in (morph(a, pa, b, pb, 0.25), Morpher(a, pa, b, pb).frame(0.25)):
        inside, outside = frame[48, 64], frame[5, 5]
        assert inside[3] == 255
        assert outside[3] == pytest.approx(64, abs=1)
        assert np.abs(outside[:3].astype(int) - (0, 0, 255)).max() <= 1  # only b shows there
        assert inside[0] == pytest.approx(191, abs=1) and inside[2] == pytest.approx(64, abs=1)
    # Fully transparent in both: the colour fades from a's to b's, unweighted.
    b[:, :, 3] = 0
    clear = morph(a, pa, b, pb, 0.5)[5, 5]
    assert clear[3] == 0 and clear[1] == pytest.approx(100, abs=1)


def test_morpher_matches_morph() -> None:
    a, b = picture(4), picture(5)
    pa, pb = points(6, 20)
    pb = pb + np.random.default_rng(7).normal(0, 6, pb.shape)  # some folding
    morpher = Morpher(a, pa, b, pb)
    for alpha, warp in ((0.2, None), (0.5, None), (0.8, None), (0.3, 0.6), (0.7, 0.6)):
        fast = morpher.frame(alpha, warp).astype(int)
        plain = morph(a, pa, b, pb, alpha, warp).astype(int)
        assert np.abs(fast - plain).max() <= 2
        assert np.abs(fast - plain).mean() < 0.05
    assert morpher.size == (W, H)
    corners = {len(pa), len(pa) + 2, len(pa) + 4, len(pa) + 6}
    assert morpher.triangles.shape[1] == 3 and corners <= set(morpher.triangles.ravel())


def test_b_of_another_size_is_fitted_to_a() -> None:
    import cv2

    a, b = picture(8), picture(9)
    pa, pb = points(10)
    big = cv2.resize(b, (W * 2, H * 2), interpolation=cv2.INTER_LINEAR)
    _, big_pts = fit(b, pb, (W * 2, H * 2))
    same = morph(a, pa, b, pb, 0.5).astype(int)
    fitted = morph(a, pa, big, big_pts, 0.5).astype(int)
    assert np.abs(same - fitted).mean() < 3
    half = morph(a, pa, b, pb, 0.5, size=(W // 2, H // 2))
    assert half.shape == (H // 2, W // 2, 3)
    assert len(border_points(W, H)) == 8


def test_points_outside_the_picture_and_bad_input() -> None:
    a, b = picture(11), picture(12)
    pa, pb = points(13)
    pa[0] = (-40, -40)  # clipped onto the border
    pb[1] = (W + 50, H / 2)
    assert morph(a, pa, b, pb, 0.5).shape == a.shape
    with pytest.raises(ValueError, match="differ in length"):
        morph(a, pa, b, pb[:-1], 0.5)
    with pytest.raises(ValueError, match="channels"):
        morph(a, pa, picture(1, 4), pb, 0.5)


def test_morph_points_of_two_faces() -> None:
    one = Face((0, 0, 100, 100), (35.0, 45.0), (65.0, 45.0), (50.0, 77.0), 26.0)
    two = Face((10, 5, 120, 115), (50.0, 52.0), (88.0, 58.0), (66.0, 95.0), 30.0)
    pa, pb = morph_points(one, two)
    assert pa.shape == pb.shape == (len(TEMPLATE_NAMES), 2)
    a, b = picture(14), picture(15)
    frame = Morpher(a, pa, b, pb).frame(0.5)
    assert frame.shape == a.shape


def test_outlines_match_along_rays_and_sides_where_both_end_inside() -> None:
    from filmkit.render.morph import silhouette_points

    yy, xx = np.mgrid[0:200, 0:200]
    small = np.where((xx - 100) ** 2 + (yy - 90) ** 2 <= 30**2, 255, 0).astype(np.uint8)
    big = np.where((xx - 100) ** 2 + (yy - 90) ** 2 <= 60**2, 255, 0).astype(np.uint8)
    pa, pb = silhouette_points(small, (100, 90), big, (100, 90), rays=16)
    assert len(pa) == len(pb) == 16  # the discs are whole: every ray, no sides cut off
    assert np.allclose(np.hypot(pa[:, 0] - 100, pa[:, 1] - 90), 30, atol=1.5)
    assert np.allclose(np.hypot(pb[:, 0] - 100, pb[:, 1] - 90), 60, atol=1.5)
    angles = np.arctan2(pa[:, 1] - 90, pa[:, 0] - 100)
    assert np.allclose(angles, np.arctan2(pb[:, 1] - 90, pb[:, 0] - 100), atol=0.06)
    # A figure cut off by the bottom edge: its sides are matched row by row instead.
    bust_a = np.where((abs(xx - 100) < 40) & (yy > 60), 255, 0).astype(np.uint8)
    bust_b = np.where((abs(xx - 100) < 70) & (yy > 60), 255, 0).astype(np.uint8)
    pa, pb = silhouette_points(bust_a, (100, 80), bust_b, (100, 80), rays=8)
    lows_a, lows_b = pa[pa[:, 1] > 150], pb[pb[:, 1] > 150]
    assert len(lows_a) == len(lows_b) == 6
    assert set(np.round(lows_a[:, 0])) == {61, 139} and set(np.round(lows_b[:, 0])) == {31, 169}
