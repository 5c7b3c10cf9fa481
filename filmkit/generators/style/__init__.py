"""Neural style transfer from scratch: the network that repaints frames, and what it learns from.

The network follows Johnson, Alahi and Fei-Fei, "Perceptual losses for real-time
style transfer" (2016): a strided encoder (reflection padding, convolutions,
instance norm, ReLU), residual blocks at a quarter of the resolution and a
decoder that upsamples (nearest neighbour, then a convolution) back to RGB in
[0, 1]. It is narrow, so that it runs on every frame of a film on a CPU. Like
Ulyanov et al.'s texture networks it also reads noise, at full and at quarter
size: without it the network has nothing to draw strokes from on a bare wall
and learns to repeat the edges it sees instead. While training the noise is
fresh for every crop; once trained each network has one fixed field (seeded,
per frame size), so a network draws the same strokes on every frame and a film
that switches between networks trained with different seeds makes them "boil".

No pretrained network (VGG) is available to measure style with, so
:class:`Extractor` is a fixed, seeded, randomly initialised one: at each level
of an average-pooling pyramid a bank of random zero-mean 5x5 filters and ReLU,
and at the coarser levels a second random 3x3 layer on top. Random filters
carry texture statistics well (Ustyuzhaninov et al., "Texture synthesis using
shallow convolutional networks with random filters", 2016); the pyramid stands
in for large filters. :mod:`filmkit.generators.style.fast` trains the network
against it (with the statistics below: :func:`style_terms`, :func:`match`,
:func:`palette_distance`) and saves one ``torch.save`` file (format, config,
state dict); :func:`load_network` reads it back for
:class:`filmkit.render.style.Stylist`.
torch is imported inside the functions, so importing this package costs nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError
from filmkit.generators.training import load_weights

FORMAT = "filmkit-style-net"
# The extractor: its seed, pyramid levels and filters per level. Fixed, so every model of a
# style, whatever its seed, is trained towards the same statistics.
EXTRACTOR_SEED = 1975
SCALES = 5
FILTERS = 64
# Levels from which on a second random layer is stacked (the finer ones have the most
# pixels: a second layer there would cost most of a training step).
DEEP_FROM = 2
BIAS = 0.15
# Luminance and two opponent colour axes; the filters weigh colour at CHROMA of light and
# dark, because a drawing is told by its strokes more than by its hues.
OPPONENT = ((0.299, 0.587, 0.114), (0.5, -0.5, 0.0), (0.25, 0.25, -0.5))
CHROMA = 0.3


def build_network(torch: Any, config: dict[str, Any]) -> Any:
    """The image transformation network ``config`` describes (width, blocks, noise)."""
    nn = torch.nn
    width, blocks = int(config["width"]), int(config["blocks"])
    noise, noise_seed = int(config["noise"]), int(config["noise_seed"])

    def conv(a: int, b: int, k: int, stride: int = 1) -> Any:
        return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(a, b, k, stride))

    def unit(a: int, b: int, k: int, stride: int = 1) -> Any:
        return nn.Sequential(conv(a, b, k, stride), nn.InstanceNorm2d(b, affine=True), nn.ReLU())

    class Residual(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                unit(channels, channels, 3),
                conv(channels, channels, 3),
                nn.InstanceNorm2d(channels, affine=True),
            )

        def forward(self, x: Any) -> Any:
            return x + self.body(x)

    class StyleNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.fields: dict[tuple[int, int], tuple[Any, Any]] = {}
            self.encode = nn.Sequential(
                unit(3 + noise, w, 5), unit(w, 2 * w, 3, 2), unit(2 * w, 4 * w, 3, 2)
            )
            # Quarter-size noise, added before the residual blocks: room for strokes longer
            # than the first layer reaches.
            self.inject = nn.Conv2d(noise, 4 * w, 1) if noise else None
            self.blocks = nn.Sequential(*(Residual(4 * w) for _ in range(blocks)))
            self.decode = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                unit(4 * w, 2 * w, 3),
                nn.Upsample(scale_factor=2, mode="nearest"),
                unit(2 * w, w, 3),
                conv(w, 3, 5),
            )

        def forward(self, x: Any) -> Any:
            h, w = x.shape[-2:]
            # Two stride-2 steps: pad to a multiple of 4 so the decoder lands on the input size.
            if h % 4 or w % 4:
                x = nn.functional.pad(x, (0, -w % 4, 0, -h % 4), mode="reflect")
            x = x * 2.0 - 1.0
            if self.inject is not None:
                fine, coarse = self.noise(x)
                z = self.encode(torch.cat([x, fine], 1)) + self.inject(coarse)
            else:
                z = self.encode(x)
            return torch.sigmoid(self.decode(self.blocks(z))[..., :h, :w])

        def noise(self, x: Any) -> tuple[Any, Any]:
            """Noise at full and quarter size: fresh while training, then fixed per size."""
            n, _, h, w = x.shape
            shapes = ((n, noise, h, w), (n, noise, h // 4, w // 4))
            if self.training:
                fine, coarse = (torch.randn(shape, device=x.device) for shape in shapes)
                return fine, coarse
            if (h, w) not in self.fields:
                gen = torch.Generator().manual_seed(noise_seed)
                fine, coarse = (torch.randn((1, *s[1:]), generator=gen) for s in shapes)
                self.fields = {(h, w): (fine.to(x.device), coarse.to(x.device))}
            fine, coarse = self.fields[h, w]
            return fine.expand(n, -1, -1, -1), coarse.expand(n, -1, -1, -1)

    return StyleNet()


def load_network(torch: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    """The network ``model/style`` saved at ``path`` (on the CPU, in eval mode), and its config."""
    config, state = load_weights(torch, path, FORMAT, "model/style weights")
    try:
        model = build_network(torch, config)
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise GeneratorError(f"style: {path} does not hold a whole model ({exc})") from None
    return model.eval(), config


class Extractor:
    """Fixed random features: per pyramid level, random zero-mean 5x5 filters + ReLU (+ a 3x3)."""

    def __init__(self, torch: Any, device: Any, scales: int = SCALES) -> None:
        self.torch = torch
        gen = torch.Generator().manual_seed(EXTRACTOR_SEED)
        self.opponent = torch.tensor(OPPONENT, device=device)
        self.layers: list[list[Any]] = []
        for scale in range(SCALES):  # all drawn, so fewer levels still get the same filters
            w = torch.randn(FILTERS, 3, 5, 5, generator=gen)
            w[:, 1:] *= CHROMA
            # Zero-mean filters see structure, not the local average colour (which would
            # swamp every response on a mostly blank page); the palette term sees colour.
            w = w - w.mean(dim=(2, 3), keepdim=True)
            layer = [w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)]
            layer.append(torch.randn(FILTERS, generator=gen) * BIAS)
            if scale >= DEEP_FROM:
                # He-scaled, with a spread of thresholds: each ReLU cuts somewhere else.
                deep = torch.randn(FILTERS, FILTERS, 3, 3, generator=gen)
                layer += [
                    deep / math.sqrt(4.5 * FILTERS),
                    torch.randn(FILTERS, generator=gen) * BIAS,
                ]
            if scale < scales:
                self.layers.append([t.to(device) for t in layer])

    def __call__(self, x: Any, only: tuple[int, ...] | None = None, deep: bool = True) -> list[Any]:
        """Feature maps of images ``x`` (n, 3, h, w) in [0, 1] at every level, or ``only`` some."""
        torch = self.torch
        f = torch.nn.functional
        x = torch.einsum("ij,njhw->nihw", self.opponent, x) * 4.0
        out = []
        for i, layer in enumerate(self.layers):
            if i:
                x = f.avg_pool2d(x, 2)
            if only is not None and i not in only:
                if i > max(only):
                    break
                continue
            h = f.relu(f.conv2d(f.pad(x, (2, 2, 2, 2), mode="reflect"), layer[0], layer[1]))
            out.append(h)
            if deep and len(layer) > 2:
                out.append(f.relu(f.conv2d(f.pad(h, (1, 1, 1, 1), mode="reflect"), *layer[2:])))
        return out


def flat(x: Any) -> Any:
    """(n, c, h, w) maps as (c, n * h * w): statistics over the whole batch."""
    return x.transpose(0, 1).flatten(1)


def batch_stats(x: Any) -> tuple[Any, Any]:
    """Channel means (c,) and centred Gram matrix (c, c) of maps, over the whole batch."""
    maps = flat(x)
    mean = maps.mean(1)
    centred = maps - mean[:, None]
    return mean, centred @ centred.T / maps.shape[1]


def style_terms(torch: Any, extractor: Extractor, x: Any) -> list[tuple[Any, Any]]:
    """What the style loss matches: (mean, Gram) of every feature map and pyramid band."""
    f = torch.nn.functional
    terms = [batch_stats(h) for h in extractor(x)]
    for _ in range(len(extractor.layers) - 1):
        low = f.avg_pool2d(x, 2)
        terms.append(batch_stats(x - f.interpolate(low, size=x.shape[-2:], mode="bilinear")))
        x = low
    return [*terms, batch_stats(x)]


def match(stats: tuple[Any, Any], target: tuple[Any, Any]) -> Any:
    """Squared error of (mean, Gram) against the target's, in units of the target's energy."""
    (mean, gram), (t_mean, t_gram) = stats, target
    energy = t_gram.diagonal().mean() + t_mean.pow(2).mean() + 1e-8
    return (mean - t_mean).pow(2).mean() / energy + (gram - t_gram).pow(2).mean() / energy**2


def palette_distance(torch: Any, x: Any, target: Any, gen: Any, samples: int = 16384) -> Any:
    """Sliced Wasserstein distance of the pixels' colours to the style's."""
    pixels = flat(x)
    pick = torch.randperm(pixels.shape[1], generator=gen)[:samples].to(x.device)
    other = torch.randperm(target.shape[1], generator=gen)[: pick.numel()].to(x.device)
    proj = torch.randn(3, 8, generator=gen).to(x.device)
    proj = proj / proj.norm(dim=0, keepdim=True)
    # Sorted projections on random directions: when they all match, so do the distributions.
    a = (proj.T @ pixels[:, pick]).sort(dim=1).values
    b = (proj.T @ target[:, other]).sort(dim=1).values
    return (a - b).pow(2).mean() * 100.0
