"""Landmark morphing: one picture turning into another, point by point.

The classic triangulated morph. Both pictures carry the same K corresponding
points (for faces, :func:`morph_points` gives them); the eight border points
(corners and edge midpoints) are added to both, and the average shape is
Delaunay-triangulated once. For a frame, the points are moved a fraction
``warp`` of the way from ``a``'s shape to ``b``'s; every triangle of ``a`` and
of ``b`` is warped affinely onto its place in that shape, and the two warped
pictures are cross-dissolved, ``alpha`` of ``b`` over ``1 - alpha`` of ``a``.
``warp`` defaults to ``alpha``: ``warp=0`` shows both pictures in ``a``'s
shape, ``alpha=0`` shows only ``a``, warped to the shape at ``warp``.

:func:`morph` renders one frame the plain way, a triangle at a time
(``cv2.getAffineTransform`` and ``cv2.warpAffine`` over the triangle's bounding
box, kept inside the triangle's mask). :class:`Morpher` renders many frames of
one pair: it keeps the triangulation and the prepared pictures, and renders a
frame with two whole-picture ``cv2.remap`` calls whose maps it builds with
vectorised numpy; it gives the same pixels as :func:`morph`, to within a level of
rounding here and there.

Pictures are uint8 H x W x 3 or H x W x 4 (RGBA, straight alpha). An alpha
channel morphs too: colours are weighted by their opacity (a transparent
pixel's colour does not bleed into its neighbours), and a fully transparent
pixel keeps its own colour. Every frame is computed in float32 and rounded to
uint8; ``alpha=0`` (with ``warp=0``) gives back ``a`` exactly and ``alpha=1``
(with ``warp=1``) ``b``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from filmkit.lazy import numpy as np

if TYPE_CHECKING:
    from filmkit.generators.image.landmarks import Face

# Opacity every pixel is given on top of its own when colours are weighted by
# opacity, so that fully transparent pixels still have a colour to mix.
CLEAR = 1e-3
# Bits of sub-pixel precision for rasterising triangles (cv2.fillConvexPoly's shift).
SHIFT = 8


def morph(
    a: np.ndarray,
    pts_a: np.ndarray,
    b: np.ndarray,
    pts_b: np.ndarray,
    alpha: float,
    warp: float | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """One frame of the morph from ``a`` to ``b``: uint8, the size of ``a`` (or ``size``).

    ``pts_a`` and ``pts_b`` are K x 2 corresponding points (x, y in pixels).
    ``b`` is resized to ``a``'s size first if it differs (its points scaled
    with it); with ``size`` (width, height) both are. Triangle by triangle:
    see the module's description.
    """
    mesh = _Mesh(a, pts_a, b, pts_b, size)
    done = mesh.endpoint(alpha, warp)
    if done is not None:
        return done
    w = alpha if warp is None else warp
    shape, valid, matrices = mesh.shape(w)
    labels = mesh.labels(shape, valid)
    warped = [
        _warp_triangles(source, shape, valid, pts, matrices[which][-1], labels, mesh)
        if weight != 0
        else None
        for which, (source, pts, weight) in enumerate(
            ((mesh.a_src, mesh.pts_a, 1 - alpha), (mesh.b_src, mesh.pts_b, alpha))
        )
    ]
    return mesh.dissolve(warped[0], warped[1], alpha)


class Morpher:
    """Many frames of the morph of one pair: ``Morpher(a, pts_a, b, pts_b).frame(alpha)``.

    Keeps the triangulation, the pictures (brought to one size and, with an
    alpha channel, weighted by opacity) and a pixel grid; a frame costs one
    rasterisation of the triangles, two maps and two ``cv2.remap`` calls. The
    maps of the last ``warp`` are kept, so frames that only dissolve
    (a fixed ``warp``) reuse them.
    """

    def __init__(
        self,
        a: np.ndarray,
        pts_a: np.ndarray,
        b: np.ndarray,
        pts_b: np.ndarray,
        size: tuple[int, int] | None = None,
    ) -> None:
        self._mesh = _Mesh(a, pts_a, b, pts_b, size)
        self._grid: tuple[Any, Any] | None = None  # pixel x and y, made on first use
        self._maps: tuple[float, Any] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self._mesh.width, self._mesh.height

    @property
    def triangles(self) -> np.ndarray:
        """The triangulation: T x 3 indices into the points (K given, then 8 border points)."""
        return self._mesh.triangles

    def frame(self, alpha: float, warp: float | None = None) -> np.ndarray:
        """The frame at ``alpha`` (dissolve) and ``warp`` (shape; default ``alpha``)."""
        import cv2

        mesh = self._mesh
        done = mesh.endpoint(alpha, warp)
        if done is not None:
            return done
        w = float(alpha if warp is None else warp)
        if self._maps is None or self._maps[0] != w:
            self._maps = (w, self._build_maps(w))
        (ax, ay), (bx, by) = self._maps[1]
        flags, border = cv2.INTER_LINEAR, cv2.BORDER_REPLICATE
        # A frame that is all one picture (alpha 0 or 1) warps only that one.
        warped_a = cv2.remap(mesh.a_src, ax, ay, flags, borderMode=border) if alpha != 1 else None
        warped_b = cv2.remap(mesh.b_src, bx, by, flags, borderMode=border) if alpha != 0 else None
        return mesh.dissolve(warped_a, warped_b, alpha)

    def _build_maps(self, w: float) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        """Per-pixel source coordinates in ``a`` and in ``b`` for the shape at ``w``."""
        import cv2

        mesh = self._mesh
        shape, valid, matrices = mesh.shape(w)
        labels = mesh.labels(shape, valid)
        # Coefficient planes: source, row, coefficient, then one entry per label.
        planes = np.ascontiguousarray(matrices.transpose(0, 2, 3, 1), dtype=np.float32)
        if labels.dtype == np.uint8:
            # cv2.LUT is the fastest gather there is, for up to 256 labels.
            table = np.zeros(planes.shape[:3] + (256,), np.float32)
            table[..., : planes.shape[3]] = planes

            def gather(which: int, row: int, k: int) -> np.ndarray:
                return cv2.LUT(labels, table[which, row, k])

        else:

            def gather(which: int, row: int, k: int) -> np.ndarray:
                return np.take(planes[which, row, k], labels)

        if self._grid is None:
            height, width = mesh.height, mesh.width
            xs = np.arange(width, dtype=np.float32)[None, :]
            ys = np.arange(height, dtype=np.float32)[:, None]
            self._grid = (
                np.ascontiguousarray(np.broadcast_to(xs, (height, width))),
                np.ascontiguousarray(np.broadcast_to(ys, (height, width))),
            )
        grid_x, grid_y = self._grid
        maps = []
        for which in (0, 1):
            coords = []
            for row in (0, 1):
                # c2 + c0 * x + c1 * y, accumulated in place.
                coord = gather(which, row, 2)
                cv2.accumulateProduct(gather(which, row, 0), grid_x, coord)
                cv2.accumulateProduct(gather(which, row, 1), grid_y, coord)
                coords.append(coord)
            maps.append((coords[0], coords[1]))
        return maps[0], maps[1]


def morph_points(face_a: Face, face_b: Face) -> tuple[np.ndarray, np.ndarray]:
    """The corresponding points of two faces (the landmark template placed on each)."""
    return face_a.points(), face_b.points()


def silhouette_points(
    alpha_a: np.ndarray,
    centre_a: tuple[float, float],
    alpha_b: np.ndarray,
    centre_b: tuple[float, float],
    rays: int = 32,
    margin: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Matching points on the outlines of two cut-out pictures (their alpha, H x W):
    along ``rays`` directions from each one's ``centre`` (the eyes' midpoint, say), the
    farthest opaque pixel. A direction counts only where both outlines end inside the
    picture (``margin`` pixels from its edge): a figure cut off by the frame has no
    outline there. So a morph turns one head of hair, one pair of shoulders, into the
    other, rather than dissolving them."""
    found = []
    for alpha, centre in ((alpha_a, centre_a), (alpha_b, centre_b)):
        height, width = alpha.shape
        reach = np.hypot(width, height)
        steps = np.linspace(0.0, reach, int(reach))
        angles = 2 * np.pi * np.arange(rays) / rays
        xs = centre[0] + np.cos(angles)[:, None] * steps
        ys = centre[1] + np.sin(angles)[:, None] * steps
        inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
        xi = np.clip(np.rint(xs), 0, width - 1).astype(np.int64)
        yi = np.clip(np.rint(ys), 0, height - 1).astype(np.int64)
        opaque = inside & (alpha[yi, xi] > 127)
        last = np.where(opaque.any(axis=1), steps.size - 1 - np.argmax(opaque[:, ::-1], axis=1), -1)
        points = np.stack([xs[np.arange(rays), last], ys[np.arange(rays), last]], axis=1)
        clear = (
            (last > 0)
            & (points[:, 0] >= margin)
            & (points[:, 0] <= width - 1 - margin)
            & (points[:, 1] >= margin)
            & (points[:, 1] <= height - 1 - margin)
        )
        found.append((points, clear))
    (pa, ca), (pb, cb) = found
    both = ca & cb
    sides_a, sides_b = _sides(alpha_a, alpha_b, margin)
    return np.concatenate([pa[both], sides_a]), np.concatenate([pb[both], sides_b])


