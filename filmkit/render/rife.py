"""Frame interpolation by RIFE, a neural network, from weights the user downloaded.

RIFE (Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame Interpolation",
ECCV 2022; Practical-RIFE by hzwer, MIT licence) estimates the flow from the frame at ``t``
back to both source frames, coarse to fine in four blocks, warps both frames along it and
blends them with a mask it also estimates. This module holds the IFNet of Practical-RIFE
version 4.6, written anew in plain torch with the parameter names of the published weights:
the ``flownet.pkl`` of RIFE 4.6 loads (120 tensors, ``module.block0.conv0.0.0.weight`` and
so on; the ``module.`` prefix is optional). Other versions differ in shapes (4.5's blocks
predict 5 channels, 4.7 and later add a feature encoder) and are refused with a message.

filmkit never downloads weights: the user fetches them (under RIFE's MIT licence) and
gives their path. Frames go in as RGB in [0, 1], as Practical-RIFE's video script feeds
them, zero-padded on the right and bottom to a multiple of 32 (64 at ``scale`` 0.5, 128
at 0.25) and cropped back.

Time at 1280x720 on a two-core CPU shared with other jobs (load average about 2), one
torch thread (``cpu_threads``), published widths, random weights: 1.1 to 1.7 s a frame
(0.6 to 0.9 frames/s) at ``scale`` 1, 0.43 to 0.8 s (1.2 to 2.3 frames/s) at 0.5.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError
from filmkit.generators.training import cpu_threads, fitted_state, pick_device, read_weights
from filmkit.lazy import numpy as np

VERSION = "4.6"
# Channels of the four blocks in the published weights, coarsest first.
WIDTHS = (192, 128, 96, 64)
# Scales Practical-RIFE allows: the flow is estimated at this fraction of the frame size.
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
# The coarsest block works at 1/8 of the frame and halves it twice more.
MULTIPLE = 32
# Blocks' outputs at their own resolution: 4 flow channels, 1 mask, 1 unused.
OUTPUTS = 6


def build_ifnet(torch: Any, widths: tuple[int, ...] = WIDTHS) -> Any:
    """A RIFE 4.6 IFNet with random weights; ``widths`` are its blocks' channels."""
    nn = torch.nn
    functional = nn.functional
    if len(widths) != 4 or any(w < 2 or w % 2 for w in widths):
        raise ValueError(f"IFNet needs four even widths, not {widths}")

    def down(a: int, b: int) -> Any:
        return nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.LeakyReLU(0.2, True))

    def resize(x: Any, factor: float) -> Any:
        if factor == 1.0:
            return x
        return functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    class ResConv(nn.Module):
        """A 3x3 convolution added to its input, scaled per channel by ``beta``."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x: Any) -> Any:
            return self.relu(self.conv(x) * self.beta + x)

    class IFBlock(nn.Module):
        """One level: looks at its input at 1/``scale`` size and returns full-size flow
        (4 channels: a's x, y, then b's, in pixels) and mask logits (1 channel)."""

        def __init__(self, inputs: int, c: int) -> None:
            super().__init__()
            self.conv0 = nn.Sequential(down(inputs, c // 2), down(c // 2, c))
            self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
            self.lastconv = nn.Sequential(
                nn.ConvTranspose2d(c, 4 * OUTPUTS, 4, 2, 1), nn.PixelShuffle(2)
            )

        def forward(self, x: Any, flow: Any, scale: float) -> tuple[Any, Any]:
            x = resize(x, 1.0 / scale)
            if flow is not None:
                x = torch.cat((x, resize(flow, 1.0 / scale) / scale), 1)
            out = resize(self.lastconv(self.convblock(self.conv0(x))), scale)
            return out[:, :4] * scale, out[:, 4:5]

    def warp(image: Any, flow: Any) -> Any:
        """``image`` sampled at each pixel plus ``flow`` (pixels), edges repeated."""
        n, _, h, w = image.shape
        xs = torch.linspace(-1.0, 1.0, w, device=image.device).view(1, 1, w).expand(n, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=image.device).view(1, h, 1).expand(n, h, w)
        grid = torch.stack(
            (xs + flow[:, 0] * (2.0 / (w - 1)), ys + flow[:, 1] * (2.0 / (h - 1))), 3
        )
        return functional.grid_sample(
            image, grid, mode="bilinear", padding_mode="border", align_corners=True
        )

    class IFNet(nn.Module):
        """Four blocks, coarse to fine, each refining the flow and mask of the last."""

        def __init__(self) -> None:
            super().__init__()
            # The first sees both frames and the time; the others also the warped
            # frames' mask so far and (inside the block) the flow so far.
            self.block0 = IFBlock(7, widths[0])
            self.block1 = IFBlock(8 + 4, widths[1])
            self.block2 = IFBlock(8 + 4, widths[2])
            self.block3 = IFBlock(8 + 4, widths[3])

        def forward(self, img0: Any, img1: Any, t: float, scale: float = 1.0) -> Any:
            """The frame at ``t`` between ``img0`` and ``img1`` (N, 3, H, W in [0, 1])."""
            time = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), float(t))
            blocks = (self.block0, self.block1, self.block2, self.block3)
            flow = mask = None
            warped0, warped1 = img0, img1
            for block, level in zip(blocks, (8.0, 4.0, 2.0, 1.0), strict=True):
                if flow is None:
                    flow, mask = block(torch.cat((img0, img1, time), 1), None, level / scale)
                else:
                    x = torch.cat((warped0, warped1, time, mask), 1)
                    more_flow, more_mask = block(x, flow, level / scale)
                    flow, mask = flow + more_flow, mask + more_mask
                warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
            weight = torch.sigmoid(mask)
            return warped0 * weight + warped1 * (1.0 - weight)

    return IFNet()


def load_rife(path: Path | str, device: str = "auto", *, widths: tuple[int, ...] = WIDTHS) -> Any:
    """The IFNet whose weights (a torch-saved state dict) are at ``path``, in eval mode.

    A file that is not RIFE 4.6 weights raises GeneratorError naming it. Models are
    cached per file, its modification time and the device.
    """
    import torch

    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise GeneratorError(f"{path}: cannot read RIFE weights ({error.strerror})") from None
    where = pick_device(torch, device)
    return _load(str(path), (stat.st_mtime_ns, stat.st_size), str(where), tuple(widths))


@lru_cache(maxsize=2)
def _load(path: str, stamp: tuple[int, int], device: str, widths: tuple[int, ...]) -> Any:
    """The model in ``path``; ``stamp`` (mtime, size) makes an edited file load afresh."""
    import torch

    what = f"{path}: not RIFE {VERSION} IFNet weights"
    state = read_weights(torch, path, f"RIFE {VERSION} IFNet weights")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        found = type(state).__name__
        raise GeneratorError(f"{what}: expected a state dict of named tensors, found a {found}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    with torch.device("meta"):
        model = build_ifnet(torch, widths)
    state = fitted_state(torch, model, state, what)
    model.load_state_dict(state, assign=True)
    return model.to(torch.device(device), torch.float32).eval().requires_grad_(False)


class RifeInterpolator:
    """Frames between two frames by the user's RIFE 4.6 weights; a drop-in for
    :func:`filmkit.render.retime.interpolate` (the flows it is given go unused)."""

    def __init__(
        self,
        weights: Path | str,
        device: str = "auto",
        scale: float = 1.0,
        *,
        widths: tuple[int, ...] = WIDTHS,
    ) -> None:
        import torch

        if scale not in SCALES:
            raise GeneratorError(f"rife: scale must be one of {SCALES}, not {scale}")
        self.torch = torch
        self.model = load_rife(weights, device, widths=widths)
        self.device = next(self.model.parameters()).device
        self.scale = float(scale)
        # Every block's size must divide evenly down to the coarsest one's last halving.
        self.multiple = max(MULTIPLE, int(MULTIPLE / scale))

    def __call__(
        self, a: np.ndarray, b: np.ndarray, t: float, pair_flows: object = None
    ) -> np.ndarray:
        return self.interpolate(a, b, t, pair_flows)

    def interpolate(
        self, a: np.ndarray, b: np.ndarray, t: float, pair_flows: object = None
    ) -> np.ndarray:
        """The frame at fraction ``t`` of the way from ``a`` to ``b`` (uint8 RGB, h x w x 3)."""
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be within [0, 1], not {t}")
        if a.shape != b.shape:
            raise ValueError(f"frames differ in shape: {a.shape} and {b.shape}")
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB frames (h, w, 3), got {a.dtype} {a.shape}")
        if t == 0.0 or t == 1.0:
            return (a if t == 0.0 else b).copy()
        torch = self.torch
        h, w = a.shape[:2]
        pad_w, pad_h = -w % self.multiple, -h % self.multiple
        with cpu_threads(torch, self.device), torch.inference_mode():
            x = torch.from_numpy(np.stack((a, b))).to(self.device)
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h))
            y = self.model(x[:1], x[1:], t, self.scale)[0, :, :h, :w]
            y = y.mul(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
            return y.permute(1, 2, 0).contiguous().cpu().numpy()
