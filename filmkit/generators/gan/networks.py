"""The DCGAN generator and discriminator, and reading a trained generator back.

The networks are laid out module for module like those of pytorch/examples'
``dcgan/main.py`` (Radford, Metz & Chintala 2015), so at size 64 a
``netG_epoch_N.pth`` that script wrote (``main.0.weight``, ``main.1.weight``,
..., ``main.12.weight``) loads as it is. Other sizes add or drop one
upsampling (downsampling) block per doubling (halving) of the side; the widest
layer stays at ``8 * width`` channels.

The discriminator is that script's ``netD`` without its final ``Sigmoid``: it
returns logits (one per image), and a loss with logits is stable where
``BCELoss`` on probabilities is not. Its module indices match the script's, so
its ``netD`` files load too.

Weights files :func:`load_generator` (and fine-tuning) read:

* filmkit's own (``form`` ``"filmkit-gan"``, written by
  :func:`filmkit.generators.gan.train.save_gan` through
  :func:`filmkit.generators.training.save_weights`): ``config`` holds ``nz``,
  ``width``, ``size`` and ``channels``; ``state_dict`` is that of a
  ``ModuleDict`` with ``generator`` (the EMA generator: the one sampled),
  ``discriminator`` and ``trained`` (the raw generator the optimiser moved,
  which fine-tuning continues from);
* a bare DCGAN generator state dict (``main.0.weight``, ...; a ``module.``
  prefix from ``DataParallel`` is dropped);
* a dict holding one under ``netG``, ``generator`` or ``state_dict``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.errors import GeneratorError
from filmkit.generators.training import read_weights

FORMAT = "filmkit-gan"
SIZES = (32, 64, 128, 256)
# Keys under which other scripts keep a generator's state dict.
WRAPPERS = ("netG", "generator", "state_dict")


def _depth(size: int) -> int:
    """Doublings from the first 4x4 map to ``size``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, SIZES))}, not {size}")
    return int(math.log2(size)) - 2


def _multipliers(size: int) -> list[int]:
    """Channels (in units of ``width``) after the generator's first layer and each block.

    Size 64 gives pytorch/examples' 8, 4, 2, 1; each doubling adds a block at the
    front (capped at 8), each halving drops the widest.
    """
    depth = _depth(size)
    return [min(8, 2 ** (depth - 1 - i)) for i in range(depth)]


