"""``model/style``: trains a fast style-transfer network from scratch, on the film's own pictures.

The network of :mod:`filmkit.generators.style` sees random crops of the content
images (``content0``, ``content1``, ...: scaled to ``content_scale``, the scale
the renderer runs at, give or take 40%, flipped and colour-jittered) and is
trained (Adam, cosine decay, gradient clipping) to minimise

* a **style** loss: the channel means and centred Gram matrices of every map of
  the fixed random :class:`~filmkit.generators.style.Extractor`, and of every
  band of a Laplacian colour pyramid, against those of the style image. They
  are pooled over the whole batch (a crop of bare wall need not hold as much
  ink as the style image, as long as the batch does) and each measured in
  units of its target's energy, so that every level counts alike;
* a **palette** term: the sliced Wasserstein distance between the output's
  pixel colours and the style image's (sorted projections on random
  directions), so that its whole palette transfers, not just mean and spread;
* a **content** loss: the extractor's first-layer maps at the three finest
  levels of the output's and the content's luminance, each standardised per image and
  average-pooled 4x4 (so where each stroke falls is free; how much structure a
  place has is not), plus their tone (luminance pooled 8x8);
* a **total variation** term against pixel noise.

The request's seed draws the network's initial weights, its noise field, the
crops and the loss's random projections; on the CPU the same request gives the
same bytes. The extractor never changes, so networks trained with different
seeds agree on the look and differ in every stroke.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.style import (
    FORMAT,
    SCALES,
    Extractor,
    build_network,
    flat,
    match,
    palette_distance,
    style_terms,
)
from filmkit.generators.training import (
    cpu_threads,
    derive,
    optimise,
    pick_device,
    save_weights,
)

# Levels whose features the content loss compares, and how much they are pooled first. With
# the finest level too, eyes, glasses and chair legs survive (at 1 and 2 only, 140 steps
# drew faces as dark silhouettes); the pooling leaves the strokes free.
CONTENT_SCALES = (0, 1, 2)
CONTENT_POOL = 4
PALETTE_WEIGHT = 0.3
CLIP = 1.0
LUMA = (0.299, 0.587, 0.114)


class StyleParams(BaseModel):
    """How long and on what crops ``model/style`` trains, the loss's weights, the network's size.

    The defaults train a 272k-parameter network in about 60 s on one core of a
    2-core CPU (130 steps of 4 crops of 112 px, torch 2.13).
    """

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(130, ge=1, le=1_000_000, description="optimiser steps")
    size: int = Field(112, ge=16, le=1024, description="side of the square training crops")
    batch: int = Field(4, ge=1, le=256, description="crops per optimiser step")
    learning_rate: float = Field(0.004, gt=0.0, le=1.0, description="Adam's step size at start")
    style_weight: float = Field(2.0, ge=0.0, le=1e6, description="weight of the style loss")
    content_weight: float = Field(1.0, ge=0.0, le=1e6, description="weight of the content loss")
    tv_weight: float = Field(0.5, ge=0.0, le=1e6, description="weight of the smoothness term")
    width: int = Field(16, ge=2, le=128, description="channels of the network's first layer")
    blocks: int = Field(3, ge=0, le=16, description="residual blocks at quarter resolution")
    noise: int = Field(2, ge=0, le=16, description="noise channels the strokes are drawn from")
    content_scale: float = Field(
        0.5, gt=0.0, le=4.0, description="content is seen at this scale: the renderer's"
    )
    style_size: int = Field(
        512, ge=32, le=4096, description="the style image's longer side is scaled to this"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to run: cpu, cuda, or auto (cuda when torch sees a GPU)"
    )


def _grey(torch: Any, x: Any) -> Any:
    """Luminance standardised per image, as three equal channels: structure without palette."""
    luma = (x * torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    values = luma.flatten(1)
    norm = (luma - values.mean(1).view(-1, 1, 1, 1)) / (values.std(1).view(-1, 1, 1, 1) + 0.02)
    return (norm * 0.2 + 0.5).expand(-1, 3, -1, -1)


def _read_image(torch: Any, path: Path, scale: float) -> Any:
    """An image file as a (3, h, w) float tensor in [0, 1], scaled; transparency over grey."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            rgba = img.convert("RGBA")
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"model/style: cannot read image {path} ({exc})") from None
    size = (max(16, round(rgba.width * scale)), max(16, round(rgba.height * scale)))
    rgba = rgba.resize(size, Image.Resampling.LANCZOS)
    pixels = Image.alpha_composite(Image.new("RGBA", size, (128, 128, 128, 255)), rgba)
    data = torch.frombuffer(bytearray(pixels.convert("RGB").tobytes()), dtype=torch.uint8)
    return data.view(size[1], size[0], 3).permute(2, 0, 1).float() / 255.0


