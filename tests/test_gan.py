"""The DCGAN backends: network layouts, weights files, training, resuming, fine-tuning."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request
from filmkit.generators.gan.backends import (
    GanImage,
    GanParams,
    GanTrainer,
    GanTrainParams,
    render_latents,
)
from filmkit.generators.gan.networks import (
    build_discriminator,
    build_generator,
    infer_config,
    load_generator,
)
from filmkit.generators.gan.train import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    save_gan,
    train_gan,
)

TINY = {"size": 32, "nz": 16, "width": 8, "batch": 8, "device": "cpu"}


def smooth_faces(count: int = 16, size: int = 32, seed: int = 0) -> np.ndarray:
    """Random smooth pictures: a coarse colour grid, blown up and blurred a little."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 4, 4, 3))
    fine = np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2)
    fine = (fine + np.roll(fine, 2, axis=1) + np.roll(fine, 2, axis=2)) / 3.0
    return (fine * 255).round().astype(np.uint8)


def examples_netg(nz: int, ngf: int, nc: int = 3) -> Any:
    """pytorch/examples' dcgan ``netG`` (size 64), written out as that script has it."""
    nn = torch.nn

    class NetG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 8),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh(),
            )

        def forward(self, x: Any) -> Any:
            return self.main(x)

    return NetG()


def examples_netd(ndf: int, nc: int = 3) -> Any:
    """pytorch/examples' dcgan ``netD`` (size 64), sigmoid and all."""
    nn = torch.nn
    model = nn.Module()
    model.main = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    return model


def states_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train(steps: int, **kwargs: Any) -> Any:
    kwargs.setdefault("config", TINY)
    return train_gan(torch, smooth_faces(), kwargs.pop("config"), steps, 5, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GAN, trained a few steps and saved in filmkit's form."""
    run = train(4)
    path = tmp_path_factory.mktemp("gan") / "gan.pt"
    save_gan(torch, path, run.config, run.generator, run.discriminator, run.ema)
    return path


# -- networks --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
def test_network_shapes(size: int) -> None:
    generator = build_generator(torch, nz=16, width=8, size=size)
    discriminator = build_discriminator(torch, width=8, size=size)
    with torch.no_grad():
        images = generator(torch.randn(3, 16))
        assert images.shape == (3, 3, size, size)
        assert generator(torch.randn(3, 16, 1, 1)).shape == (3, 3, size, size)
        assert float(images.abs().max()) <= 1.0
        assert discriminator(images).shape == (3,)
    assert infer_config(generator.state_dict()) == {
        "nz": 16,
        "width": 8,
        "size": size,
        "channels": 3,
    }


def test_size_64_is_laid_out_like_pytorch_examples(tmp_path: Path) -> None:
    reference = examples_netg(nz=16, ngf=8)
    ours = build_generator(torch, nz=16, width=8, size=64)
    assert list(ours.state_dict()) == list(reference.state_dict())
    assert [k for k in ours.state_dict() if k.endswith(".weight")] == [
        f"main.{i}.weight" for i in (0, 1, 3, 4, 6, 7, 9, 10, 12)
    ]
    for k, v in reference.state_dict().items():
        assert ours.state_dict()[k].shape == v.shape, k
    # netD's keys too (its sigmoid has no weights): the final convolution is main.11.
    netd = examples_netd(ndf=8).state_dict()
    discriminator = build_discriminator(torch, width=8, size=64)
    discriminator.load_state_dict(netd)
    assert "main.11.weight" in netd

    with torch.no_grad():  # trained-looking statistics, so eval mode is not the identity
        reference(torch.randn(8, 16, 1, 1))
    reference.eval()
    z = torch.randn(4, 16, 1, 1)
    with torch.no_grad():
        expected = reference(z)
    bare = tmp_path / "netG_epoch_24.pth"
    torch.save(reference.state_dict(), bare)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"netG": reference.state_dict(), "epoch": 24}, wrapped)
    parallel = tmp_path / "parallel.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, parallel)
    for path in (bare, wrapped, parallel):
        generator, config = load_generator(torch, path, torch.device("cpu"))
        assert config == {"nz": 16, "width": 8, "size": 64, "channels": 3}
        assert not generator.training
        with torch.no_grad():
            assert torch.equal(generator(z), expected), path