def build_generator(torch: Any, nz: int = 100, width: int = 64, size: int = 64, channels: int = 3):
    """The DCGAN generator: z of shape (N, nz) or (N, nz, 1, 1) to images in [-1, 1]."""
    nn = torch.nn
    mults = _multipliers(size)
    layers: list[Any] = [
        nn.ConvTranspose2d(nz, width * mults[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(width * mults[0]),
        nn.ReLU(True),
    ]
    for before, after in zip(mults, mults[1:], strict=False):
        layers += [
            nn.ConvTranspose2d(width * before, width * after, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width * after),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(width * mults[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]

    class DCGANGenerator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.nz = nz
            self.main = nn.Sequential(*layers)

        def forward(self, z: Any) -> Any:
            if z.dim() == 2:
                z = z[:, :, None, None]
            return self.main(z)

    return DCGANGenerator()


def build_discriminator(torch: Any, width: int = 64, size: int = 64, channels: int = 3):
    """The DCGAN discriminator, without the final sigmoid: one logit per image, shape (N,)."""
    nn = torch.nn
    mults = _multipliers(size)[::-1]
    layers: list[Any] = [
        nn.Conv2d(channels, width * mults[0], 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    for before, after in zip(mults, mults[1:], strict=False):
        layers += [
            nn.Conv2d(width * before, width * after, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width * after),
            nn.LeakyReLU(0.2, inplace=True),
        ]
    layers.append(nn.Conv2d(width * mults[-1], 1, 4, 1, 0, bias=False))

    class DCGANDiscriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return self.main(x).reshape(-1)

    return DCGANDiscriminator()


def init_weights(torch: Any, module: Any, generator: Any) -> None:
    """DCGAN's initialisation, drawn from ``generator``: convolutions N(0, 0.02), batch
    norm scales N(1, 0.02) and shifts 0."""
    nn = torch.nn
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.normal_(0.0, 0.02, generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02, generator=generator)
                m.bias.zero_()


def network_config(config: dict[str, Any]) -> dict[str, int]:
    """The four numbers that fix a generator's shape, from a larger config."""
    return {k: int(config[k]) for k in ("nz", "width", "size", "channels")}


def infer_config(state_dict: dict[str, Any]) -> dict[str, int]:
    """``nz``, ``width``, ``size`` and ``channels`` of the generator ``state_dict`` holds.

    Raises ValueError (saying why) when it is not a DCGAN generator's.
    """
    convs: list[tuple[int, Any]] = []
    for key, value in state_dict.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "main" or not parts[1].isdigit():
            raise ValueError(f"unexpected key {key!r}")
        if parts[2] == "weight" and getattr(value, "dim", lambda: 0)() == 4:
            convs.append((int(parts[1]), value))
    convs.sort(key=lambda item: item[0])
    size = 4 * 2 ** (len(convs) - 1) if convs else 0
    if size not in SIZES:
        raise ValueError(f"{len(convs)} transposed convolutions: not a DCGAN generator")
    first, last = convs[0][1], convs[-1][1]
    return {
        "nz": int(first.shape[0]),
        "width": int(last.shape[0]),
        "size": size,
        "channels": int(last.shape[1]),
    }


def _strip(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without ``DataParallel``'s ``module.`` prefix."""
    if state and all(k.startswith("module.") for k in state):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _is_state(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and hasattr(v, "shape") for k, v in value.items())
    )


def read_gan(torch: Any, path: Path | str) -> dict[str, Any]:
    """What a GAN weights file holds, in any of the forms :func:`load_generator` accepts.

    Returns ``config`` (nz, width, size, channels), ``generator`` (the state dict
    to sample from), and ``trained`` and ``discriminator`` (state dicts, or None
    where the file has none). Anything else is a GeneratorError naming ``path``.
    """
    what = "GAN generator weights"
    payload = read_weights(torch, path, what)
    trained = discriminator = None
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        state = payload.get("state_dict")
        if not _is_state(state):
            raise GeneratorError(f"{path}: a {FORMAT} file without its weights")
        parts: dict[str, dict[str, Any]] = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            parts.setdefault(head, {})[rest] = value
        if "generator" not in parts:
            raise GeneratorError(f"{path}: a {FORMAT} file without a generator")
        generator = parts["generator"]
        trained, discriminator = parts.get("trained"), parts.get("discriminator")
    elif isinstance(payload, dict) and "format" in payload:
        raise GeneratorError(f"{path}: a {payload['format']!r} file, not {what}")
    else:
        candidate = payload
        if isinstance(payload, dict) and not _is_state(payload):
            candidate = next((payload[k] for k in WRAPPERS if _is_state(payload.get(k))), None)
        if not _is_state(candidate):
            raise GeneratorError(
                f"{path}: not {what}: expected a DCGAN generator state dict (main.0.weight, "
                f"...), a dict holding one under {', '.join(WRAPPERS)}, or a {FORMAT} file"
            )
        generator = candidate
    generator = _strip(dict(generator))
    try:
        config = infer_config(generator)
    except ValueError as exc:
        raise GeneratorError(
            f"{path}: not {what}: the layout is not pytorch/examples' DCGAN generator ({exc})"
        ) from None
    return {
        "config": config,
        "generator": generator,
        "trained": trained,
        "discriminator": discriminator,
    }


def load_generator(torch: Any, path: Path | str, device: Any) -> tuple[Any, dict[str, int]]:
    """The generator in ``path`` (see the module's docstring), in eval mode on ``device``,
    and its config (nz, width, size, channels)."""
    found = read_gan(torch, path)
    config = found["config"]
    module = build_generator(torch, **config)
    try:
        module.load_state_dict(found["generator"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise GeneratorError(
            f"{path}: not a whole DCGAN generator (size {config['size']}, nz {config['nz']}, "
            f"width {config['width']}): {first}"
        ) from None
    return module.to(device).eval(), config


def render_latents(
    torch: Any, generator: Any, latents: np.ndarray, device: Any, batch: int = 64
) -> np.ndarray:
    """Images for latents (F x nz, numpy), as uint8 F x S x S x channels, ``batch`` at a time.

    The generator runs in eval mode (its batch norm uses the stored statistics),
    so each image depends only on its own latent.
    """
    latents = np.asarray(latents, dtype=np.float32)
    if latents.ndim != 2:
        raise ValueError(f"latents must be F x nz, not of shape {latents.shape}")
    generator.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(latents), max(1, batch)):
            z = torch.from_numpy(latents[start : start + batch]).to(device)
            out = generator(z).float().clamp(-1.0, 1.0)
            pixels = ((out + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
            chunks.append(pixels.cpu().numpy())
    if not chunks:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8)
    return np.concatenate(chunks)