class _Crops:
    """Training batches: random crops of the content, scaled, flipped and colour-jittered."""

    def __init__(self, torch: Any, images: list[Any], size: int, seed: int) -> None:
        self.torch, self.images, self.size = torch, images, size
        self.gen = torch.Generator().manual_seed(seed)

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(self.torch.rand((), generator=self.gen))

    def crop(self) -> Any:
        """One (3, size, size) crop."""
        torch = self.torch
        img = self.images[int(torch.randint(len(self.images), (), generator=self.gen))]
        h, w = img.shape[-2:]
        # Seen 0.7-1.4 times as big as the renderer sees it: strokes learnt at several sizes.
        side = min(h, w, round(self.size / math.exp(self._uniform(-0.35, 0.35))))
        y = int(torch.randint(h - side + 1, (), generator=self.gen))
        x = int(torch.randint(w - side + 1, (), generator=self.gen))
        patch = torch.nn.functional.interpolate(
            img[None, :, y : y + side, x : x + side],
            size=(self.size, self.size),
            mode="bilinear",
            antialias=True,
        )
        if self._uniform(0, 1) < 0.5:
            patch = patch.flip(-1)
        # Colour jitter (gain per channel, contrast, saturation): the look must not hang on
        # the exact colours of the pictures it was trained on.
        patch = patch * torch.tensor([self._uniform(0.85, 1.15) for _ in range(3)]).view(3, 1, 1)
        patch = patch.mean() + (patch - patch.mean()) * self._uniform(0.75, 1.25)
        grey = patch.mean(1, keepdim=True)
        patch = grey + (patch - grey) * self._uniform(0.6, 1.3)
        return patch.clamp(0.0, 1.0)[0]

    def batch(self, count: int) -> Any:
        """``count`` crops, stacked."""
        return self.torch.stack([self.crop() for _ in range(count)])


