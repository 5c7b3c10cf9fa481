"""``model/gan`` trains a DCGAN on the artist's photos of faces; ``image/gan`` draws one face.

* ``model/gan`` (:class:`GanTrainer`) reads the photos the dataset step made
  (``request.inputs["dataset"]``: an ``.npz`` whose ``faces`` array is uint8
  N x S x S x 3, S the ``size`` param), trains (see
  :mod:`~filmkit.generators.gan.train`; an interrupted run continues from its
  checkpoint in ``request.scratch``), and writes ``weights`` and ``samples``:
  an 8 x 8 grid of the faces ``image/gan`` draws for seeds 0 to 63, row by row;
* ``image/gan`` (:class:`GanImage`) draws the face of ``request.seed``: the
  generator's output for ``latent(seed) * truncation``, resized (Lanczos) to
  cover the requested size. Its model is what ``model/gan`` trained
  (``request.inputs["model"]``) or, with the ``weights`` param, a generator
  file of the artist's (filmkit's own, or pytorch/examples' DCGAN ``netG``):
  then nothing is trained.

Walks (a face that moves) are rendered by the renderer with
:func:`render_latents` along :func:`~filmkit.generators.gan.walk.walk`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.gan.networks import load_generator, render_latents
from filmkit.generators.gan.train import sample_grid, save_gan, train_gan
from filmkit.generators.gan.walk import latent
from filmkit.generators.image.dataset import Params as DatasetParams
from filmkit.generators.training import cpu_threads, pick_device

__all__ = ["GanImage", "GanParams", "GanTrainParams", "GanTrainer", "render_latents"]

GRID = 8  # the samples preview is GRID x GRID faces
LICENCE = (
    "DCGAN architecture (Radford, Metz & Chintala 2015), written for filmkit "
    "(GPL-3.0-or-later); the weights are yours, trained on your photos"
)


class GanTrainParams(BaseModel):
    """What ``model/gan`` trains on and how: the photos, the network's size, the schedule."""

    model_config = ConfigDict(extra="forbid")

    photos: str = Field(
        description="a folder of photos of faces, or a video, in the project: what to train on"
    )
    size: Literal[32, 64, 128, 256] = Field(
        64, description="side in pixels of the faces the network learns and draws"
    )
    steps: int = Field(3000, ge=1, le=1_000_000, description="training steps")
    batch: int = Field(32, ge=1, le=1024, description="photos (and fakes) per training step")
    nz: int = Field(100, ge=2, le=1024, description="length of the latent vector a face comes from")
    width: int = Field(
        64, ge=2, le=512, description="channels of the network's narrowest layer (x8 the widest)"
    )
    init: str | None = Field(
        None,
        description="a checkpoint to fine-tune from (filmkit's or pytorch/examples' DCGAN netG); "
        "its size, nz and width must match these",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to run: cpu, cuda, or auto (cuda when torch sees a GPU)"
    )


class GanParams(GanTrainParams, DatasetParams):
    """The trainer's params (they pick the weights) and the dataset's (how faces are cut
    from the photos), or trained weights; plus how to sample."""

    photos: str | None = Field(  # type: ignore[assignment]
        None,
        description="a folder of photos of faces, or a video, in the project: what to train on "
        "(give this or weights)",
    )
    weights: str | None = Field(
        None,
        description="a trained generator file to draw from instead of training (give this or "
        "photos); the network's shape comes from the file",
    )
    truncation: float = Field(
        1.0,
        ge=0.3,
        le=2.0,
        description="scales the latent: below 1 plainer, likelier faces; above 1 stranger ones",
    )

    @model_validator(mode="after")
    def _one_source(self) -> GanParams:
        if self.photos is None and self.weights is None:
            raise ValueError(
                "give exactly one of 'photos' (photos of faces to train on) or 'weights' "
                "(a trained generator file): neither is given"
            )
        if self.photos is not None and self.weights is not None:
            raise ValueError(
                "give exactly one of 'photos' (photos of faces to train on) or 'weights' "
                "(a trained generator file), not both"
            )
        return self