# Heights (fractions of the picture) where a figure's sides are matched: the shoulders
# of a head-and-shoulders portrait, which the picture's bottom edge cuts off.
SIDE_ROWS = (0.8, 0.88, 0.96)


def _sides(alpha_a: np.ndarray, alpha_b: np.ndarray, margin: float) -> tuple[Any, Any]:
    """The leftmost and rightmost opaque pixels of both pictures at SIDE_ROWS, where both
    have some inside the picture."""
    ends: list[list[tuple[float, float]]] = [[], []]
    for fraction in SIDE_ROWS:
        rows = []
        for alpha in (alpha_a, alpha_b):
            height, width = alpha.shape
            y = round(fraction * (height - 1))
            xs = np.flatnonzero(alpha[y] > 127)
            inside = len(xs) and xs[0] >= margin and xs[-1] <= width - 1 - margin
            rows.append((float(xs[0]), float(xs[-1]), float(y)) if inside else None)
        if rows[0] is not None and rows[1] is not None:
            for k, (left, right, y) in enumerate(rows):
                ends[k] += [(left, y), (right, y)]
    return tuple(np.array(e, np.float64).reshape(-1, 2) for e in ends)


def fit(image: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> tuple[Any, Any]:
    """``image`` resized to ``size`` (width, height) and ``points`` scaled to match."""
    import cv2

    height, width = image.shape[:2]
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if (width, height) == tuple(size):
        return image, pts
    sx, sy = size[0] / width, size[1] / height
    method = cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (int(size[0]), int(size[1])), interpolation=method)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    # Pixel centres map onto pixel centres.
    scaled = (pts + 0.5) * np.array([sx, sy]) - 0.5
    return resized, scaled


