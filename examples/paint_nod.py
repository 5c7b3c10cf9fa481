"""Paint the example film's driving video, assets/nod.mp4: a face that nods slowly and
tilts its head, for `drive:` on Otto in scenes/02-numbers.yaml. In your own film, the
driving video is you, filmed with a phone.

    python examples/paint_nod.py [--out assets/nod.mp4]

Only the motion of the face matters to `drive:` (it is read from the eyes), so any face
will do: this one is filmkit's procedural face on a plain backdrop, moved along a slow
nod (down, up, down) and a tilt. The same arguments always paint the same file.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image

from filmkit.generators.base import Request
from filmkit.generators.image.face import Params, ProceduralFace

SIZE = (320, 240)
FPS = 12
SECONDS = 6.0


def pose(t: float) -> tuple[float, float, float]:
    """Where the head is at ``t``: (right, down) in pixels and a clockwise tilt in degrees."""
    nod = math.sin(2 * math.pi * t / 2.4) * math.exp(-0.15 * t)
    return 3 * math.sin(2 * math.pi * t / 5.0), 9 * max(nod, -0.3), 4 * math.sin(math.pi * t / 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/nod.mp4"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        frames = {n: Path(scratch) / f"{n}.png" for n in ("image", "mouth_open", "blink")}
        ProceduralFace().generate(
            Request(params=Params(), seed=77, outputs=frames, size=(200, 200))
        )
        with Image.open(frames["image"]) as face:
            rgba = np.asarray(face.convert("RGBA")).astype(np.float32)
    alpha = rgba[..., 3:] / 255
    flat = rgba[..., :3] * alpha + np.array([196, 200, 204]) * (1 - alpha)
    width, height = SIZE
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = (196, 200, 204)
    top, left = height - flat.shape[0], (width - flat.shape[1]) // 2
    canvas[top:, left : left + flat.shape[1]] = flat
    writer = imageio_ffmpeg.write_frames(
        str(args.out), SIZE, fps=FPS, quality=7, macro_block_size=16, output_params=["-an"]
    )
    writer.send(None)
    for k in range(int(SECONDS * FPS)):
        right, down, tilt = pose(k / FPS)
        neck = (width / 2, height)
        matrix = cv2.getRotationMatrix2D(neck, -tilt, 1.0)
        matrix[:, 2] += (right, down)
        moved = cv2.warpAffine(canvas, matrix, SIZE, borderMode=cv2.BORDER_REPLICATE)
        writer.send(np.ascontiguousarray(np.clip(moved, 0, 255).astype(np.uint8)))
    writer.close()


if __name__ == "__main__":
    main()