def test_a_wrong_layout_names_the_file(tmp_path: Path) -> None:
    odd = tmp_path / "odd.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, odd)
    short = tmp_path / "short.pth"
    sd = build_generator(torch, nz=16, width=8, size=32).state_dict()
    torch.save({k: v for k, v in sd.items() if not k.startswith("main.9")}, short)
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    shapes = tmp_path / "shapes.pth"
    torch.save({**sd, "main.3.weight": torch.zeros(5, 5, 4, 4)}, shapes)
    for path in (odd, short, text, shapes, tmp_path / "missing.pth"):
        with pytest.raises(GeneratorError, match=str(path.name)):
            load_generator(torch, path, torch.device("cpu"))


# -- training ------------------------------------------------------------------------------


def test_training_moves_the_weights_and_repeats() -> None:
    untouched = train(0)
    first, second = train(5), train(5)
    assert first.info["steps"] == 5 and first.info["resumed_from"] is None
    assert first.info["final_loss_discriminator"] is not None
    for name in ("ema", "generator", "discriminator"):
        one, two = getattr(first, name).state_dict(), getattr(second, name).state_dict()
        assert states_equal(one, two), name
    assert not torch.equal(
        first.ema.state_dict()["main.0.weight"], untouched.ema.state_dict()["main.0.weight"]
    )
    other = train_gan(torch, smooth_faces(), TINY, 5, 6)
    assert not states_equal(first.ema.state_dict(), other.ema.state_dict())


