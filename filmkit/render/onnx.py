"""Users' ONNX models (depth, segmentation), run by OpenCV's DNN module.

OpenCV is already a dependency and its DNN module reads ONNX, so a depth or
matting network the user exported (``torch.onnx.export``) runs without
another runtime. Networks are cached per file and its modification time, so
a model applied to every frame of a video loads once, and an edited file
loads afresh.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np


def run_model(
    pixels: np.ndarray,
    model: Path | str,
    size: tuple[int, int],
    what: str,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """The first output of ``model`` on ``pixels`` (RGB uint8) resized to ``size`` (W, H):
    one ``(1, 3, H, W)`` float32 RGB input in [0, 1], standardised by ``mean`` and
    ``std`` when given. ``what`` names the model in errors (ValueError, naming the file)."""
    path = Path(model)
    try:
        stat = path.stat()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the ONNX {what} ({error.strerror})") from error
    net = _load_net(str(path), (stat.st_mtime_ns, stat.st_size), what)
    rgb = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    if mean is not None and std is not None:
        rgb = (rgb - np.float32(mean)) / np.float32(std)
    blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)
    try:
        net.setInput(blob)
        return np.asarray(net.forward(), np.float32)
    except cv2.error as error:
        raise ValueError(f"{path}: the {what} failed to run on a {size} input ({error})") from error


@lru_cache(maxsize=4)
def _load_net(path: str, stamp: tuple[int, int], what: str) -> cv2.dnn.Net:
    """The network in ``path``; ``stamp`` (mtime, size) makes an edited file load afresh."""
    try:
        return cv2.dnn.readNetFromONNX(path)
    except cv2.error as error:
        raise ValueError(f"{path}: cannot read the ONNX {what} ({error})") from error
