"""Face-pipeline benchmark: what filmkit's faces cost, from a folder of photos to a talking,
walking and morphing face on screen.

Every row times filmkit's own code. The pictures are three procedural portraits
(``image/face``, seeds 1000-1002, the first three of ``examples/paint_strangers.py``),
painted once at 720x720 with straight alpha; the "photos" are those portraits on a plain,
unevenly lit backdrop, shrunk to 160x160 (``assets/strangers``' size) and to 640x640.
Networks have random weights of the sizes filmkit builds: a random network costs what a
trained one does. Rows:

- dataset (``generators/image/landmarks.py``, as ``dataset/faces`` crops a photo):
  ``detect`` (faces down to half the default ``min_face``) then ``align`` to 64 px, per
  photo, for a 160x160 and a 640x640 photo, the three photos taken in turn;
- GAN training (``generators/gan/train.py``): ``train_gan`` at size 64, batch 32, for width
  24 with nz 64 (the example film's ``strangers``) and width 64 with nz 100 (the defaults),
  per step (a discriminator and a generator step, DiffAugment on every batch the
  discriminator sees, the EMA update). The data are the dataset row's three 64 px crops,
  repeated to 64 pictures (what they show does not change what a step costs). One run of
  3 + ``--steps`` steps; the step times are read between ``train_gan``'s progress calls
  (every step ends by reading its losses, which waits for the GPU), and the 3 first steps
  are the untimed warm-up. Its "setup" is the rest of the run's time: building and
  initialising the networks, and the EMA generator's standing batch-norm statistics (512
  samples) at the end;
- walk rendering (``generators/gan/walk.py``, ``networks.py``): a free 120-frame walk at
  24 fps (``walk``'s latents, then ``render_latents`` through a size-64 generator, 64
  latents a batch), as ``walk:`` layers render one, per frame, for width 24 (nz 64) and
  width 64 (nz 100); setup builds the generator and moves it to the device;
- morph (``render/morph.py``): ``Morpher.frame(alpha)`` between two 720x720 RGBA portraits,
  per frame, alpha (and so the shape) changing every frame; setup is what a ``morph:``
  layer pays once: ``detect`` on both portraits and the ``Morpher``'s construction;
- talking frames (``render/talk.py``): ``talk_frames`` of a 720x720 RGBA portrait (its
  ``mouth_open`` and ``blink`` frames), per portrait; setup is ``detect`` on it;
- First Order Motion Model (``render/fomm.py``, ``drive: {model: …}``): ``Animator.animate``
  of one driving frame at the published vox-256 size (keypoints of the source and the
  driving frame, the dense motion and the generator), per frame; setup builds the networks;
- Wav2Lip (``render/wav2lip.py``, ``lipsync:``): ``LipSync.frames`` for a second of frames
  (24 mel chunks of a tone) on a 720x720 portrait, the published network's size, per frame.

Every row runs once untimed, then the median of ``--frames`` timed runs is shown (training:
of ``--steps`` timed steps after three untimed). filmkit runs torch on one CPU thread (see
``filmkit/generators/training.py``), and so does this benchmark on the CPU. When torch
sees a CUDA GPU, the training, walk, FOMM and Wav2Lip rows are measured on the CPU and
again on the GPU, synchronised around each timed run; the other rows are numpy and OpenCV,
CPU only.

    python benchmarks/faces.py
    python benchmarks/faces.py --frames 9 --steps 20
    python benchmarks/faces.py --skip-training       # no GAN training: under a minute
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
from timing import machine, synchroniser, timed

from filmkit.generators.base import Request
from filmkit.generators.gan.networks import build_generator, init_weights, render_latents
from filmkit.generators.gan.train import train_gan
from filmkit.generators.gan.walk import walk
from filmkit.generators.image.dataset import Params as DatasetParams
from filmkit.generators.image.face import Params as FaceParams
from filmkit.generators.image.face import ProceduralFace
from filmkit.generators.image.landmarks import Face, align, detect
from filmkit.generators.training import cpu_threads
from filmkit.render.fomm import Animator, FommConfig, build_fomm
from filmkit.render.morph import Morpher
from filmkit.render.talk import talk_frames
from filmkit.render.wav2lip import LipSync, build_wav2lip, mel_chunks, mel_spectrogram

SEEDS = (1000, 1001, 1002)  # examples/paint_strangers.py's first three strangers
PORTRAIT = 720  # the morph and talk rows' portraits, and what the photos are shrunk from
PHOTOS = (160, 640)
CROP = 64  # dataset crops and GAN size
BATCH = 32
DATA = 64  # pictures the GAN trains on
WARM_STEPS = 3
# (width, nz): the example film's strangers, and train_gan's defaults.
NETWORKS = ((24, 64), (64, 100))
FPS = 24
WALK_FRAMES = 120
# dataset/faces searches for faces down to half its min_face.
MIN_SIZE = max(16, DatasetParams.model_fields["min_face"].default // 2)


@dataclass
class Row:
    """One measured row: seconds of set-up (None: nothing to set up) and of each timed run,
    each already divided into the row's unit (a photo, a step, a frame, a portrait)."""

    what: str
    device: str
    unit: str
    setup: float | None
    times: list[float]

    def line(self) -> str:
        ms = 1000 * statistics.median(self.times)
        setup = "-" if self.setup is None else f"{self.setup:.2f}"
        return (
            f"{self.what:44} {self.device:6} {setup:>7} {ms:>9.1f} {1000 / ms:>8.2f}  {self.unit}"
        )