class StyleTrainer(Generator):
    """Trains a feed-forward network that repaints any picture in the look of one style image."""

    kind = "model"
    name = "style"
    version = "1"
    Params = StyleParams
    outputs: ClassVar[dict[str, str]] = {"weights": ".pt"}
    licence = "filmkit (GPL-3.0-or-later); the weights are trained from scratch on your images"

    def generate(self, request: Request) -> dict[str, Any]:
        """Train on inputs ``style`` and ``content0``, ``content1``...; write ``weights``."""
        params = request.params
        assert isinstance(params, StyleParams)
        style_path = request.inputs.get("style")
        if style_path is None:
            raise GeneratorError("model/style needs a style image (input 'style')")
        content = [request.inputs[k] for k in sorted(request.inputs) if k.startswith("content")]
        if not content:
            raise GeneratorError("model/style needs content images (inputs 'content0', ...)")

        import torch

        device = pick_device(torch, params.device)
        devices = [torch.cuda.current_device()] if device.type == "cuda" else []
        # A private RNG state: initial weights and noise are seeded without disturbing
        # the global generator anybody else in this process uses.
        with cpu_threads(torch, device), torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive(request.seed, "init"))
            style = _read_image(torch, Path(style_path), 1.0)
            style = _read_image(torch, Path(style_path), params.style_size / max(style.shape))
            images = [_read_image(torch, Path(p), params.content_scale) for p in content]
            crops = _Crops(torch, images, params.size, derive(request.seed, "crops"))
            return self._train(torch, style.to(device), crops, params, device, request)

    def _train(
        self,
        torch: Any,
        style: Any,
        crops: _Crops,
        params: StyleParams,
        device: Any,
        request: Request,
    ) -> dict[str, Any]:
        config = {
            "width": params.width,
            "blocks": params.blocks,
            "noise": params.noise,
            "noise_seed": derive(request.seed, "noise") >> 32,
        }
        model = build_network(torch, config).to(device).train()
        # Pyramid levels down to about 8 pixels a side: a coarser one would be all padding.
        extractor = Extractor(torch, device, max(1, min(SCALES, round(math.log2(params.size / 4)))))
        gen = torch.Generator().manual_seed(derive(request.seed, "loss"))
        with torch.no_grad():
            targets = style_terms(torch, extractor, style[None])
        optimiser = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
        steps = params.steps
        # Cosine decay to a tenth of the rate: a short schedule still ends on a fine step.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.1 + 0.45 * (1.0 + math.cos(math.pi * step / steps))
        )
        losses: list[float] = []
        every = max(1, steps // 50)
        started = time.perf_counter()
        for step in range(steps):
            content = crops.batch(params.batch).to(device)
            parts = self._loss(torch, extractor, targets, style, content, model(content), gen)
            loss = sum(w * parts[k] for k, w in self._weights(params).items())
            losses.append(optimise(torch, model, optimiser, schedule, loss, CLIP))
            if (step + 1) % every == 0 or step + 1 == steps:
                request.progress((step + 1) / steps)
        seconds = time.perf_counter() - started
        save_weights(torch, request.outputs["weights"], FORMAT, config, model)
        span = max(1, min(20, steps // 5))
        return {
            "model": "johnson-style",
            "device": device.type,
            "first_loss": round(sum(losses[:span]) / span, 5),
            "final_loss": round(sum(losses[-span:]) / span, 5),
            "final_parts": {k: round(float(v.detach()), 5) for k, v in parts.items()},
            "steps": steps,
            "seconds_training": round(seconds, 2),
            "parameters": sum(p.numel() for p in model.parameters()),
        }

    @staticmethod
    def _weights(params: StyleParams) -> dict[str, float]:
        """Each part's weight in the loss."""
        return {
            "style": params.style_weight,
            "palette": params.style_weight * PALETTE_WEIGHT,
            "content": params.content_weight,
            "tv": params.tv_weight * 0.01,
        }

    @staticmethod
    def _loss(
        torch: Any,
        extractor: Extractor,
        targets: list[Any],
        style: Any,
        content: Any,
        out: Any,
        gen: Any,
    ) -> dict[str, Any]:
        """The loss's parts, unweighted, for one batch."""
        pool = torch.nn.functional.avg_pool2d
        terms = style_terms(torch, extractor, out)
        style_loss = sum(match(s, t) for s, t in zip(terms, targets, strict=True)) / len(terms)
        # The levels the crops have (a tiny crop has fewer); the coarsest at least.
        levels = tuple(i for i in CONTENT_SCALES if i < len(extractor.layers))
        levels = levels or (len(extractor.layers) - 1,)
        grey_in, grey_out = _grey(torch, content), _grey(torch, out)
        with torch.no_grad():
            wanted = [pool(h, CONTENT_POOL) for h in extractor(grey_in, levels, deep=False)]
        got = [pool(h, CONTENT_POOL) for h in extractor(grey_out, levels, deep=False)]
        structure = sum(
            (a - b).pow(2).mean() / (b.pow(2).mean() + 1e-8)
            for a, b in zip(got, wanted, strict=True)
        )
        # Tone: where the content is dark, the drawing holds more ink.
        tone = (pool(grey_out[:, :1], 8) - pool(grey_in[:, :1], 8)).pow(2).mean() * 25.0
        tv = (out[..., 1:, :] - out[..., :-1, :]).abs().mean()
        return {
            "style": style_loss,
            "palette": palette_distance(torch, out, flat(style[None]), gen),
            "content": structure / len(levels) + tone,
            "tv": tv + (out[..., 1:] - out[..., :-1]).abs().mean(),
        }
