"""Applying trained style networks to frames, and choosing which network each frame gets.

:class:`Stylist` loads one or more ``model/style`` weights files (networks
trained on the same style image with different seeds) and repaints a frame
with any of them. The network runs at ``scale`` of the frame's size (the
scale it was trained at; it is also several times faster) and its output is
resized back and blended with the frame by ``strength``.

:func:`schedule` picks a network per frame from a seed. Switching between
networks that agree on the look but differ in every stroke makes the drawing
"boil" the way hand-drawn animation does, where each frame is drawn anew.
"""

from __future__ import annotations

import math
from pathlib import Path

from filmkit.errors import GeneratorError
from filmkit.generators.style import load_network
from filmkit.generators.training import cpu_threads
from filmkit.lazy import numpy as np


class Stylist:
    """Repaints frames with trained ``model/style`` networks."""

    def __init__(
        self,
        weights: list[Path],
        *,
        strength: float = 1.0,
        scale: float = 0.5,
        device: str = "cpu",
    ) -> None:
        import torch

        if not weights:
            raise GeneratorError("style: no model/style weights to apply")
        if not 0.0 <= strength <= 1.0:
            raise GeneratorError(f"style: strength must be within 0 and 1, not {strength}")
        if not 0.0 < scale <= 4.0:
            raise GeneratorError(f"style: scale must be within 0 and 4, not {scale}")
        if device not in ("auto", "cpu", "cuda"):
            raise GeneratorError(f"style: device must be auto, cpu or cuda, not {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise GeneratorError("style: device cuda was asked for, but torch sees no CUDA GPU")
        self.torch = torch
        gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if gpu else "cpu")
        self.strength = strength
        self.scale = scale
        self.models = [load_network(torch, Path(p))[0].to(self.device) for p in weights]

    def __len__(self) -> int:
        """How many networks are loaded."""
        return len(self.models)

    def apply(self, pixels: np.ndarray, model_index: int) -> np.ndarray:
        """``pixels`` ((h, w, 3) uint8 RGB) repainted by network ``model_index``, same size."""
        import cv2

        torch = self.torch
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise GeneratorError(f"style: expected (h, w, 3) RGB pixels, got {pixels.shape}")
        if not 0 <= model_index < len(self.models):
            raise GeneratorError(f"style: no network {model_index} (there are {len(self.models)})")
        if self.strength == 0.0:
            return pixels.copy()
        h, w = pixels.shape[:2]
        size = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        small = pixels if size == (w, h) else cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        if not small.flags.writeable:  # a frame read from a file may be; torch warns then
            small = small.copy()
        model = self.models[model_index]
        with cpu_threads(torch, self.device), torch.inference_mode():
            x = torch.from_numpy(small).to(self.device)
            x = x.permute(2, 0, 1)[None].float().div_(255.0)
            y = model(x)[0].permute(1, 2, 0).mul_(255.0).clamp_(0.0, 255.0)
            out = y.round_().to(torch.uint8).cpu().numpy()
        if out.shape[:2] != (h, w):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)
        if self.strength < 1.0:
            out = cv2.addWeighted(out, self.strength, pixels, 1.0 - self.strength, 0.0)
        return out


def schedule(count: int, models: int, seed: int, every: int = 1) -> np.ndarray:
    """Per-frame network index: a new one every ``every`` frames, never the same twice in a row."""
    if count < 0 or models < 1 or every < 1:
        raise ValueError("schedule needs count >= 0, models >= 1 and every >= 1")
    # Its own generator, seeded only by ``seed``: the same film gets the same boil.
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)
    runs = math.ceil(count / every)
    picks = np.zeros(runs, np.int64)
    if models > 1 and runs:
        # A first pick, then steps of 1..models-1 around the ring: never the same one again.
        steps = rng.integers(1, models, size=runs)
        steps[0] = rng.integers(models)
        picks = np.cumsum(steps) % models
    return np.repeat(picks, every)[:count]
