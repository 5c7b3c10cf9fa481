"""Offline face geometry: find a face, its eyes and mouth, and crop it upright.

Everything here runs on OpenCV's stock Haar cascades (shipped with
opencv-python in ``cv2.data.haarcascades``), so it needs no model download, and
gives the same answer for the same pixels however many threads OpenCV uses.

:func:`detect` finds the largest frontal face of a picture and returns a
:class:`Face`: its box, the two eye centres, the mouth centre and width.
:meth:`Face.points` spreads a fixed template of facial points (jaw, brows, eye
corners, nose, lips) over that face with the affine map that takes the
template's eyes and mouth onto the face's: every face gets the same points in
the same order, which is what a landmark morph needs. :func:`align` crops a
face upright and to scale, eyes level at fixed positions, much like the crops
of the FFHQ data set.

Image coordinates are pixels, x to the right and y down; the *left* eye is the
one on the image's left (the person's right eye).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from filmkit.lazy import numpy as np

# Eye midpoint to mouth centre, in interocular distances (procedural faces
# average 1.03, photographed adults about 1.1).
MOUTH_DROP = 1.05
# Mouth width in interocular distances, when the mouth is estimated.
MOUTH_WIDTH = 0.85
# Where a Haar frontal-face box has its eyes, as fractions of the box.
BOX_EYE_X = (0.31, 0.69)
BOX_EYE_Y = 0.40
# Faces are looked for in the picture shrunk to at most FACE_SIDE pixels (longest
# side) and so that the smallest face wanted is about FACE_PIXELS wide; eyes and
# mouth are then placed at up to WORK_SIDE.
FACE_SIDE = 360
FACE_PIXELS = 30
WORK_SIDE = 1024
EYE_SIDE = 512  # pictures without a face are searched for a pair of eyes at most this big
FACE_STEP = 1.1
# (channel, cascade) runs that look for faces; red keeps contrast on dark skin.
FACE_RUNS = (
    ("red", "frontalface_alt"),
    ("red", "frontalface_alt2"),
    ("grey", "frontalface_alt"),
    ("grey", "frontalface_default"),
)

# The template, in interocular distances: origin between the eyes, x right,
# y down, left eye at (-0.5, 0), right eye at (0.5, 0), mouth at (0, MOUTH_DROP).
_JAW_HALF = [(-1.20, -0.30), (-1.18, 0.22), (-1.10, 0.72), (-0.94, 1.18), (-0.62, 1.55)]
TEMPLATE_NAMES: tuple[str, ...] = (
    *(f"jaw_{i}" for i in range(11)),
    "left_brow_outer",
    "left_brow_mid",
    "left_brow_inner",
    "right_brow_inner",
    "right_brow_mid",
    "right_brow_outer",
    "left_eye_outer",
    "left_eye",
    "left_eye_inner",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "nose_bridge",
    "nose_tip",
    "nose_left",
    "nose_right",
    "mouth_left",
    "upper_lip",
    "lower_lip",
    "mouth_right",
)
_TEMPLATE: list[tuple[float, float]] = [
    *_JAW_HALF,
    (0.0, 1.76),
    *[(-x, y) for x, y in reversed(_JAW_HALF)],
    (-0.86, -0.36),
    (-0.52, -0.50),
    (-0.17, -0.42),
    (0.17, -0.42),
    (0.52, -0.50),
    (0.86, -0.36),
    (-0.77, 0.02),
    (-0.5, 0.0),
    (-0.23, 0.02),
    (0.23, 0.02),
    (0.5, 0.0),
    (0.77, 0.02),
    (0.0, 0.02),
    (0.0, 0.66),
    (-0.24, 0.71),
    (0.24, 0.71),
    (-MOUTH_WIDTH / 2, MOUTH_DROP),
    (0.0, MOUTH_DROP - 0.09),
    (0.0, MOUTH_DROP + 0.13),
    (MOUTH_WIDTH / 2, MOUTH_DROP),
]
_MOUTH_CORNERS = (TEMPLATE_NAMES.index("mouth_left"), TEMPLATE_NAMES.index("mouth_right"))


def template() -> np.ndarray:
    """The template's points (K×2 float, interocular units), in :data:`TEMPLATE_NAMES` order."""
    return np.array(_TEMPLATE, np.float64)


Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """Where one face is: box ``(x0, y0, x1, y1)``, eye and mouth centres, mouth width."""

    box: tuple[float, float, float, float]
    left_eye: Point
    right_eye: Point
    mouth: Point
    mouth_width: float

    @property
    def interocular(self) -> float:
        """Distance between the eye centres, in pixels."""
        return math.dist(self.left_eye, self.right_eye)

    @property
    def angle(self) -> float:
        """Roll of the eye line, in degrees (positive: the right eye is lower)."""
        dx = self.right_eye[0] - self.left_eye[0]
        dy = self.right_eye[1] - self.left_eye[1]
        return math.degrees(math.atan2(dy, dx))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_json` reads it back."""
        return {
            "box": list(self.box),
            "left_eye": list(self.left_eye),
            "right_eye": list(self.right_eye),
            "mouth": list(self.mouth),
            "mouth_width": self.mouth_width,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Face:
        """The face :meth:`to_json` wrote (a dict, or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"a face is a JSON object, not {type(data).__name__}")
        box = tuple(float(v) for v in data["box"])
        if len(box) != 4:
            raise ValueError("a face box has four numbers: x0, y0, x1, y1")
        return cls(
            box=(box[0], box[1], box[2], box[3]),
            left_eye=_point(data["left_eye"]),
            right_eye=_point(data["right_eye"]),
            mouth=_point(data["mouth"]),
            mouth_width=float(data["mouth_width"]),
        )

    def transform(self) -> np.ndarray:
        """The 2×3 affine map from template coordinates to this face's pixels."""
        src = np.array([(-0.5, 0.0), (0.5, 0.0), (0.0, MOUTH_DROP)], np.float64)
        dst = np.array([self.left_eye, self.right_eye, self.mouth], np.float64)
        if abs(_cross(dst[1] - dst[0], dst[2] - dst[0])) < 1e-6 * max(self.interocular, 1) ** 2:
            # Mouth on the eye line (a broken face): put it where a face would have it.
            dst[2] = _mouth_from_eyes(dst[0], dst[1])
        return _affine(src, dst)

    def points(self) -> np.ndarray:
        """The template's K facial points placed on this face (K×2 float64).

        K and the order (:data:`TEMPLATE_NAMES`) are the same for every face.
        The mouth corners sit ``mouth_width`` apart along the eye line.
        """
        m = self.transform()
        tpl = template()
        pts = tpl @ m[:, :2].T + m[:, 2]
        eye_axis = np.subtract(self.right_eye, self.left_eye)
        norm = float(np.hypot(*eye_axis))
        if norm > 0 and self.mouth_width > 0:
            half = eye_axis / norm * self.mouth_width / 2
            left, right = _MOUTH_CORNERS
            pts[left] = np.asarray(self.mouth) - half
            pts[right] = np.asarray(self.mouth) + half
        return pts


def _point(value: Any) -> Point:
    x, y = value
    return float(x), float(y)


def _cross(u: np.ndarray, v: np.ndarray) -> float:
    return float(u[0] * v[1] - u[1] * v[0])


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 affine map taking three ``src`` points exactly onto three ``dst`` points."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def _mouth_from_eyes(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Mouth centre estimated from the eyes: below their midpoint, square to the eye line."""
    mid = (left + right) / 2
    axis = right - left
    down = np.array([-axis[1], axis[0]])  # the eye line turned 90° clockwise (y is down)
    return mid + down * MOUTH_DROP


# --- detection -------------------------------------------------------------------------------

_local = threading.local()


def _cascade(name: str) -> Any:
    """A Haar cascade by file stem, loaded once per thread (classifiers are not shared)."""
    import cv2

    cache = _local.__dict__.setdefault("cascades", {})
    if name not in cache:
        path = f"{cv2.data.haarcascades}haarcascade_{name}.xml"
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise RuntimeError(f"OpenCV has no Haar cascade {path}")
        cache[name] = classifier
    return cache[name]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 image (maybe ``image`` itself) from RGB, RGBA or grey; alpha is composited
    onto mid grey."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an H×W×3 or H×W×4 image, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    if img.shape[2] == 3:
        return np.ascontiguousarray(img)
    alpha = img[:, :, 3:].astype(np.float32) / 255.0
    rgb = img[:, :, :3].astype(np.float32) * alpha + 128.0 * (1.0 - alpha)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


@dataclass
class _Candidate:
    box: np.ndarray  # x0, y0, x1, y1 in work pixels
    votes: set[str]
    strength: int
    eyes: tuple[np.ndarray, np.ndarray] | None = None
    paired: bool = False  # both eyes were detected (not mirrored)
    eye_score: float = math.inf

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])


Eye = tuple[float, float, float]  # centre x, centre y, size


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return float(ix * iy)


def _in_order(rects: Any) -> list[tuple[int, ...]]:
    """Detections sorted: a cascade run on several threads lists them in any order."""
    if len(rects) == 0:
        return []
    return sorted(tuple(int(v) for v in r) for r in np.reshape(rects, (len(rects), -1)))


def _face_candidates(channels: Mapping[str, np.ndarray], min_size: int) -> list[_Candidate]:
    """Faces found by the cascades on the channels, merged where they agree."""
    found: list[tuple[np.ndarray, str, int]] = []
    for cname, cascade in FACE_RUNS:
        rects, counts = _cascade(cascade).detectMultiScale2(
            channels[cname], scaleFactor=FACE_STEP, minNeighbors=3, minSize=(min_size, min_size)
        )
        table = np.hstack([np.reshape(rects, (-1, 4)), np.reshape(counts, (-1, 1))])
        for *rect, n in _in_order(table):
            x, y, w, h = rect
            box = np.array([x, y, x + w, y + h], np.float64)
            found.append((box, f"{cname}/{cascade}", int(n)))
    found.sort(key=lambda f: (-f[2], -(f[0][2] - f[0][0]), f[0][0], f[0][1]))
    clusters: list[tuple[list[np.ndarray], _Candidate]] = []
    for box, source, n in found:
        for boxes, cand in clusters:
            if _iou(cand.box, box) > 0.5:
                boxes.append(box)
                cand.votes.add(source)
                cand.strength += n
                cand.box = np.median(np.array(boxes), axis=0)
                break
        else:
            clusters.append(([box], _Candidate(box.copy(), {source}, n)))
    return [cand for _, cand in clusters]


def _find_eyes(
    channels: Mapping[str, np.ndarray],
    roi: tuple[int, int, int, int] | None,
    smallest: int,
    biggest: int | None = None,
    step: float = 1.05,
    cascade: str = "eye",
    eyes: list[Eye] | None = None,
) -> list[Eye]:
    """Eyes ``cascade`` finds in ``roi`` (x0, y0, x1, y1) on any channel, added to ``eyes``.

    Detections closer than a quarter of their size are merged into one.
    """
    eyes = [] if eyes is None else eyes
    for channel in channels.values():
        x0, y0 = 0, 0
        if roi is not None:
            x0, y0 = max(roi[0], 0), max(roi[1], 0)
            channel = channel[y0 : max(roi[3], y0), x0 : max(roi[2], x0)]
        if min(channel.shape) < smallest:
            continue
        big = (biggest, biggest) if biggest else (0, 0)
        found = _cascade(cascade).detectMultiScale(
            channel, step, 3, minSize=(smallest, smallest), maxSize=big
        )
        for x, y, w, h in _in_order(found):
            eye = (x0 + x + w / 2, y0 + y + h / 2, (w + h) / 2)
            for i, (ex, ey, es) in enumerate(eyes):
                if math.hypot(ex - eye[0], ey - eye[1]) < 0.25 * min(es, eye[2]):
                    eyes[i] = ((ex + eye[0]) / 2, (ey + eye[1]) / 2, (es + eye[2]) / 2)
                    break
            else:
                eyes.append(eye)
    return eyes


def _place_eyes(channels: Mapping[str, np.ndarray], cand: _Candidate) -> None:
    """Find the candidate's eyes: the best pair haarcascade_eye finds, or one eye mirrored."""
    x0, y0, x1, y1 = cand.box
    w, h = x1 - x0, y1 - y0
    # Tall enough for a big eye box centred low: the filter below keeps only eyes' centres.
    roi = (int(x0 - 0.05 * w), int(y0), math.ceil(x1 + 0.05 * w), math.ceil(y0 + 0.85 * h))
    sizes = max(6, int(0.08 * w)), max(7, math.ceil(0.6 * w))
    grey = channels["grey"]
    eyes: list[Eye] = []
    for cascade in ("eye", "eye_tree_eyeglasses"):  # the second sees eyes behind glasses
        eyes = _find_eyes(channels, roi, *sizes, cascade=cascade, eyes=eyes)
        inside = [
            e
            for e in eyes
            if x0 <= e[0] <= x1
            and y0 + 0.15 * h <= e[1] <= y0 + 0.6 * h
            and 0.08 * w <= e[2] <= 0.6 * w
        ]
        pair = _best_pair(inside, cand.box)
        if pair is not None:
            break
    if pair is not None:
        cand.eyes, cand.eye_score = pair
        cand.paired = True
        return
    cx = (x0 + x1) / 2
    singles = [e for e in inside if 0.1 * w < abs(e[0] - cx) < 0.32 * w]
    if not singles:
        return
    ex, ey, size = min(
        singles, key=lambda e: abs(abs(e[0] - cx) / w - 0.19) + abs((e[1] - y0) / h - BOX_EYE_Y)
    )
    eye = np.array([ex, ey])
    other = _mirror_eye(grey, eye, size, cx, w)
    cand.eyes = (eye, other) if ex < cx else (other, eye)
    cand.eye_score = 1.0


def _mirror_eye(grey: np.ndarray, eye: np.ndarray, size: float, cx: float, w: float) -> np.ndarray:
    """The other eye of a face whose one eye is known: its mirror image, looked for nearby.

    The found eye's patch, flipped, is matched around its reflection across the
    face's centre line; without a convincing match the reflection itself is used.
    """
    import cv2

    guess = np.array([2 * cx - eye[0], eye[1]])
    half = max(3, int(round(size * 0.45)))
    ex, ey = int(round(eye[0])), int(round(eye[1]))
    height, width = grey.shape
    if ex - half < 0 or ey - half < 0 or ex + half >= width or ey + half >= height:
        return guess
    patch = cv2.flip(grey[ey - half : ey + half + 1, ex - half : ex + half + 1], 1)
    reach_x, reach_y = int(0.12 * w) + half, int(0.1 * w) + half
    gx, gy = int(round(guess[0])), int(round(guess[1]))
    sx0, sy0 = max(gx - reach_x, 0), max(gy - reach_y, 0)
    sx1, sy1 = min(gx + reach_x + 1, width), min(gy + reach_y + 1, height)
    if sx1 - sx0 <= patch.shape[1] or sy1 - sy0 <= patch.shape[0]:
        return guess
    scores = cv2.matchTemplate(grey[sy0:sy1, sx0:sx1], patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if best < 0.5:
        return guess
    return np.array([sx0 + bx + half, sy0 + by + half], np.float64)


def _best_pair(
    eyes: list[Eye], box: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], float] | None:
    """The pair of eye detections that looks most like the two eyes of the face in ``box``."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    best, best_score = None, math.inf
    for i, a in enumerate(eyes):
        for b in eyes[i + 1 :]:
            left, right = (a, b) if a[0] < b[0] else (b, a)
            dx, dy = right[0] - left[0], right[1] - left[1]
            if not (0.25 * w <= dx <= 0.6 * w and abs(dy) <= 0.3 * dx):
                continue
            if not (left[0] < cx < right[0]):
                continue
            if max(left[2], right[2]) > 2.0 * min(left[2], right[2]):
                continue
            mid_y = (left[1] + right[1]) / 2 - y0
            score = (
                abs((left[0] + right[0]) / 2 - cx) / w
                + abs(dx / w - (BOX_EYE_X[1] - BOX_EYE_X[0]))
                + abs(mid_y / h - BOX_EYE_Y)
                + abs(dy) / w
                + 0.1 * abs(math.log(left[2] / right[2]))
            )
            if score < best_score:
                best, best_score = (np.array(left[:2]), np.array(right[:2])), score
    return None if best is None else (best, best_score)


def _eye_pair_faces(eyes: list[Eye]) -> list[_Candidate]:
    """Faces made up from pairs of eyes alone, for faces the face cascades missed."""
    faces = []
    for i, a in enumerate(eyes):
        for b in eyes[i + 1 :]:
            left, right = (a, b) if a[0] < b[0] else (b, a)
            dx, dy = right[0] - left[0], right[1] - left[1]
            size = (left[2] + right[2]) / 2
            if not (0.9 * size <= dx <= 2.6 * size and abs(dy) <= 0.15 * dx):
                continue
            if max(left[2], right[2]) > 2.0 * min(left[2], right[2]):
                continue
            w = dx / (BOX_EYE_X[1] - BOX_EYE_X[0])
            mx, my = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
            box = np.array([mx - w / 2, my - BOX_EYE_Y * w, mx + w / 2, my + (1 - BOX_EYE_Y) * w])
            cand = _Candidate(box, {"eyes"}, 0)
            cand.eyes = (np.array(left[:2]), np.array(right[:2]))
            cand.paired = True
            cand.eye_score = abs(dy) / dx + abs(math.log(left[2] / right[2]))
            faces.append(cand)
    return faces


def _mouth_in(
    grey: np.ndarray, box: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Mouth centre and width from haarcascade_smile, if it finds one where a mouth can be."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    rx0, rx1 = int(max(x0, 0)), int(min(x1, grey.shape[1]))
    ry0, ry1 = int(max(y0 + 0.6 * h, 0)), int(min(y1 + 0.12 * h, grey.shape[0]))
    if rx1 - rx0 < 12 or ry1 - ry0 < 8:
        return None
    roi = grey[ry0:ry1, rx0:rx1]
    min_w = max(10, int(0.22 * w))
    rects = _cascade("smile").detectMultiScale(
        roi, 1.05, 12, minSize=(min_w, max(5, min_w // 2)), maxSize=(int(0.8 * w), int(0.5 * h))
    )
    if len(rects) == 0:
        return None
    rects = _in_order(rects)
    mid = (left + right) / 2
    axis = right - left
    iod = float(np.hypot(*axis))
    unit = axis / iod
    down = np.array([-unit[1], unit[0]])
    best, best_score = None, math.inf
    for x, y, mw, mh in rects:
        centre = np.array([rx0 + x + mw / 2, ry0 + y + mh / 2])
        along, drop = float((centre - mid) @ unit) / iod, float((centre - mid) @ down) / iod
        if abs(along) > 0.3 or not (0.7 <= drop <= 1.5):
            continue
        score = abs(along) + abs(drop - MOUTH_DROP)
        if score < best_score:
            best, best_score = (centre, 0.62 * mw), score
    return best


def _choose(candidates: list[_Candidate]) -> _Candidate | None:
    """The largest of the most believable faces; overlapping boxes count as one face.

    Faces whose two eyes were found beat faces with one eye found and two cascade
    runs agreeing, which beat faces with one eye or three runs; a face one run
    found, without an eye, is not believed.
    """

    def tier(c: _Candidate) -> int:
        if c.paired:
            return 0
        if c.eyes is not None and len(c.votes) >= 2:
            return 1
        return 2 if c.eyes is not None or len(c.votes) >= 3 else 3

    ranked = sorted(candidates, key=lambda c: (tier(c), c.eye_score, -len(c.votes), -c.strength))
    faces: list[_Candidate] = []
    for cand in ranked:
        if tier(cand) > 2:
            break
        area = cand.width**2
        if all(_intersection(cand.box, f.box) < 0.3 * min(area, f.width**2) for f in faces):
            faces.append(cand)
    if not faces:
        return None
    best = min(tier(f) for f in faces)
    return max((f for f in faces if tier(f) == best), key=lambda c: c.width)


def _channels(rgb: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    """Grey and red channels of ``rgb`` scaled by ``scale`` (at most 1)."""
    import cv2

    if scale < 1.0:
        height, width = rgb.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return {"grey": grey, "red": np.ascontiguousarray(rgb[:, :, 0])}


def detect(image: np.ndarray, min_size: int = 32) -> Face | None:
    """The largest frontal face in an RGB or RGBA uint8 picture, or None if there is none.

    Faces are looked for with Haar cascades on two channels (grey, and red,
    which keeps more contrast on dark skin); a face counts when an eye is found
    in it or three of the four runs agree on it, and one with both eyes found
    beats one without. Eyes come from haarcascade_eye in the upper
    half of the face box (the best level pair; a single eye finds its twin by
    mirrored template matching; with none the box's proportions place them);
    when no face cascade fires, a clear pair of eyes alone makes a face. The
    mouth comes from haarcascade_smile in the lower third or else from the eyes.

    Faces much narrower than ``min_size`` pixels may be missed: the picture is
    searched shrunk so that such a face is about FACE_PIXELS wide (and at most
    FACE_SIDE pixels), which keeps big photos fast.
    """
    import cv2

    picture = np.asarray(image)
    side = max(picture.shape[:2])
    # The working picture: at most WORK_SIDE, shrunk before anything else (a big photo is
    # costly to composite whole). Scales below are relative to it.
    scale = min(1.0, WORK_SIDE / side)
    if scale < 1.0 and picture.dtype == np.uint8:
        height, width = picture.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    rgb = to_rgb(picture)
    work = _channels(rgb, 1.0)
    grey = work["grey"]
    if min(grey.shape) < 24 or float(grey.std()) < 2.0:
        return None  # too small or flat: nothing to find
    work_side, work_min = side * scale, max(min_size, 1) * scale
    face_scale = min(1.0, FACE_SIDE / work_side, FACE_PIXELS / work_min)
    small = work if face_scale == 1.0 else _channels(rgb, face_scale)
    candidates = _face_candidates(small, 24)
    for cand in candidates:
        cand.box = cand.box / face_scale
        _place_eyes(work, cand)
    cand = _choose(candidates)
    if cand is None:
        # No face the face cascades believe in: a clear pair of eyes alone makes one.
        eye_scale = min(1.0, EYE_SIDE / work_side)
        seen = work if eye_scale == 1.0 else _channels(rgb, eye_scale)
        smallest = max(6, int(0.08 * work_min * eye_scale))
        cand = _choose(_eye_pair_faces(_find_eyes(seen, None, smallest)))
        if cand is None:
            return None
        pair = (cand.eyes[0] / eye_scale, cand.eyes[1] / eye_scale)
        cand.box, cand.paired = cand.box / eye_scale, False
        _place_eyes(work, cand)  # again at the working resolution, if a pair is found there
        if not cand.paired:
            cand.eyes, cand.paired = pair, True
    box = cand.box
    if cand.eyes is None:
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        cand.eyes = (
            np.array([x0 + BOX_EYE_X[0] * w, y0 + BOX_EYE_Y * h]),
            np.array([x0 + BOX_EYE_X[1] * w, y0 + BOX_EYE_Y * h]),
        )
    left, right = cand.eyes
    mouth = _mouth_in(grey, box, left, right)
    if mouth is None:
        centre, mouth_width = _mouth_from_eyes(left, right), MOUTH_WIDTH * math.dist(left, right)
    else:
        centre, mouth_width = mouth
    k = 1.0 / scale

    def pt(p: np.ndarray) -> Point:
        # Pixel centres of the working picture back onto those of the given one.
        return round((float(p[0]) + 0.5) * k - 0.5, 2), round((float(p[1]) + 0.5) * k - 0.5, 2)

    return Face(
        box=(
            round(float(box[0]) * k, 2),
            round(float(box[1]) * k, 2),
            round(float(box[2]) * k, 2),
            round(float(box[3]) * k, 2),
        ),
        left_eye=pt(left),
        right_eye=pt(right),
        mouth=pt(centre),
        mouth_width=round(float(mouth_width) * k, 2),
    )


# --- alignment -------------------------------------------------------------------------------


def template_eyes(size: int, margin: float = 1.0) -> tuple[Point, Point]:
    """Where :func:`align` puts the left and right eye in a ``size``×``size`` crop.

    The crop is ``2 + 2 * margin`` interocular distances wide: the face's own
    width (about two) plus ``margin`` on each side. ``margin=1`` frames like
    FFHQ: eyes a quarter of the width apart, a little above the middle, the
    top of the head and the neck just in frame.
    """
    iod = size / (2.0 + 2.0 * margin)
    y = size / 2.0 - 0.12 * iod
    return (size / 2.0 - iod / 2.0, y), (size / 2.0 + iod / 2.0, y)


def align_matrix(face: Face, size: int, margin: float = 1.0) -> np.ndarray:
    """The 2×3 similarity map (rotation, uniform scale, shift) :func:`align` applies."""
    (tlx, tly), (trx, try_) = template_eyes(size, margin)
    src = np.subtract(face.right_eye, face.left_eye)
    dst = np.array([trx - tlx, try_ - tly])
    if float(np.hypot(*src)) < 1e-9:
        raise ValueError("a face's eyes must be apart to align it")
    # Complex division gives the rotation and scale taking src onto dst.
    ratio = complex(dst[0], dst[1]) / complex(src[0], src[1])
    a, b = ratio.real, ratio.imag
    rot = np.array([[a, -b], [b, a]])
    shift = np.array([tlx, tly]) - rot @ np.asarray(face.left_eye, np.float64)
    return np.hstack([rot, shift[:, None]])


def align(image: np.ndarray, face: Face, size: int, margin: float = 1.0) -> np.ndarray:
    """The face cropped upright: a ``size``×``size`` RGB uint8 image, eyes level.

    A similarity transform puts the eyes at :func:`template_eyes` (``margin``
    interocular distances of surroundings on each side of the face); edges
    beyond the picture repeat its border pixels. RGBA is composited onto grey.
    """
    import cv2

    picture = np.asarray(image)
    m = align_matrix(face, size, margin)
    shrink = 1.0 / math.hypot(m[0, 0], m[1, 0])
    # Only the part of the picture the crop shows (and a little around it) is used.
    inverse = cv2.invertAffineTransform(m)
    corners = np.array([(0, 0, 1), (size, 0, 1), (0, size, 1), (size, size, 1)], np.float64)
    seen = corners @ inverse.T
    pad = 2.0 * shrink + 2.0
    height, width = picture.shape[:2]
    x0, y0 = (max(int(math.floor(v - pad)), 0) for v in seen.min(axis=0))
    x1 = min(int(math.ceil(seen[:, 0].max() + pad)) + 1, width)
    y1 = min(int(math.ceil(seen[:, 1].max() + pad)) + 1, height)
    m = m.copy()
    if x1 - x0 >= 2 and y1 - y0 >= 2:
        picture = picture[y0:y1, x0:x1]
        m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    if shrink > 2.0 and picture.dtype == np.uint8:
        # Shrinking a lot: area-average down to twice the crop's scale first.
        ch, cw = picture.shape[:2]
        sw, sh = max(2, round(cw * 2.0 / shrink)), max(2, round(ch * 2.0 / shrink))
        picture = cv2.resize(picture, (sw, sh), interpolation=cv2.INTER_AREA)
        fx, fy = sw / cw, sh / ch
        m[:, 2] += m[:, :2] @ np.array([0.5 / fx - 0.5, 0.5 / fy - 0.5])
        m[:, :2] = m[:, :2] @ np.diag([1.0 / fx, 1.0 / fy])
        shrink = 1.0 / math.hypot(m[0, 0], m[1, 0])
    rgb = to_rgb(picture)
    if shrink > 1.5:
        rgb = cv2.GaussianBlur(rgb, (0, 0), 0.5 * math.sqrt(shrink * shrink - 1.0))
    return cv2.warpAffine(
        rgb,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
