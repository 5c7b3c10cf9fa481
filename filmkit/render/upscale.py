"""Enlarging pictures: Lanczos by default, or an ESRGAN-class network the user supplies.

Without a model, :func:`upscale` resizes with OpenCV (Lanczos when enlarging,
area averaging when shrinking). With one, it runs an RRDBNet read from a local
weights file, as many times as it takes to reach the size asked for, then
resizes to exactly that size. An alpha channel is always resized by Lanczos.

Checkpoints that load: RRDBNet state dicts with BasicSR's key names
(``conv_first``, ``body.N.rdbR.convC``, ``conv_body``, ``conv_up1``, ``conv_up2``,
``conv_hr``, ``conv_last``), saved plain or wrapped in ``params_ema`` / ``params``
as Real-ESRGAN does (``params_ema`` preferred): ESRGAN and Real-ESRGAN x4
(e.g. ``RealESRGAN_x4plus``, ``RealESRGAN_x4plus_anime_6B``), the x2 variant that
pixel-unshuffles its input (``RealESRGAN_x2plus``) and its x1 sibling. The older
ESRGAN names (``RRDB_trunk``, ``trunk_conv``, ``upconv1``, ``HRconv``) are renamed
on loading. Width, depth, growth and scale are read from the weights' shapes.
SRVGGNetCompact models (``realesr-general-x4v3``, ``realesr-animevideov3``) are a
different network and do not load.

filmkit never downloads weights: the user points at a file they have. Checking
its licence is theirs to do: Real-ESRGAN's code is BSD-3-Clause, but some
published weights are for non-commercial use only.

The network runs in tiles (``tile`` input pixels square, each read with
``margin`` pixels of context that are cropped off again), so a large picture
fits in memory. With ``margin`` at least :attr:`Upscaler.reach` the tiled result
equals the untiled one (to float rounding). That is 349 pixels for the 23-block
x4 network, so the default margin is far smaller, trading exactness at tile seams
for speed as Real-ESRGAN's own tiling (10 pixels) does: far pixels weigh little.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError
from filmkit.generators.training import cpu_threads, pick_device, read_weights
from filmkit.lazy import numpy as np

EXPECTED = "an RRDBNet (ESRGAN / Real-ESRGAN) state dict with BasicSR key names"
# Input channels of conv_first -> (scale, pixel-unshuffle factor) for RGB networks.
VARIANTS = {3: (4, 1), 12: (2, 2), 48: (1, 4)}
OLD_NAMES = (
    (r"^RRDB_trunk\.", "body."),
    (r"\.RDB([123])\.", r".rdb\1."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv([12])\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
)


@dataclass(frozen=True, eq=False)
class Upscaler:
    """An RRDBNet's weights on a device, and the shape read from them."""

    path: Path
    weights: dict[str, Any]
    scale: int
    num_feat: int
    num_block: int
    num_grow_ch: int
    unshuffle: int  # the input's pixel-unshuffle factor: 1 for x4, 2 for x2, 4 for x1
    device: Any

    @property
    def reach(self) -> int:
        """Input pixels an output pixel can depend on each way (a tile margin for exact tiles)."""
        # 15 convolutions a block, conv_first, conv_body, and 2 for those after upsampling,
        # in cells of `unshuffle` pixels (checked against autograd's receptive field).
        return self.unshuffle * (15 * self.num_block + 4)

    def __call__(self, x: Any) -> Any:
        """The network on ``x``, a (1, 3, h, w) float RGB tensor in [0, 1] on its device,
        h and w multiples of :attr:`unshuffle`; returns (1, 3, h*scale, w*scale)."""
        import torch
        import torch.nn.functional as F

        w = self.weights

        def conv(name: str, t: Any) -> Any:
            return F.conv2d(t, w[f"{name}.weight"], w[f"{name}.bias"], padding=1)

        def lrelu(t: Any) -> Any:
            return F.leaky_relu(t, 0.2, inplace=True)

        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = conv("conv_first", x)
        body = feat
        for i in range(self.num_block):
            start = body
            for r in (1, 2, 3):
                name, parts = f"body.{i}.rdb{r}", [body]
                for c in (1, 2, 3, 4):
                    parts.append(lrelu(conv(f"{name}.conv{c}", torch.cat(parts, 1))))
                body = conv(f"{name}.conv5", torch.cat(parts, 1)) * 0.2 + body
            body = body * 0.2 + start
        feat = feat + conv("conv_body", body)
        for name in ("conv_up1", "conv_up2"):
            feat = lrelu(conv(name, F.interpolate(feat, scale_factor=2, mode="nearest")))
        return conv("conv_last", lrelu(conv("conv_hr", feat)))

    def run(self, x: Any, tile: int = 256, margin: int = 16) -> Any:
        """The network on ``x`` ((1, 3, h, w) float RGB in [0, 1], any h and w) in tiles of
        ``tile`` input pixels (0: whole) read with ``margin`` pixels of context. Returns a CPU
        inference tensor (1, 3, h*scale, w*scale), unclamped."""
        import torch
        import torch.nn.functional as F

        f, s = self.unshuffle, self.scale
        h, w = x.shape[2:]
        x = x.to(self.device, torch.float32)
        if -h % f or -w % f:
            x = F.pad(x, (0, -w % f, 0, -h % f), mode="replicate")
        hp, wp = x.shape[2:]
        with cpu_threads(torch, self.device), torch.inference_mode():
            if tile <= 0 or (hp <= tile and wp <= tile):
                return self(x).cpu()[:, :, : h * s, : w * s]
            tile, margin = -(-tile // f) * f, -(-margin // f) * f
            out = torch.empty((1, 3, hp * s, wp * s), dtype=torch.float32)
            for y0 in range(0, hp, tile):
                for x0 in range(0, wp, tile):
                    y1, x1 = min(y0 + tile, hp), min(x0 + tile, wp)
                    ty, tx = max(0, y0 - margin), max(0, x0 - margin)
                    part = self(x[:, :, ty : min(hp, y1 + margin), tx : min(wp, x1 + margin)])
                    core = part[:, :, (y0 - ty) * s : (y1 - ty) * s, (x0 - tx) * s : (x1 - tx) * s]
                    out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = core.cpu()
            return out[:, :, : h * s, : w * s]


def upscale(
    pixels: np.ndarray,
    size: tuple[int, int],
    model: Path | str | None = None,
    device: str = "auto",
    *,
    tile: int = 256,
    margin: int = 16,
) -> np.ndarray:
    """``pixels`` ((h, w, 3|4) uint8 RGB or RGBA) resized to ``size`` (width, height).

    Without ``model``, by Lanczos (area averaging when shrinking). With ``model`` (an
    RRDBNet weights file), the network runs at least once and again until the picture
    is at least ``size``, then it is resized to exactly ``size``. Alpha goes by Lanczos.
    ``tile`` and ``margin`` set the network's tiling (see :meth:`Upscaler.run`)."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise GeneratorError(
            f"upscale: expected (h, w, 3|4) uint8 pixels, got {pixels.shape} {pixels.dtype}"
        )
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise GeneratorError(f"upscale: size must be positive, not {size}")
    if model is None:
        return _resize(pixels, (width, height))
    import torch

    net = load_upscaler(model, device)
    picture = torch.from_numpy(np.array(pixels[:, :, :3], np.float32) / 255.0)
    picture = picture.permute(2, 0, 1)[None]
    with torch.inference_mode():
        while True:
            picture = net.run(picture, tile, margin).clamp_(0.0, 1.0)
            h, w = picture.shape[2:]
            if net.scale == 1 or (w >= width and h >= height):
                break
        rgb = np.ascontiguousarray(picture[0].permute(1, 2, 0).numpy())
        rgb = _resize(rgb, (width, height))
    rgb = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    if pixels.shape[2] == 3:
        return rgb
    alpha = _resize(np.ascontiguousarray(pixels[:, :, 3]), (width, height))
    return np.dstack([rgb, alpha])


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` at ``size`` (W, H): area averaging when shrinking, else Lanczos."""
    import cv2

    h, w = pixels.shape[:2]
    if (w, h) == size:
        return pixels.copy()
    shrink = size[0] <= w and size[1] <= h
    method = cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4
    return cv2.resize(pixels, size, interpolation=method)


def load_upscaler(path: Path | str, device: str = "auto") -> Upscaler:
    """The RRDBNet in ``path`` on ``device`` ("auto", "cpu", "cuda"), cached per file,
    modification time and device. A file that is not such a network raises GeneratorError."""
    import torch

    path = Path(path)
    if device not in ("auto", "cpu", "cuda"):
        raise GeneratorError(f"upscale: device must be auto, cpu or cuda, not {device!r}")
    try:
        stat = path.stat()
    except OSError as error:
        raise GeneratorError(f"{path}: cannot read the upscaler ({error.strerror})") from error
    where = pick_device(torch, device)
    return _load(str(path), (stat.st_mtime_ns, stat.st_size), str(where))


@lru_cache(maxsize=2)
def _load(path: str, stamp: tuple[int, int], device: str) -> Upscaler:
    """The network in ``path`` on ``device``; ``stamp`` (mtime, size) makes an edit load afresh."""
    import torch

    saved = read_weights(torch, path, f"torch weights ({EXPECTED})")
    if isinstance(saved, dict):
        saved = next((saved[k] for k in ("params_ema", "params") if k in saved), saved)
    if not isinstance(saved, dict) or not all(torch.is_tensor(v) for v in saved.values()):
        raise GeneratorError(f"{path}: expected {EXPECTED}, found no such dict of tensors")
    state = {}
    for key, value in saved.items():
        key = key.removeprefix("module.")
        for old, new in OLD_NAMES:
            key = re.sub(old, new, key)
        state[key] = value
    needed = ("conv_first.weight", "conv_last.weight", "body.0.rdb1.conv1.weight")
    if absent := [k for k in needed if k not in state]:
        raise GeneratorError(f"{path}: expected {EXPECTED}; it has no {', '.join(absent)}")
    first, last, grow = (state[k] for k in needed)
    if first.ndim != 4 or first.shape[1] not in VARIANTS or last.shape[0] != 3:
        raise GeneratorError(
            f"{path}: expected an RGB RRDBNet (conv_first taking 3, 12 or 48 channels, "
            f"conv_last giving 3), got conv_first {tuple(first.shape)}, "
            f"conv_last {tuple(last.shape)}"
        )
    feat, growth = first.shape[0], grow.shape[0]
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    expected = rrdbnet_shapes(first.shape[1], feat, blocks, growth)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or extra or wrong:
        problems = [f"missing {k}" for k in missing] + [f"unexpected {k}" for k in extra]
        problems += [f"{k} is {tuple(state[k].shape)}, not {expected[k]}" for k in wrong]
        more = f" and {len(problems) - 4} more" if len(problems) > 4 else ""
        raise GeneratorError(
            f"{path}: expected {EXPECTED} (num_feat {feat}, num_block {blocks}, "
            f"num_grow_ch {growth}): {'; '.join(problems[:4])}{more}"
        )
    weights = {k: v.to(device, torch.float32).contiguous() for k, v in state.items()}
    scale, unshuffle = VARIANTS[first.shape[1]]
    return Upscaler(
        Path(path), weights, scale, feat, blocks, growth, unshuffle, torch.device(device)
    )


def rrdbnet_shapes(inputs: int, feat: int, blocks: int, grow: int) -> dict[str, tuple[int, ...]]:
    """Every weight and bias of an RRDBNet of this size, and its shape."""
    convs = {"conv_first": (feat, inputs)}
    for i in range(blocks):
        for r in (1, 2, 3):
            for c in (1, 2, 3, 4, 5):
                out = feat if c == 5 else grow
                convs[f"body.{i}.rdb{r}.conv{c}"] = (out, feat + (c - 1) * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        convs[name] = (feat, feat)
    convs["conv_last"] = (3, feat)
    shapes = {}
    for name, (out, inp) in convs.items():
        shapes[f"{name}.weight"] = (out, inp, 3, 3)
        shapes[f"{name}.bias"] = (out,)
    return shapes


def upscale_picture(inputs: dict[str, Path], out: Path) -> dict[str, Any]:
    """The ``picture`` input enlarged once by the ``model`` network, written to ``out`` (PNG)."""
    from PIL import Image

    network = load_upscaler(inputs["model"])
    with Image.open(inputs["picture"]) as picture:
        see_through = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
        pixels = np.asarray(picture.convert("RGBA" if see_through else "RGB"))
    size = (pixels.shape[1] * network.scale, pixels.shape[0] * network.scale)
    Image.fromarray(upscale(pixels, size, inputs["model"])).save(out, format="PNG")
    return {"scale": network.scale, "size": list(size)}