def border_points(width: int, height: int) -> np.ndarray:
    """The eight border points of a picture: corners and edge midpoints (8 x 2)."""
    x1, y1 = width - 1.0, height - 1.0
    xm, ym = x1 / 2, y1 / 2
    return np.array(
        [(0, 0), (xm, 0), (x1, 0), (x1, ym), (x1, y1), (xm, y1), (0, y1), (0, ym)], np.float64
    )


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (T x 3 point indices) of ``points``, flat triangles dropped."""
    from scipy.spatial import Delaunay

    pts = np.asarray(points, np.float64)
    tris = Delaunay(pts).simplices.astype(np.int64)
    area = _areas(pts[tris])
    return tris[np.abs(area) > 1e-6]


def _areas(tri: np.ndarray) -> np.ndarray:
    """Signed areas of T x 3 x 2 triangles."""
    u = tri[:, 1] - tri[:, 0]
    v = tri[:, 2] - tri[:, 0]
    return 0.5 * (u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])


class _Mesh:
    """What :func:`morph` and :class:`Morpher` share: sizes, points, triangles, pictures."""

    def __init__(
        self,
        a: np.ndarray,
        pts_a: np.ndarray,
        b: np.ndarray,
        pts_b: np.ndarray,
        size: tuple[int, int] | None,
    ) -> None:
        a, b = _check_image(a, "a"), _check_image(b, "b")
        pa = np.asarray(pts_a, np.float64).reshape(-1, 2)
        pb = np.asarray(pts_b, np.float64).reshape(-1, 2)
        if pa.shape != pb.shape:
            raise ValueError(f"pts_a and pts_b differ in length: {len(pa)} and {len(pb)}")
        if a.shape[2] != b.shape[2]:
            raise ValueError(f"a has {a.shape[2]} channels and b {b.shape[2]}: give both alike")
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            raise ValueError("morph points must be finite")
        target = (a.shape[1], a.shape[0]) if size is None else (int(size[0]), int(size[1]))
        if min(target) < 2:
            raise ValueError(f"a morph needs pictures of at least 2 x 2 pixels, not {target}")
        a, pa = fit(a, pa, target)
        b, pb = fit(b, pb, target)
        self.a, self.b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        self.width, self.height = target
        self.channels = a.shape[2]
        limit = np.array([self.width - 1.0, self.height - 1.0])
        border = border_points(self.width, self.height)
        self.pts_a = np.vstack([np.clip(pa, 0, limit), border])
        self.pts_b = np.vstack([np.clip(pb, 0, limit), border])
        self.triangles = triangulate((self.pts_a + self.pts_b) / 2)
        self.a_src, self.b_src = self._source(self.a), self._source(self.b)

    def _source(self, image: np.ndarray) -> np.ndarray:
        """What gets warped: the picture itself, or with alpha its opacity-weighted float form."""
        if self.channels != 4:
            return image
        weight = image[:, :, 3:].astype(np.float32) * np.float32(1 / 255) + np.float32(CLEAR)
        rgb = image[:, :, :3].astype(np.float32) * weight
        return np.ascontiguousarray(np.concatenate([rgb, weight], axis=2))

    def endpoint(self, alpha: float, warp: float | None) -> np.ndarray | None:
        """A copy of ``a`` or ``b`` when the frame is exactly one of them, else None."""
        w = alpha if warp is None else warp
        if alpha == 0 and w == 0:
            return self.a.copy()
        if alpha == 1 and w == 1:
            return self.b.copy()
        return None

    def shape(self, w: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The points at ``w``, which triangles are drawable there, and the maps back.

        The maps are (2, T + 1, 2, 3): per source (a, b) and per triangle, the
        affine map from the shape at ``w`` back into the source; the last one is
        the least-squares fit of all points, for pixels no triangle covers (where
        triangles fold over).
        """
        shape = (1.0 - w) * self.pts_a + w * self.pts_b
        dst = shape[self.triangles]  # T x 3 x 2
        valid = np.abs(_areas(dst)) > 1e-3
        ones = np.ones((len(dst), 3, 1))
        d = np.concatenate([dst, ones], axis=2)  # rows (x, y, 1) per vertex
        d[~valid] = np.eye(3)  # anything invertible; never drawn
        fallback = np.hstack([shape, np.ones((len(shape), 1))])
        matrices = []
        for pts in (self.pts_a, self.pts_b):
            src = pts[self.triangles]  # T x 3 x 2
            m = np.linalg.solve(d, src).transpose(0, 2, 1)  # T x 2 x 3: src = m @ (x, y, 1)
            whole = np.linalg.lstsq(fallback, pts, rcond=None)[0].T  # 2 x 3
            matrices.append(np.concatenate([m, whole[None]], axis=0))
        return shape, valid, np.stack(matrices)

    def labels(self, shape: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Which triangle covers each pixel (H x W, uint8 when T < 256); T where none does.

        Triangles are drawn in order, edges included: a pixel on an edge, or
        under triangles that fold over each other, goes to the last one drawn.
        """
        import cv2

        count = len(self.triangles)
        dtype = np.uint8 if count < 256 else np.int32
        labels = np.full((self.height, self.width), count, dtype)
        corners = np.round(shape[self.triangles] * (1 << SHIFT)).astype(np.int32)
        for t in np.flatnonzero(valid):
            cv2.fillConvexPoly(labels, corners[t], int(t), lineType=cv2.LINE_8, shift=SHIFT)
        return labels

    def dissolve(
        self, warped_a: np.ndarray | None, warped_b: np.ndarray | None, alpha: float
    ) -> np.ndarray:
        """``(1 - alpha) * A + alpha * B`` of the warped pictures, as uint8.

        One of them may be None when its weight is zero.
        """
        import cv2

        if warped_a is None or warped_b is None:
            warped_a = warped_b = warped_a if warped_b is None else warped_b

        if self.channels != 4:
            # addWeighted computes in floating point and rounds.
            return cv2.addWeighted(warped_a, 1.0 - alpha, warped_b, alpha, 0.0)
        mixed = cv2.addWeighted(warped_a, 1.0 - alpha, warped_b, alpha, 0.0)
        # Colours back from opacity-weighted form; alpha is the weight less CLEAR.
        weight = cv2.extractChannel(mixed, 3)
        inverse = cv2.divide(1.0, weight)
        # convertScaleAbs rounds and saturates (nothing here is negative but float noise).
        out = cv2.convertScaleAbs(cv2.multiply(mixed, cv2.merge([inverse] * 4)))
        out[:, :, 3] = cv2.convertScaleAbs(weight, alpha=255.0, beta=-255.0 * CLEAR)
        return out


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, not {img.dtype}")
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{name} must be H x W x 3 or H x W x 4, not {img.shape}")
    return img


def _warp_triangles(
    source: np.ndarray,
    shape: np.ndarray,
    valid: np.ndarray,
    src_pts: np.ndarray,
    fallback: np.ndarray,
    labels: np.ndarray,
    mesh: _Mesh,
) -> np.ndarray:
    """``source`` warped onto ``shape`` a triangle at a time (the plain way, for :func:`morph`).

    Each triangle's bounding box is filled by ``cv2.warpAffine`` with the map
    ``cv2.getAffineTransform`` gives from the box's pixels back to the source
    triangle, and kept where the label image says the triangle is; pixels no
    triangle covers use the ``fallback`` map (picture to source).
    """
    import cv2

    out = np.empty((mesh.height, mesh.width, source.shape[2]), source.dtype)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    border = cv2.BORDER_REPLICATE
    for t in np.flatnonzero(valid):
        corners = shape[mesh.triangles[t]]
        x0, y0 = (max(int(v), 0) for v in np.floor(corners.min(axis=0)) - 1)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
        x1, y1 = min(x1, mesh.width), min(y1, mesh.height)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = labels[y0:y1, x0:x1] == t
        if not mask.any():
            continue
        box = (corners - (x0, y0)).astype(np.float32)
        m = cv2.getAffineTransform(box, src_pts[mesh.triangles[t]].astype(np.float32))
        patch = cv2.warpAffine(source, m, (x1 - x0, y1 - y0), flags=flags, borderMode=border)
        np.copyto(out[y0:y1, x0:x1], patch.reshape(mask.shape + (-1,)), where=mask[:, :, None])
    rest = labels == len(mesh.triangles)
    if rest.any():
        size = (mesh.width, mesh.height)
        patch = cv2.warpAffine(source, fallback, size, flags=flags, borderMode=border)
        np.copyto(out, patch.reshape(rest.shape + (-1,)), where=rest[:, :, None])
    return out
