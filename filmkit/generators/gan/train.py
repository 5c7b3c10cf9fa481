"""Training the DCGAN on a few hundred photos of faces, resumable bit for bit.

:func:`train_gan` trains :mod:`~filmkit.generators.gan.networks`' generator
and discriminator with

* the non-saturating loss on logits (softplus), Adam (2e-4, betas 0.5, 0.999);
* real batches drawn with replacement, each image flipped left-right half the
  time;
* DiffAugment (Zhao et al. 2020: brightness, saturation, contrast, translation
  by up to 1/8 of the side, a cutout of half the side) on every batch the
  discriminator sees, real and fake alike, differentiably: with 150-4,600
  photos a discriminator that sees them bare learns them by heart within a few
  hundred steps and stops teaching the generator;
* an exponential moving average of the generator's weights (decay 0.999,
  warmed up as (1 + step) / (10 + step)): it is what is saved and sampled.
  Its batch-norm statistics are measured afresh on 512 samples of its own at
  the end (BigGAN's "standing statistics"): those the raw generator kept
  belong to other weights.

Every random draw comes from a private ``torch.Generator`` seeded from the
seed (real batches and flips, latents, augmentations), so on the CPU (one
thread, as :func:`~filmkit.generators.training.cpu_threads` sets) the same
seed, config and photos give the same weights.

Checkpoints (``scratch/gan-checkpoint.pt``), written every
``checkpoint_every`` steps and at least every ``checkpoint_seconds`` of wall
time (write to a temporary file beside it, fsync, rename), hold a dict::

    {"format": "filmkit-gan-checkpoint", "version": 1,
     "key": JSON text: network config, batch, lr, betas, ema, seed, the photos'
            and the init file's sha256,
     "step": steps done,
     "models": state dict of ModuleDict {generator: EMA, discriminator, trained: G},
     "optimisers": {"generator": Adam state dict, "discriminator": Adam state dict},
     "rng": {"batches", "noise", "augment": torch.Generator states},
     "losses": the last 50 [discriminator, generator] losses}

A run finding one with the same key (and no more steps than it is to run)
continues from it, and ends with exactly the weights an uninterrupted run
would have (on the CPU). A checkpoint with another key (other photos, params
or seed) or one that cannot be read is ignored, and training starts afresh;
the number of steps is not part of the key, so a run asked for more steps
continues one that was asked for fewer.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from filmkit.errors import GeneratorError
from filmkit.generators.gan.networks import (
    FORMAT,
    SIZES,
    build_discriminator,
    build_generator,
    init_weights,
    network_config,
    read_gan,
    render_latents,
)
from filmkit.generators.gan.walk import latent
from filmkit.generators.training import cpu_threads, derive, pick_device, read_weights, save_weights
from filmkit.store.files import atomic_write_bytes

CHECKPOINT = "gan-checkpoint.pt"
CHECKPOINT_FORMAT = "filmkit-gan-checkpoint"
CHECKPOINT_VERSION = 1
# Everything :func:`train_gan` reads from its config, and its defaults.
DEFAULTS: dict[str, Any] = {
    "size": 64,
    "nz": 100,
    "width": 64,
    "channels": 3,
    "batch": 32,
    "lr": 2e-4,
    "beta1": 0.5,
    "beta2": 0.999,
    "ema": 0.999,
    "checkpoint_every": 200,
    "checkpoint_seconds": 60.0,
    "standing": 512,  # samples the EMA generator's batch-norm statistics are measured on
    "device": "auto",
}
# Losses kept for the metadata's final losses (and in checkpoints, so they match too).
RECENT = 50
STANDING_BATCH = 64
RNGS = ("batches", "noise", "augment")


@dataclass
class GanRun:
    """What :func:`train_gan` made: the full config, the three networks and the metadata."""

    config: dict[str, Any]
    generator: Any  # the raw generator the optimiser moved
    discriminator: Any
    ema: Any  # the moving average of the generator: the one to save and sample
    info: dict[str, Any] = field(default_factory=dict)


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """``config`` over :data:`DEFAULTS`; unknown keys or a size not in SIZES are errors."""
    unknown = set(config or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown GAN config keys: {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **(config or {})}
    if cfg["size"] not in SIZES:
        raise GeneratorError(
            f"model/gan: size must be one of {', '.join(map(str, SIZES))}, not {cfg['size']}"
        )
    for key in ("nz", "width", "channels", "batch", "checkpoint_every"):
        if int(cfg[key]) < 1:
            raise GeneratorError(f"model/gan: {key} must be 1 or more, not {cfg[key]}")
    return cfg


def train_gan(
    torch: Any,
    faces: np.ndarray,
    config: dict[str, Any] | None,
    steps: int,
    seed: int,
    scratch: Path | str | None = None,
    progress: Callable[[float], None] | None = None,
    device: Any = None,
    init: Path | str | None = None,
) -> GanRun:
    """Train on ``faces`` (uint8, N x S x S x 3, S the config's ``size``) for ``steps`` steps.

    ``config``: keys of :data:`DEFAULTS` (others keep their defaults).
    ``scratch``: a directory for checkpoints (see the module's docstring), or
    None. ``progress(fraction)`` is called after every step. ``device``: a
    torch device or "auto"/"cpu"/"cuda"; None: the config's ``device``.
    ``init``: a weights file to fine-tune from (any form
    :func:`~filmkit.generators.gan.networks.load_generator` reads; its
    discriminator too, if it is a filmkit file); its shape must be the
    config's. Runs on :data:`~filmkit.generators.training.THREADS` CPU threads.
    """
    cfg = resolve_config(config)
    data = _check_faces(faces, cfg)
    if device is None or isinstance(device, str):
        device = pick_device(torch, device or cfg["device"])
    with cpu_threads(torch, device):
        trainer = _Trainer(torch, data, cfg, int(seed), device, init)
        return trainer.run(int(steps), None if scratch is None else Path(scratch), progress)


def _check_faces(faces: Any, cfg: dict[str, Any]) -> np.ndarray:
    faces = np.asarray(faces)
    size, channels = cfg["size"], cfg["channels"]
    if faces.ndim != 4 or faces.shape[1:] != (size, size, channels) or len(faces) == 0:
        raise GeneratorError(
            f"model/gan: the photos must be N x {size} x {size} x {channels} (the size param), "
            f"not of shape {faces.shape}"
        )
    if faces.dtype != np.uint8:
        raise GeneratorError(f"model/gan: the photos must be uint8, not {faces.dtype}")
    faces = np.ascontiguousarray(faces)
    # torch shares the array's memory and warns about (and would break on) a read-only one.
    return faces if faces.flags.writeable else faces.copy()


def _digest_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(config: dict[str, Any]) -> str:
    return ", ".join(f"{k} {config[k]}" for k in ("size", "nz", "width", "channels"))


class _Trainer:
    """The networks, optimisers and random generators of one training run."""

    def __init__(
        self,
        torch: Any,
        data: np.ndarray,
        cfg: dict[str, Any],
        seed: int,
        device: Any,
        init: Path | str | None,
    ) -> None:
        self.torch, self.cfg, self.seed, self.device = torch, cfg, seed, device
        self.init = None if init is None else Path(init)
        if self.init is not None and not self.init.is_file():
            raise GeneratorError(f"model/gan: init {self.init}: no such file")
        self.net = network_config(cfg)
        self.data = torch.from_numpy(data)
        self.batch = min(int(cfg["batch"]), len(data))
        digest = hashlib.sha256(data.data)
        digest.update(repr(data.shape).encode())
        self.key = json.dumps(
            {
                "network": self.net,
                "batch": self.batch,
                "lr": float(cfg["lr"]),
                "betas": [float(cfg["beta1"]), float(cfg["beta2"])],
                "ema": float(cfg["ema"]),
                "seed": seed,
                "faces": digest.hexdigest(),
                "init": None if self.init is None else _digest_file(self.init),
                "version": CHECKPOINT_VERSION,
            },
            sort_keys=True,
        )
        self._setup()

    def _setup(self) -> None:
        """Fresh networks (or those of ``init``), optimisers and random generators."""
        torch, net = self.torch, self.net
        # Building a module draws from the global generator; DCGAN's own init then
        # redraws every weight from a private one, and the global state is restored.
        with torch.random.fork_rng(devices=[]):
            self.G = build_generator(torch, **net)
            self.D = build_discriminator(torch, net["width"], net["size"], net["channels"])
            self.E = build_generator(torch, **net)
        weights = torch.Generator().manual_seed(derive(self.seed, "gan", "init"))
        init_weights(torch, self.G, weights)
        init_weights(torch, self.D, weights)
        if self.init is not None:
            self._load_init()
        else:
            self.E.load_state_dict(self.G.state_dict())
        self.modules = torch.nn.ModuleDict(
            {"generator": self.E, "discriminator": self.D, "trained": self.G}
        ).to(self.device)
        self.E.requires_grad_(False)
        betas = (float(self.cfg["beta1"]), float(self.cfg["beta2"]))
        lr = float(self.cfg["lr"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.rng = {
            name: torch.Generator().manual_seed(derive(self.seed, "gan", name)) for name in RNGS
        }
        self.losses: deque[tuple[float, float]] = deque(maxlen=RECENT)

    def _load_init(self) -> None:
        """Start from the weights in ``init``: they must have the config's shape."""
        found = read_gan(self.torch, self.init)
        if found["config"] != self.net:
            differ = [k for k in self.net if found["config"][k] != self.net[k]]
            fix = ", ".join(f"{k}: {found['config'][k]}" for k in differ if k != "channels")
            hint = (
                f"set {fix} to fine-tune from it"
                if "channels" not in differ
                else "it does not make colour (3-channel) images, so it cannot be fine-tuned here"
            )
            raise GeneratorError(
                f"model/gan: init {self.init} is a generator of {_describe(found['config'])}, "
                f"but the params ask for {_describe(self.net)} ({', '.join(differ)} differ): "
                + hint
            )
        try:
            self.G.load_state_dict(found["trained"] or found["generator"])
            self.E.load_state_dict(found["generator"])
            if found["discriminator"] is not None:
                self.D.load_state_dict(found["discriminator"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise GeneratorError(
                f"model/gan: init {self.init} is not a whole GAN: {first}"
            ) from None

    # -- training ------------------------------------------------------------------------

    def run(self, steps: int, scratch: Path | None, progress: Callable[[float], None] | None):
        begin = self._resume(scratch, steps) if scratch is not None else None
        first = begin or 0
        every = int(self.cfg["checkpoint_every"])
        interval = float(self.cfg["checkpoint_seconds"])
        self.modules.train()
        saved = time.monotonic()
        started = time.perf_counter()
        for step in range(first, steps):
            self.losses.append(self._step(step))
            done = step + 1
            due = done % every == 0 or time.monotonic() - saved >= interval
            if scratch is not None and done < steps and due:
                self._checkpoint(scratch, done)
                saved = time.monotonic()
            if progress is not None:
                progress(done / steps)
        seconds = time.perf_counter() - started
        if steps > 0:
            self._standing_statistics()
        self.modules.eval()
        ran = steps - first
        recent = list(self.losses)
        info = {
            "model": "dcgan",
            "device": self.device.type,
            "steps": steps,
            "steps_run": ran,
            "seconds": round(seconds, 3),
            "steps_per_second": round(ran / seconds, 3) if ran and seconds > 0 else None,
            "final_loss_discriminator": _mean([d for d, _ in recent]),
            "final_loss_generator": _mean([g for _, g in recent]),
            "resumed_from": begin,
            "photos": len(self.data),
            "batch": self.batch,
            "parameters_generator": sum(p.numel() for p in self.G.parameters()),
            "parameters_discriminator": sum(p.numel() for p in self.D.parameters()),
        }
        return GanRun(dict(self.cfg), self.G, self.D, self.E, info)

    def _reals(self) -> Any:
        """A batch of photos drawn with replacement, half of them flipped, in [-1, 1]."""
        torch, gen = self.torch, self.rng["batches"]
        index = torch.randint(len(self.data), (self.batch,), generator=gen)
        flip = (torch.rand(self.batch, generator=gen) < 0.5).to(self.device)
        x = self.data[index].to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return torch.where(flip[:, None, None, None], x.flip(3), x)

    def _step(self, step: int) -> tuple[float, float]:
        """One discriminator and one generator step; returns their losses."""
        torch = self.torch
        softplus = torch.nn.functional.softplus
        augment = self.rng["augment"]
        real = self._reals()
        z = torch.randn(self.batch, self.net["nz"], generator=self.rng["noise"]).to(self.device)
        fake = self.G(z)

        self.D.requires_grad_(True)
        d_real = self.D(diff_augment(torch, real, augment))
        d_fake = self.D(diff_augment(torch, fake.detach(), augment))
        loss_d = softplus(-d_real).mean() + softplus(d_fake).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # The generator's step needs no gradient for the discriminator's weights.
        self.D.requires_grad_(False)
        loss_g = softplus(-self.D(diff_augment(torch, fake, augment))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        decay = min(float(self.cfg["ema"]), (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for e, p in zip(self.E.parameters(), self.G.parameters(), strict=True):
                e.lerp_(p, 1.0 - decay)
            for e, b in zip(self.E.buffers(), self.G.buffers(), strict=True):
                e.copy_(b)
        return float(loss_d.item()), float(loss_g.item())

    def _standing_statistics(self) -> None:
        """The EMA generator's batch-norm statistics, measured on its own samples."""
        torch, count = self.torch, int(self.cfg["standing"])
        if count <= 0:
            return
        norms = [m for m in self.E.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        gen = torch.Generator().manual_seed(derive(self.seed, "gan", "standing"))
        self.E.train()
        with torch.no_grad():
            for start in range(0, count, STANDING_BATCH):
                n = min(STANDING_BATCH, count - start)
                self.E(torch.randn(n, self.net["nz"], generator=gen).to(self.device))
        for m in norms:
            m.momentum = 0.1
        self.E.eval()

    # -- checkpoints ---------------------------------------------------------------------

    def _checkpoint(self, scratch: Path, done: int) -> None:
        """Everything the run needs to go on from step ``done``, written atomically."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "key": self.key,
            "step": done,
            "models": self.modules.state_dict(),
            "optimisers": {
                "generator": self.opt_g.state_dict(),
                "discriminator": self.opt_d.state_dict(),
            },
            "rng": {name: gen.get_state() for name, gen in self.rng.items()},
            "losses": [list(pair) for pair in self.losses],
        }
        buffer = io.BytesIO()
        self.torch.save(payload, buffer)
        atomic_write_bytes(scratch / CHECKPOINT, buffer.getvalue())

    def _resume(self, scratch: Path, steps: int) -> int | None:
        """The step the checkpoint in ``scratch`` continues from (loaded), or None."""
        path = scratch / CHECKPOINT
        if not path.is_file():
            return None
        try:
            payload = read_weights(self.torch, path, "a GAN checkpoint")
        except GeneratorError:
            return None  # damaged: start afresh
        if (
            not isinstance(payload, dict)
            or payload.get("format") != CHECKPOINT_FORMAT
            or payload.get("key") != self.key
            or not 0 < int(payload.get("step", 0)) <= steps
        ):
            return None
        try:
            self.modules.load_state_dict(payload["models"])
            self.opt_g.load_state_dict(payload["optimisers"]["generator"])
            self.opt_d.load_state_dict(payload["optimisers"]["discriminator"])
            for name, gen in self.rng.items():
                gen.set_state(payload["rng"][name])
            self.losses.extend((float(d), float(g)) for d, g in payload["losses"])
        except (KeyError, RuntimeError, TypeError, ValueError):
            self._setup()  # half loaded: start afresh from a clean slate
            return None
        return int(payload["step"])


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 5) if values else None


# -- DiffAugment ---------------------------------------------------------------------------


def diff_augment(torch: Any, x: Any, generator: Any) -> Any:
    """DiffAugment's colour, translation and cutout (Zhao et al. 2020) on images in [-1, 1].

    Differentiable in ``x``; every random number is drawn from ``generator`` (a
    CPU ``torch.Generator``), one draw per image.
    """
    n = x.shape[0]

    def uniform() -> Any:
        return torch.rand((n, 1, 1, 1), generator=generator).to(x.device, x.dtype)

    x = x + (uniform() - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (uniform() * 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (uniform() + 0.5) + mean  # contrast
    return _cutout(torch, _translate(torch, x, generator, 0.125), generator, 0.5)


def _translate(torch: Any, x: Any, generator: Any, ratio: float) -> Any:
    """Each image shifted by up to ``ratio`` of its side, the uncovered part zero."""
    n, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator).to(x.device)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator).to(x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gx = (gx + tx + 1).clamp(0, h + 1)
    gy = (gy + ty + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)


def _cutout(torch: Any, x: Any, generator: Any, ratio: float) -> Any:
    """Each image with a square of ``ratio`` of its side, somewhere, set to zero."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator).to(x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator).to(x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gx = (gx + ox - ch // 2).clamp(0, h - 1)
    gy = (gy + oy - cw // 2).clamp(0, w - 1)
    mask = torch.ones((n, h, w), dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


# -- saving and previews -------------------------------------------------------------------


def save_gan(
    torch: Any, path: Path | str, config: dict[str, Any], G: Any, D: Any, EMA: Any
) -> None:
    """The GAN in filmkit's form (``"filmkit-gan"``), the same bytes every run.

    One state dict, that of ``ModuleDict {generator: EMA, discriminator: D,
    trained: G}`` (``D`` or ``G`` may be None and are then left out), with the
    network config (nz, width, size, channels).
    """
    parts = {"generator": EMA, "discriminator": D, "trained": G}
    modules = torch.nn.ModuleDict({k: v for k, v in parts.items() if v is not None})
    save_weights(torch, Path(path), FORMAT, network_config(config), modules)


def sample_grid(torch: Any, generator: Any, seed: int = 0, rows: int = 8, cols: int = 8) -> Any:
    """A rows x cols PIL image of faces: row by row, those ``image/gan`` draws for seeds
    ``seed``, ``seed + 1``, ... (truncation 1), so a face can be picked by its seed."""
    from PIL import Image

    device = next(generator.parameters()).device
    latents = np.stack([latent(seed + k, generator.nz) for k in range(rows * cols)])
    pixels = render_latents(torch, generator, latents, device)
    size = pixels.shape[1]
    grid = pixels.reshape(rows, cols, size, size, -1).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * size, cols * size, -1)
    return Image.fromarray(np.ascontiguousarray(grid[..., :3]))