def read_dataset(path: Path | str) -> np.ndarray:
    """The ``faces`` array (uint8 N x S x S x 3) of a dataset ``.npz``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "faces" not in archive.files:
                raise GeneratorError(f"model/gan: {path} has no 'faces' array")
            faces = archive["faces"]
    except (OSError, ValueError, EOFError) as exc:
        raise GeneratorError(f"model/gan: cannot read the photos {path} ({exc})") from None
    return faces


class GanTrainer(Generator):
    """Trains a DCGAN on photos of faces (DiffAugment, EMA generator, resumable)."""

    kind = "model"
    name = "gan"
    version = "1"
    Params = GanTrainParams
    outputs: ClassVar[dict[str, str]] = {"weights": ".pt", "samples": ".png"}
    file_params: ClassVar[tuple[str, ...]] = ("init",)
    dataset = "dataset/faces"
    licence = LICENCE

    def generate(self, request: Request) -> dict[str, Any]:
        """Train on ``inputs["dataset"]``; write ``weights`` and the ``samples`` grid."""
        params = request.params
        assert isinstance(params, GanTrainParams)
        dataset = request.inputs.get("dataset")
        if dataset is None:
            raise GeneratorError("model/gan needs its photos (input 'dataset', an .npz of faces)")
        faces = read_dataset(dataset)
        init = request.inputs.get("init") or params.init

        import torch

        device = pick_device(torch, params.device)
        config = {
            "size": params.size,
            "nz": params.nz,
            "width": params.width,
            "batch": params.batch,
        }
        run = train_gan(
            torch,
            faces,
            config,
            params.steps,
            request.seed,
            scratch=getattr(request, "scratch", None),
            progress=request.progress,
            device=device,
            init=init,
        )
        save_gan(
            torch, request.outputs["weights"], run.config, run.generator, run.discriminator, run.ema
        )
        with cpu_threads(torch, device):
            grid = sample_grid(torch, run.ema, 0, GRID, GRID)
        grid.save(request.outputs["samples"], format="PNG", compress_level=3)
        return {**run.info, "samples": f"seeds 0-{GRID * GRID - 1}, row by row"}


class GanImage(Generator):
    """One face per seed from a DCGAN trained on your photos (or from your own weights)."""

    kind = "image"
    name = "gan"
    version = "1"
    Params = GanParams
    outputs: ClassVar[dict[str, str]] = {"image": ".png"}
    trainer = "model/gan"
    file_params: ClassVar[tuple[str, ...]] = ("weights",)
    walks = True
    licence = LICENCE

    @classmethod
    def trains(cls, params: BaseModel) -> bool:
        """Whether these params need ``model/gan`` to train first (no ``weights`` given)."""
        return getattr(params, "weights", None) is None

    def generate(self, request: Request) -> dict[str, Any]:
        """Draw the face of ``request.seed`` at ``request.size`` (the generator's own if None)."""
        params = request.params
        assert isinstance(params, GanParams)
        weights = request.inputs.get("model") or request.inputs.get("weights") or params.weights
        if weights is None:
            raise GeneratorError(
                "image/gan needs a generator: the weights model/gan trained (input 'model') "
                "or the 'weights' param"
            )

        import torch
        from PIL import Image

        device = pick_device(torch, params.device)
        with cpu_threads(torch, device):
            generator, config = load_generator(torch, Path(weights), device)
            z = latent(request.seed, config["nz"]) * params.truncation
            pixels = render_latents(torch, generator, z[None], device)[0]
        if pixels.shape[-1] >= 3:
            img = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
        else:
            img = Image.fromarray(np.ascontiguousarray(pixels[..., 0])).convert("RGB")
        size = request.size or (config["size"], config["size"])
        cover(img, size).save(request.outputs["image"], format="PNG", compress_level=3)
        return {"model": "dcgan", "device": device.type, "generator_size": config["size"]}


def cover(img: Any, size: tuple[int, int]) -> Any:
    """``img`` scaled (Lanczos) and centre-cropped to fill ``size`` (width, height) exactly."""
    from PIL import Image

    width, height = int(size[0]), int(size[1])
    scale = max(width / img.width, height / img.height)
    crop_w, crop_h = width / scale, height / scale
    left, top = (img.width - crop_w) / 2.0, (img.height - crop_h) / 2.0
    box = (left, top, left + crop_w, top + crop_h)
    return img.resize((width, height), Image.Resampling.LANCZOS, box=box)