HEADER = f"{'what':44} {'device':6} {'setup s':>7} {'ms each':>9} {'each/s':>8}  each"


def measure(
    what: str,
    device: str,
    unit: str,
    step: Callable[[Any, int], object],
    count: int,
    setup: Callable[[], Any] | None = None,
    per: int = 1,
) -> Row:
    """One row: see :func:`timing.timed`."""
    setup_s, times = timed(device, step, count, setup, per=per)
    return report(Row(what, device, unit, setup_s, times))


def report(row: Row) -> Row:
    print(row.line(), flush=True)
    return row


# Pictures.


def paint(seed: int, folder: Path) -> np.ndarray:
    """A procedural portrait, PORTRAIT px square, RGBA (transparent around the figure)."""
    outputs = {name: folder / f"{name}.png" for name in ("image", "mouth_open", "blink")}
    ProceduralFace().generate(
        Request(params=FaceParams(), seed=seed, outputs=outputs, size=(PORTRAIT, PORTRAIT))
    )
    with Image.open(outputs["image"]) as face:
        return np.asarray(face.convert("RGBA")).copy()


def photo(portrait: np.ndarray, side: int, seed: int) -> np.ndarray:
    """The portrait on a plain backdrop lit a little unevenly, shrunk to ``side``: RGB."""
    rng = np.random.default_rng(seed)
    height = portrait.shape[0]
    light = np.linspace(1.04, 0.9, height, dtype=np.float32)[:, None, None]
    backdrop = np.array([217, 221, 226], np.float32) * light * rng.uniform(0.92, 1.04)
    alpha = portrait[..., 3:].astype(np.float32) / 255
    picture = portrait[..., :3] * alpha + backdrop * (1 - alpha)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    return cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)


def found(picture: np.ndarray, what: str, min_size: int = 32) -> Face:
    face = detect(picture, min_size=min_size)
    if face is None:
        raise SystemExit(f"no face found in {what}: the benchmark's pictures need one")
    return face


def crop(picture: np.ndarray) -> np.ndarray:
    """What dataset/faces does with one photo: find the face, crop it upright."""
    return align(picture, found(picture, "a photo", MIN_SIZE), CROP)


# The rows.


def dataset_rows(portraits: list[np.ndarray], count: int) -> list[np.ndarray]:
    """The dataset rows; returns the 160 px photos' crops (the training rows' data)."""
    for side in PHOTOS:
        photos = [photo(p, side, seed) for p, seed in zip(portraits, SEEDS, strict=True)]
        measure(
            f"dataset: detect + align, {side}x{side} photo",
            "cpu",
            "photo",
            lambda _, i, photos=photos: crop(photos[i % len(photos)]),
            count,
        )
        if side == PHOTOS[0]:
            crops = [crop(p) for p in photos]
    return crops


def training_row(torch: Any, data: np.ndarray, width: int, nz: int, steps: int, device: str) -> Row:
    config = {"size": CROP, "width": width, "nz": nz, "batch": BATCH}
    stamps: list[float] = []
    sync = synchroniser(device)
    sync()
    started = time.perf_counter()
    train_gan(
        torch,
        data,
        config,
        WARM_STEPS + steps,
        seed=1,
        progress=lambda _: stamps.append(time.perf_counter()),
        device=device,
    )
    sync()
    total = time.perf_counter() - started
    # stamps[k] is the end of step k + 1; the first WARM_STEPS steps are the warm-up.
    times = list(np.diff(stamps[WARM_STEPS - 1 :]))
    # The first step's own time is not seen: count it at the median.
    setup = total - (stamps[-1] - stamps[0]) - statistics.median(times)
    what = f"GAN training: 64 px, width {width}, batch {BATCH}"
    return report(Row(what, device, "step", setup, times))


def walk_row(torch: Any, width: int, nz: int, count: int, device: str) -> Row:
    times = np.arange(WALK_FRAMES) / FPS

    def build() -> Any:
        generator = build_generator(torch, nz=nz, width=width, size=CROP)
        init_weights(torch, generator, torch.Generator().manual_seed(width))
        return generator.to(device).eval()

    def frames(generator: Any, i: int) -> None:
        with cpu_threads(torch, torch.device(device)):
            render_latents(torch, generator, walk(nz, times, seed=i), device)

    return measure(
        f"walk: {WALK_FRAMES} frames, 64 px, width {width}",
        device,
        "frame",
        frames,
        count,
        setup=build,
        per=WALK_FRAMES,
    )