class Interrupted(Exception):
    """Stands in for a KeyboardInterrupt at a given step."""


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config = {**TINY, "checkpoint_every": 3}
    straight = train(12, config=config)
    scratch = tmp_path / "scratch"

    def stop_at_7(fraction: float) -> None:
        if round(fraction * 12) == 7:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(12, config=config, scratch=scratch, progress=stop_at_7)
    checkpoint = scratch / CHECKPOINT
    assert checkpoint.is_file()
    assert [p.name for p in scratch.iterdir()] == [CHECKPOINT]  # no temporary left behind
    payload = torch.load(checkpoint, weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["step"] == 6

    seen: list[float] = []
    resumed = train(12, config=config, scratch=scratch, progress=seen.append)
    assert resumed.info["resumed_from"] == 6
    assert resumed.info["steps_run"] == 6
    assert seen[0] == pytest.approx(7 / 12) and seen[-1] == 1.0
    for name in ("ema", "generator", "discriminator"):
        one, two = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert states_equal(one, two), name
    assert resumed.info["final_loss_generator"] == straight.info["final_loss_generator"]

    # Another seed (or config, or photos) does not resume from that checkpoint.
    other = train_gan(torch, smooth_faces(), config, 12, 99, scratch=scratch)
    assert other.info["resumed_from"] is None


def test_fine_tuning_starts_from_the_given_weights(trained: Path, tmp_path: Path) -> None:
    saved = torch.load(trained, weights_only=True)["state_dict"]
    start = train(0, init=trained)
    for name, part in (("ema", "generator"), ("generator", "trained"), ("discriminator", None)):
        own = getattr(start, name).state_dict()
        prefix = f"{part or name}."
        assert states_equal(
            own, {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
        )
    fresh, tuned = train(1), train(1, init=trained)
    assert fresh.info["final_loss_generator"] != tuned.info["final_loss_generator"]

    # A bare DCGAN generator works too; the discriminator then starts afresh.
    bare = tmp_path / "netG.pth"
    reference = build_generator(torch, nz=16, width=8, size=32)
    torch.save(reference.state_dict(), bare)
    from_bare = train(0, init=bare)
    assert states_equal(from_bare.ema.state_dict(), reference.state_dict())
    assert states_equal(from_bare.discriminator.state_dict(), fresh_discriminator())


def fresh_discriminator() -> dict[str, Any]:
    return train(0).discriminator.state_dict()


def test_fine_tuning_needs_the_same_shape(tmp_path: Path) -> None:
    big = tmp_path / "big.pth"
    torch.save(build_generator(torch, nz=16, width=8, size=64).state_dict(), big)
    with pytest.raises(GeneratorError, match=r"size 64.*size 32.*set size: 64") as caught:
        train(1, init=big)
    assert "big.pth" in str(caught.value)
    with pytest.raises(GeneratorError, match="no such file"):
        train(1, init=tmp_path / "nothing.pt")


def test_photos_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(GeneratorError, match="N x 32 x 32 x 3"):
        train_gan(torch, smooth_faces(size=64), TINY, 1, 0)


# -- backends ------------------------------------------------------------------------------


def test_the_trainer_writes_weights_and_a_grid(tmp_path: Path) -> None:
    dataset = tmp_path / "faces.npz"
    np.savez(dataset, faces=smooth_faces(12))
    params = GanTrainParams(photos="faces", size=32, steps=3, batch=4, nz=16, width=8, device="cpu")
    outputs = {"weights": tmp_path / "w.pt", "samples": tmp_path / "s.png"}
    seen: list[float] = []
    request = Request(
        params=params, seed=1, outputs=outputs, inputs={"dataset": dataset}, progress=seen.append
    )
    info = GanTrainer().generate(request)
    assert info["steps"] == 3 and seen[-1] == 1.0
    generator, config = load_generator(torch, outputs["weights"], torch.device("cpu"))
    assert config == {"nz": 16, "width": 8, "size": 32, "channels": 3}
    with Image.open(outputs["samples"]) as grid:
        assert grid.size == (256, 256) and grid.mode == "RGB"
    # Cell k of the grid is the face of seed k.
    from filmkit.generators.gan.walk import latent

    face = render_latents(torch, generator, latent(9, 16)[None], torch.device("cpu"))[0]
    with Image.open(outputs["samples"]) as grid:
        cell = np.asarray(grid)[32:64, 32:64]
    assert np.abs(cell.astype(int) - face.astype(int)).max() <= 1


def draw(weights: Path, seed: int, tmp_path: Path, **params: Any) -> bytes:
    out = tmp_path / f"face-{seed}-{len(list(tmp_path.iterdir()))}.png"
    request = Request(
        params=GanParams(photos="faces", **params),
        seed=seed,
        outputs={"image": out},
        size=(48, 40),
        inputs={"model": weights},
    )
    GanImage().generate(request)
    return out.read_bytes()


def test_the_image_backend_draws_one_face_per_seed(trained: Path, tmp_path: Path) -> None:
    first = draw(trained, 3, tmp_path)
    with Image.open(io.BytesIO(first)) as img:
        assert img.size == (48, 40) and img.mode == "RGB"
    assert draw(trained, 3, tmp_path) == first
    assert draw(trained, 4, tmp_path) != first
    assert draw(trained, 3, tmp_path, truncation=0.5) != first
    # Weights given as a param: nothing to train, the file's shape wins.
    params = GanParams(weights=str(trained), size=128)
    assert not GanImage.trains(params) and GanImage.trains(GanParams(photos="faces"))
    out = tmp_path / "own.png"
    GanImage().generate(Request(params=params, seed=3, outputs={"image": out}, size=(48, 40)))
    assert out.read_bytes() == first


def test_params_want_photos_or_weights() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'photos'.*not both"):
        GanParams(photos="faces", weights="gan.pt")
    with pytest.raises(ValidationError, match="exactly one of 'photos'.*neither"):
        GanParams()
    with pytest.raises(ValidationError):
        GanParams(photos="faces", size=48)
    with pytest.raises(ValidationError):
        GanParams(photos="faces", truncation=3.0)
    assert set(GanTrainer.Params.model_fields) == {
        "photos",
        "size",
        "steps",
        "batch",
        "nz",
        "width",
        "init",
        "device",
    }
    for model in (GanParams, GanTrainParams):
        assert all(f.description for f in model.model_fields.values())
