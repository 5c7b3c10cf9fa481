"""Paint the example film's folder of photos, assets/strangers/: passport-style
portraits of people who never existed, for the GAN the film trains (`regulars` in
film.yaml). In your own film, that folder holds your own photos.

    python examples/paint_strangers.py [--count 96] [--out assets/strangers]

Each portrait is filmkit's procedural face (image/face) with every trait drawn from
its seed, on a plain backdrop like a photo booth's. The same arguments always paint
the same files.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from filmkit.generators.base import Request
from filmkit.generators.image.face import Params, ProceduralFace

BACKDROPS = ["#d9dde2", "#e4dccb", "#c9d6df", "#dcd3d9", "#cfd8c8", "#e8e4dc"]


def paint(seed: int, size: int, folder: Path) -> Image.Image:
    """One stranger on a backdrop, lit a little unevenly."""
    outputs = {name: folder / f"{name}.png" for name in ("image", "mouth_open", "blink")}
    ProceduralFace().generate(
        Request(params=Params(), seed=seed, outputs=outputs, size=(size,) * 2)
    )
    with Image.open(outputs["image"]) as face:
        portrait = face.convert("RGBA")
    rng = np.random.default_rng(seed)
    colour = np.array(Image.new("RGB", (1, 1), BACKDROPS[seed % len(BACKDROPS)]))[0, 0]
    light = np.linspace(1.04, 0.9, size)[:, None] * rng.uniform(0.92, 1.04)
    backdrop = np.clip(colour[None, None, :] * light[..., None], 0, 255).astype(np.uint8)
    picture = Image.fromarray(np.broadcast_to(backdrop, (size, size, 3)).copy())
    picture.paste(portrait, (0, 0), portrait)
    return picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=96, help="how many portraits")
    parser.add_argument("--size", type=int, default=160, help="pixels a side")
    parser.add_argument("--out", type=Path, default=Path("assets/strangers"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for n in range(args.count):
            picture = paint(1000 + n, args.size, Path(scratch))
            picture.save(args.out / f"stranger-{n + 1:03d}.jpg", quality=90)


if __name__ == "__main__":
    main()
