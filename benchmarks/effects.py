"""Composite-effects benchmark: what each of filmkit's effects costs a 1280x720 frame.

Every row times filmkit's own code on synthetic frames: a textured background panning
4 px a frame with a textured disc gliding 20 px a frame over it (the clip), a depth map
(a ramp with a near box), a green-screen frame and a head-and-shoulders picture. Networks
have random weights of the published sizes, saved to a temporary folder and loaded the way
a film loads the user's files: a random network costs what a trained one does. Rows:

- retime by optical flow (``render/retime.py``): the flows of a source pair; one frame
  between two; and a 4x slow-down through a ``Retimer``, per output frame (a pair's flows
  and three in-between frames, over four);
- retime by RIFE 4.6 (``render/rife.py``), per in-between frame, at ``scale`` 1 and 0.5;
- steady (``render/steady.py``): ``Steadier(0.5)`` on a styled (noisy) copy of the clip;
- style transfer (``render/style.py``): two ``model/style`` networks of the trainer's
  default size, taken in turn as ``schedule`` picks them, run at half the frame's size;
- upscale (``render/upscale.py``): a 320x180 picture to 1280x720 by Lanczos, and by an
  RRDBNet the size of Real-ESRGAN x4plus (64 features, 23 blocks, growth 32), per picture;
- depth (``render/depth.py``): ``focus_blur`` (an aperture of 20, six levels) and
  ``parallax`` (a 32 px sideways move; the same with a 5 % zoom);
- masks (``render/masks.py``): ``chroma_key`` per frame, ``subject_mask`` (GrabCut) per
  picture, and ``SubjectTracker`` per video frame after the first (a cut carried along);
- compositing (``render/frames.py``): a shot of a background picture, a picture moved,
  scaled and turned by keys and a full-frame paper blended by ``multiply`` at opacity 0.85,
  through ``ShotFrames``; then the same shot without keys or blend (the paper's opacity
  lets the layers below show). That one's frames all look alike, so ``ShotFrames`` would
  hand back the first one again: its one-frame cache is emptied before every frame.

"setup" is what a row pays once: loading weights, or ``ShotFrames``' preparation. Every
row runs once untimed (on CPU the RRDBNet does not: it takes half a minute), then the
median of ``--frames`` timed runs is shown. filmkit runs torch on one CPU thread (see
``filmkit/generators/training.py``). When torch sees a CUDA GPU, every torch row is
measured on the CPU and on the GPU, synchronised around each timed run.

    python benchmarks/effects.py
    python benchmarks/effects.py --frames 9 --size 1920x1080
    python benchmarks/effects.py --skip-torch        # no networks: seconds, not minutes
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from timing import machine, timed

from filmkit.generators.style import FORMAT, build_network
from filmkit.generators.style.fast import StyleParams
from filmkit.generators.training import derive, save_weights
from filmkit.render.depth import focus_blur, parallax
from filmkit.render.frames import ShotFrames
from filmkit.render.masks import SubjectTracker, chroma_key, subject_mask
from filmkit.render.retime import Retimer, flows, interpolate
from filmkit.render.rife import RifeInterpolator, build_ifnet
from filmkit.render.steady import Steadier
from filmkit.render.style import Stylist, schedule
from filmkit.render.upscale import load_upscaler, upscale
from filmkit.spec.models import LayerBase

FPS = 24
# The clip: the background pans PAN px a frame, the disc glides GLIDE px (at 1280 wide).
PAN, GLIDE = 4, 20
# Real-ESRGAN x4plus: features, blocks, growth channels.
ESRGAN = (64, 23, 32)
GREEN = (40, 190, 70)
# The compositing rows' top layer, a full-frame paper: translucent, so that without its
# blend it does not hide the layers below (the compositor would then draw it alone).
PAPER = 0.85


@dataclass
class Row:
    """One measured row: seconds of set-up (None: nothing to set up) and of each timed run."""

    effect: str
    device: str
    setup: float | None
    times: list[float]

    def line(self) -> str:
        ms = 1000 * statistics.median(self.times)
        setup = "-" if self.setup is None else f"{self.setup:.2f}"
        return f"{self.effect:48} {self.device:6} {setup:>7} {ms:>10.1f} {1000 / ms:>9.2f}"


HEADER = f"{'effect':48} {'device':6} {'setup s':>7} {'ms/frame':>10} {'frames/s':>9}"


def measure(
    effect: str,
    device: str,
    step: Callable[[Any, int], object],
    count: int,
    setup: Callable[[], Any] | None = None,
    warm: bool = True,
    per: int = 1,
) -> Row:
    """One row: see :func:`timing.timed`."""
    setup_s, times = timed(device, step, count, setup, warm, per)
    row = Row(effect, device, setup_s, times)
    print(row.line(), flush=True)
    return row


# Synthetic pictures.


def texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Colour noise at three scales, smoothed: detail for optical flow to follow."""
    w, h = size
    out = np.zeros((h, w, 3), np.float32)
    for cell, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((h // cell + 2, w // cell + 2, 3), dtype=np.float32)
        out += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def disc_mask(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius, -radius:radius] + 0.5
    return x**2 + y**2 <= radius**2


def moving_clip(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A panning textured background with a textured disc gliding over it."""
    w, h = size
    rng = np.random.default_rng(3)
    pan, glide = max(1, PAN * w // 1280), max(1, GLIDE * w // 1280)
    ground = texture(rng, (w + pan * count, h))
    radius = max(4, h // 9)
    disc, inside = texture(rng, (2 * radius, 2 * radius)), disc_mask(radius)
    frames = []
    for i in range(count):
        frame = np.ascontiguousarray(ground[:, pan * i : pan * i + w])
        x = (w // 4 + glide * i) % (w - 2 * radius)
        y = h // 2 - radius
        frame[y : y + 2 * radius, x : x + 2 * radius][inside] = disc[inside]
        frames.append(frame)
    return frames


def depth_map(size: tuple[int, int]) -> np.ndarray:
    """0 near, 255 far: a floor from far (top) to fairly near (bottom), a near box on it."""
    w, h = size
    depth = np.repeat(np.linspace(255, 96, h, dtype=np.float32)[:, None], w, axis=1)
    depth[h // 3 : h * 9 // 10, w // 3 : w * 2 // 3] = 24
    return depth.astype(np.uint8)


def green_screen(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A shaded green backdrop with a textured subject moving across it."""
    w, h = size
    rng = np.random.default_rng(5)
    shade = np.linspace(0.7, 1.1, w, dtype=np.float32)[None, :, None]
    backdrop = np.clip(np.array(GREEN, np.float32) * shade + rng.normal(0, 4, (h, w, 3)), 0, 255)
    backdrop = backdrop.astype(np.uint8)
    radius = h // 4
    subject = (texture(rng, (2 * radius, 2 * radius)) // 2 + np.uint8(100)).astype(np.uint8)
    inside = disc_mask(radius)
    frames = []
    for i in range(count):
        frame = backdrop.copy()
        x = (w // 4 + 12 * i) % (w - 2 * radius)
        frame[h // 4 : h // 4 + 2 * radius, x : x + 2 * radius][inside] = subject[inside]
        frames.append(frame)
    return frames


def portrait(size: tuple[int, int]) -> np.ndarray:
    """A head and shoulders (touching the bottom edge) against a grey-blue backdrop."""
    w, h = size
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = np.array([175, 185, 200], np.float32), np.array([140, 150, 170], np.float32)
    picture = top + (bottom - top) * (y / h)[..., None]
    head = ((x - w / 2) / (h * 0.16)) ** 2 + ((y - h * 0.42) / (h * 0.21)) ** 2 <= 1
    shoulders = ((x - w / 2) / (h * 0.45)) ** 2 + ((y - h * 1.05) / (h * 0.4)) ** 2 <= 1
    picture[shoulders] = (120, 40, 50)
    picture[head] = (205, 160, 130)
    picture += rng.normal(0, 5, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


# Networks with random weights, saved as the loaders expect.


def rife_weights(torch: Any, path: Path) -> Path:
    """A RIFE 4.6 IFNet's state dict, as the published ``flownet.pkl`` holds it."""
    torch.manual_seed(46)
    torch.save(build_ifnet(torch).state_dict(), path)
    return path


def style_weights(torch: Any, path: Path, seed: int) -> Path:
    """A ``model/style`` file of the trainer's default size, untrained."""
    defaults = StyleParams()
    config = {
        "width": defaults.width,
        "blocks": defaults.blocks,
        "noise": defaults.noise,
        "noise_seed": derive(seed, "noise") >> 32,
    }
    torch.manual_seed(seed)
    save_weights(torch, path, FORMAT, config, build_network(torch, config))
    return path


def esrgan_weights(torch: Any, path: Path) -> Path:
    """An x4 RRDBNet of ``ESRGAN``'s size, random weights, saved as Real-ESRGAN saves them."""
    from filmkit.render.upscale import rrdbnet_shapes

    g = torch.Generator().manual_seed(4)
    state = {}
    for name, shape in rrdbnet_shapes(3, *ESRGAN).items():
        fan_in = shape[1] * 9 if len(shape) > 1 else shape[0] * 9
        state[name] = (torch.rand(*shape, generator=g) * 2 - 1) * fan_in**-0.5
    torch.save({"params_ema": state}, path)
    return path


# Shots, as the planner passes them (the helpers of tests/test_frames.py and
# tests/test_compositing.py).


def layer(kind: str, **fields: Any) -> dict[str, Any]:
    """A layer as the planner passes it: every field of the spec model, defaults filled in."""
    return {**LayerBase().model_dump(mode="json"), "kind": kind, **fields}


def shot(size: tuple[int, int], duration: float, *layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "size": list(size),
        "fps": FPS,
        "duration": duration,
        "lead_in": 0.0,
        "tail": 0.0,
        "layers": list(layers),
        "lines": [],
        "overlap": [0, 0],
    }


def key(at: float, **values: Any) -> dict[str, Any]:
    """A keyframe as the planner passes it."""
    fields = {"position": None, "scale": None, "rotation": None, "opacity": None}
    return {"at": at, "ease": "linear", **fields, **values}


def shot_pictures(folder: Path) -> dict[str, Path]:
    """A 1600x900 background, a 480x360 picture with a soft round edge, a 1280x720 paper."""
    rng = np.random.default_rng(8)
    Image.fromarray(texture(rng, (1600, 900))).save(folder / "ground.png")
    alpha = np.zeros((360, 480), np.uint8)
    cv2.ellipse(alpha, (240, 180), (220, 160), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 6)
    Image.fromarray(np.dstack([texture(rng, (480, 360)), alpha])).save(folder / "keyed.png")
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    paper = 255 - 70 * (((x - 640) / 640) ** 2 + ((y - 360) / 360) ** 2) / 2
    paper = np.dstack([paper, paper * 0.97, paper * 0.9]) - rng.random((720, 1280, 1)) * 20
    Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).save(folder / "paper.png")
    names = ("ground", "keyed", "paper")
    return {f"layer{k}": folder / f"{name}.png" for k, name in enumerate(names)}


def compositing_shots(size: tuple[int, int], count: int) -> tuple[dict, dict]:
    """The keyed-and-multiplied shot of ``count`` frames, and the same without keys or blend."""
    duration = count / FPS
    keys = [
        key(0.0, position=[0.3, 0.4]),
        key(duration, position=[0.7, 0.6], scale=1.5, rotation=30.0, ease="in-out"),
    ]
    ground = layer("image")
    keyed = shot(
        size,
        duration,
        ground,
        layer("image", fit="contain", scale=0.4, keys=keys),
        layer("image", blend="multiply", opacity=PAPER),
    )
    picture, paper = layer("image", fit="contain", scale=0.4), layer("image", opacity=PAPER)
    plain = shot(size, duration, ground, picture, paper)
    return keyed, plain


# The rows.


def optical_flow_rows(size: tuple[int, int], count: int) -> list[Row]:
    clip = moving_clip(size, count + 2)
    pairs = [flows(clip[i], clip[i + 1]) for i in range(2)]  # for the interpolation row

    def slow_down(retimer: Retimer, i: int) -> None:
        for quarter in range(4):
            retimer.frame(i + quarter / 4)

    return [
        measure(
            "retime, flow: flows, per source pair",
            "cpu",
            lambda _, i: flows(*clip[i : i + 2]),
            count,
        ),
        measure(
            "retime, flow: one frame between two",
            "cpu",
            lambda _, i: interpolate(clip[i % 2], clip[i % 2 + 1], 0.5, pairs[i % 2]),
            count,
        ),
        measure(
            "retime, flow: 4x slow-down, per output frame",
            "cpu",
            slow_down,
            count,
            setup=lambda: Retimer(clip.__getitem__, len(clip)),
            per=4,
        ),
    ]


def rife_rows(torch: Any, folder: Path, size: tuple[int, int], count: int, device: str) -> list:
    clip = moving_clip(size, count + 2)
    rows = []
    for scale in (1.0, 0.5):
        # A file of its own per row, so that each row loads it afresh.
        path = rife_weights(torch, folder / f"rife-{device}-{scale}.pkl")
        rows.append(
            measure(
                f"retime, RIFE 4.6, scale {scale:g}: per frame",
                device,
                lambda rife, i: rife(clip[i], clip[i + 1], 0.5),
                count,
                setup=lambda path=path, scale=scale: RifeInterpolator(path, device, scale),
            )
        )
    return rows


def steady_row(size: tuple[int, int], count: int) -> Row:
    clip = moving_clip(size, count + 1)
    rng = np.random.default_rng(9)
    styled = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in clip]
    # Frame 0, untimed, has no frame before it; every timed frame carries the one before.
    return measure(
        "steady (0.5): per frame",
        "cpu",
        lambda steadier, i: steadier.apply(clip[i], styled[i]),
        count,
        setup=lambda: Steadier(0.5),
    )


def style_row(torch: Any, folder: Path, size: tuple[int, int], count: int, device: str) -> Row:
    clip = moving_clip(size, count + 1)
    paths = [style_weights(torch, folder / f"style-{device}-{n}.pt", n) for n in range(2)]
    picks = schedule(count + 1, len(paths), seed=1)
    return measure(
        "style transfer, 2 networks at half size",
        device,
        lambda stylist, i: stylist.apply(clip[i], int(picks[i])),
        count,
        setup=lambda: Stylist(paths, device=device),
    )


def upscale_rows(torch: Any, folder: Path, size: tuple[int, int], count: int, devices: list):
    small = cv2.resize(
        moving_clip(size, 1)[0], (size[0] // 4, size[1] // 4), interpolation=cv2.INTER_AREA
    )
    label = f"upscale {small.shape[1]}x{small.shape[0]} -> {size[0]}x{size[1]}"
    rows = [measure(f"{label}, Lanczos", "cpu", lambda _, i: upscale(small, size), count)]
    for device in devices:
        path = esrgan_weights(torch, folder / f"esrgan-{device}.pth")
        # Half a minute a picture on a CPU: once, and not warmed up, unless asked for more.
        times = max(1, count // 5) if device == "cpu" else count
        rows.append(
            measure(
                f"{label}, RRDBNet x4plus size",
                device,
                lambda _, i, path=path, device=device: upscale(small, size, path, device),
                times,
                setup=lambda path=path, device=device: load_upscaler(path, device),
                warm=device != "cpu",
            )
        )
    return rows


def depth_rows(size: tuple[int, int], count: int) -> list[Row]:
    clip, depth = moving_clip(size, count + 1), depth_map(size)
    radius, shift = 20 * size[1] / 720, (32 * size[0] / 1280, 0.0)
    return [
        measure(
            "depth: focus_blur (aperture 20, 6 levels)",
            "cpu",
            lambda _, i: focus_blur(clip[i], depth, 0.1, radius, 6),
            count,
        ),
        measure(
            f"depth: parallax, {shift[0]:g} px sideways",
            "cpu",
            lambda _, i: parallax(clip[i], depth, shift),
            count,
        ),
        measure(
            f"depth: parallax, {shift[0]:g} px sideways, 5 % zoom",
            "cpu",
            lambda _, i: parallax(clip[i], depth, shift, 1.05),
            count,
        ),
    ]


def mask_rows(size: tuple[int, int], count: int) -> list[Row]:
    screen, picture = green_screen(size, count + 1), portrait(size)
    tracker = SubjectTracker()
    return [
        measure(
            "masks: chroma_key, per frame", "cpu", lambda _, i: chroma_key(screen[i], GREEN), count
        ),
        measure(
            "masks: subject_mask (GrabCut), per picture",
            "cpu",
            lambda _, i: subject_mask(picture),
            count,
        ),
        # The untimed first run cuts from scratch; the timed ones carry the cut along.
        measure(
            "masks: SubjectTracker, per following frame",
            "cpu",
            lambda _, i: tracker.mask(screen[i]),
            count,
        ),
    ]


def compositing_rows(folder: Path, size: tuple[int, int], count: int) -> list[Row]:
    inputs = shot_pictures(folder)
    keyed, plain = compositing_shots(size, count + 1)

    def fresh(frames: ShotFrames, i: int) -> None:
        frames._last = None  # its frames all look alike: composite each, do not reuse one
        frames.frame(i)

    return [
        measure(
            "compositing: keyed picture + multiply paper",
            "cpu",
            lambda frames, i: frames.frame(i),
            count,
            setup=lambda: ShotFrames(keyed, inputs),
        ),
        measure(
            "compositing: the same, no keys, no blend",
            "cpu",
            fresh,
            count,
            setup=lambda: ShotFrames(plain, inputs),
        ),
    ]


def size_arg(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5, help="timed runs a row (median shown)")
    parser.add_argument("--size", type=size_arg, default=(1280, 720), help="frame size, WxH")
    parser.add_argument("--skip-torch", action="store_true", help="leave out the networks")
    args = parser.parse_args()
    size, count = args.size, max(1, args.frames)
    try:
        import torch
    except ImportError:
        torch = None
    started = time.perf_counter()
    print(f"machine: {machine(torch)}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{size[0]}x{size[1]}, median of {count} timed runs after one untimed\n")
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    networks = torch is not None and not args.skip_torch
    devices = ["cpu"] + (["cuda"] if networks and torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory(prefix="filmkit-effects-") as scratch:
        folder = Path(scratch)
        optical_flow_rows(size, count)
        if networks:
            for device in devices:
                rife_rows(torch, folder, size, count, device)
        steady_row(size, count)
        if networks:
            for device in devices:
                style_row(torch, folder, size, count, device)
        upscale_rows(torch, folder, size, count, devices if networks else [])
        depth_rows(size, count)
        mask_rows(size, count)
        compositing_rows(folder, size, count)
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