def morph_row(portraits: list[np.ndarray], count: int) -> Row:
    a, b = portraits[:2]

    def setup() -> Morpher:
        face_a, face_b = found(a, "the first portrait"), found(b, "the second portrait")
        return Morpher(a, face_a.points(), b, face_b.points())

    return measure(
        f"morph: Morpher.frame, {PORTRAIT}x{PORTRAIT} RGBA",
        "cpu",
        "frame",
        lambda morpher, i: morpher.frame((i + 1) / (count + 2)),
        count,
        setup=setup,
    )


def talk_row(portraits: list[np.ndarray], count: int) -> Row:
    picture = portraits[0]

    def frames(face: Face, i: int) -> None:
        talk_frames(picture, face.left_eye, face.right_eye, face.mouth, face.mouth_width)

    return measure(
        f"talking frames: {PORTRAIT}x{PORTRAIT} RGBA, both",
        "cpu",
        "portrait",
        frames,
        count,
        setup=lambda: found(picture, "the portrait"),
    )


def fomm_row(torch: Any, portraits: list[np.ndarray], count: int, device: str) -> Row:
    """The First Order Motion Model at its published vox-256 size, per driving frame."""
    source = np.ascontiguousarray(portraits[0][..., :3])
    driving = [np.ascontiguousarray(p[..., :3]) for p in portraits]

    def build() -> Any:
        torch.manual_seed(0)
        kp_detector, generator = build_fomm(torch, FommConfig())
        return Animator(torch, kp_detector.to(device), generator.to(device), device, batch=1)

    def frames(animator: Any, i: int) -> None:
        with cpu_threads(torch, torch.device(device)):
            animator.animate(source, driving[i % len(driving) : i % len(driving) + 1])

    return measure("FOMM (vox-256): a frame, 256x256", device, "frame", frames, count, setup=build)


def wav2lip_row(torch: Any, portraits: list[np.ndarray], count: int, device: str) -> Row:
    """Wav2Lip at its published size, per frame of a face 720 px square (its lower half
    redrawn and pasted back), in batches of FPS frames."""
    portrait = portraits[0]
    face = found(portrait, "the portrait")
    box = tuple(int(round(v)) for v in face.box)
    t = np.arange(16000) / 16000
    mels = mel_chunks(mel_spectrogram(np.sin(2 * np.pi * 220 * t) * 0.5, 16000), FPS, FPS)

    def build() -> Any:
        torch.manual_seed(0)
        return LipSync(torch, build_wav2lip(torch).to(device).eval(), device)

    def frames(syncer: Any, i: int) -> None:
        with cpu_threads(torch, torch.device(device)):
            syncer.frames(portrait, box, mels)

    return measure(
        f"Wav2Lip: a frame of a {PORTRAIT} px portrait",
        device,
        "frame",
        frames,
        count,
        setup=build,
        per=FPS,
    )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=7, help="timed runs a row (median shown)")
    parser.add_argument("--steps", type=int, default=10, help="timed GAN training steps")
    parser.add_argument("--skip-training", action="store_true", help="leave out GAN training")
    args = parser.parse_args()
    count, steps = max(1, args.frames), max(2, args.steps)
    try:
        import torch
    except ImportError:
        torch = None
    started = time.perf_counter()
    print(f"machine: {machine(torch)}")
    print(f"load average at start: {load()}")
    print(
        f"median of {count} timed runs after one untimed; "
        f"GAN training: of {steps} timed steps after {WARM_STEPS} untimed\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="filmkit-faces-") as scratch:
        portraits = [paint(seed, Path(scratch)) for seed in SEEDS]
    print(f"(painted {len(SEEDS)} portraits in {time.perf_counter() - started:.1f} s)\n")
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    devices = ["cpu"] + (["cuda"] if torch is not None and torch.cuda.is_available() else [])
    crops = dataset_rows(portraits, count)
    if torch is not None:
        if not args.skip_training:
            data = np.resize(np.stack(crops), (DATA, CROP, CROP, 3))
            for device in devices:
                for width, nz in NETWORKS:
                    training_row(torch, data, width, nz, steps, device)
        for device in devices:
            for width, nz in NETWORKS:
                walk_row(torch, width, nz, count, device)
        for device in devices:
            fomm_row(torch, portraits, count, device)
            wav2lip_row(torch, portraits, max(2, count // 3), device)
    morph_row(portraits, count)
    talk_row(portraits, count)
    if torch is None:
        print("\n(torch is not installed: no GAN rows)")
    print(f"\nload average at end: {load()}")
    print(f"total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
