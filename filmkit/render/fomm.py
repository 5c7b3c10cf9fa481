"""Face animation by the First Order Motion Model, from the checkpoint the user downloaded.

The First Order Motion Model (Siarohin, Lathuilière, Tulyakov, Ricci and Sebe, "First Order
Motion Model for Image Animation", NeurIPS 2019; github.com/AliaksandrSiarohin/first-order-model)
moves a still face the way a face moves in a driving video. A keypoint detector finds ten
keypoints, each with a 2x2 Jacobian (the local affine motion around it), in the source and in
every driving frame; a dense motion network turns the keypoints' motion into a warp and an
occlusion map; a generator encodes the source, warps its features, masks what the source
cannot show and decodes the frame.

This module writes those networks anew in plain torch, with the module and parameter names
of the published checkpoints ``vox-cpk.pth.tar`` and ``vox-adv-cpk.pth.tar`` (trained with
``config/vox-256.yaml``): a torch-saved dict whose ``"kp_detector"`` and ``"generator"``
hold the state dicts (``predictor.encoder.down_blocks.0.conv.weight``, ``kp.weight``,
``jacobian.weight``, ``dense_motion_network.hourglass...``, ``final.weight``, ...) beside
optimiser states, ``"epoch"`` and, in the adversarial one, a discriminator. Only the two
state dicts are used; the file is read with ``weights_only=True`` (the optimiser states are
plain dicts, lists, numbers and tensors, which that loader accepts). Block sizes are read
from the tensors' shapes, so checkpoints of other widths and depths load too; what shapes
cannot tell (softmax temperature, keypoint variance) comes from :class:`FommConfig`.

Faithfulness to the original, which was trained on torch 1.0:

* ``F.grid_sample`` had no ``align_corners`` before torch 1.3 and behaved as
  ``align_corners=True``; the networks' coordinate grids also put -1 and 1 on the centres of
  the first and last pixels (``make_coordinate_grid``). Every ``grid_sample`` here passes
  ``align_corners=True``, mode bilinear, zero padding (torch 1.0's behaviour). The repository's
  later code calls it without the argument, which on torch >= 1.3 means ``False`` and stretches
  the warp by up to half a pixel at the borders; the weights were trained with ``True``.
* Bilinear ``F.interpolate`` (only used when the motion field and the feature map differ in
  size, which vox-256 never does) defaulted to ``align_corners=False`` from torch 0.4.1 on;
  it is passed as such. Upsampling is nearest-neighbour by 2, exact in any version.
* The anti-aliasing downsample (``AntiAliasInterpolation2d``: Gaussian blur with
  sigma = (1/scale - 1)/2, then every (1/scale)-th pixel) keeps its kernel as the buffer
  ``down.weight``, which the checkpoints hold; the loaded kernel is used.
* BatchNorm runs in eval mode on the running statistics, as in the demo.

Checked against the repository's own modules (commit c027484): its KPDetector and
OcclusionAwareGenerator built from vox-256.yaml load this module's state dicts strictly
(every key, ``num_batches_tracked`` included), and with the same random weights (BatchNorm
statistics randomised too) give the same keypoints, Jacobians, normalised keypoints and
frames to within 6e-8 when their ``grid_sample`` is given ``align_corners=True``; with
``False`` the frames differ by 2e-3. Time at 256x256 on one CPU thread: about 1.5 s a frame.

The demo (``demo.py``) resizes source and driving frames to 256x256 with skimage (bilinear
with anti-aliasing, floats in [0, 1]); :class:`Animator` uses OpenCV's area filter when
shrinking and bilinear when enlarging (close to, not bit-equal with, skimage's). Faces
should be cropped first (square, the face filling most of it), as the authors' crop script
does; the caller resizes the 256x256 results.

Licence: filmkit never downloads the code's weights; the user fetches a checkpoint from the
links in the authors' README and gives its path. The repository's ``LICENSE.md`` was the
Creative Commons Attribution-NonCommercial 4.0 International licence (CC BY-NC 4.0) from its
creation (2020-03-23) until 2023-06-06, when it was replaced by the MIT licence (commit
f4ff6da, "Copyright (c) 2019-2023 Aliaksandr Siarohin"). The checkpoints, linked from the
README since the first commit (2019-12-10), carry no licence of their own; they date from the
repository's non-commercial years and are trained on VoxCeleb (YouTube interviews). Treat the
code's weights as for non-commercial research use unless their authors say otherwise. This
file is an independent implementation, not a copy of the repository's code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError
from filmkit.generators.training import cpu_threads, fitted_state, pick_device, read_weights
from filmkit.lazy import numpy as np

SIZE = 256  # the published vox models' frame size
WHAT = "First Order Motion Model weights"


@dataclass(frozen=True)
class FommConfig:
    """The networks' hyper-parameters; the defaults are ``config/vox-256.yaml``'s."""

    # common_params
    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    # kp_detector_params
    kp_block_expansion: int = 32
    kp_max_features: int = 1024
    kp_num_blocks: int = 5
    kp_temperature: float = 0.1
    kp_scale_factor: float = 0.25
    kp_single_jacobian_map: bool = False  # KPDetector's default, not set by vox-256
    kp_pad: int = 0  # padding of the 7x7 keypoint and Jacobian heads (KPDetector default)
    # generator_params
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    # generator_params.dense_motion_params
    dm_block_expansion: int = 64
    dm_max_features: int = 1024
    dm_num_blocks: int = 5
    dm_scale_factor: float = 0.25
    dm_kp_variance: float = 0.01  # DenseMotionNetwork's default, not set by vox-256

    def scaled(self, factor: float, *, blocks: int | None = None) -> FommConfig:
        """A copy with every width times ``factor`` (at least 1) and, if given, both
        hourglasses ``blocks`` deep: tiny networks for tests."""

        def width(n: int) -> int:
            return max(1, round(n * factor))

        out = replace(
            self,
            kp_block_expansion=width(self.kp_block_expansion),
            kp_max_features=width(self.kp_max_features),
            block_expansion=width(self.block_expansion),
            max_features=width(self.max_features),
            dm_block_expansion=width(self.dm_block_expansion),
            dm_max_features=width(self.dm_max_features),
        )
        if blocks is not None:
            out = replace(out, kp_num_blocks=blocks, dm_num_blocks=blocks)
        return out


def build_fomm(torch: Any, config: FommConfig | None = None) -> tuple[Any, Any]:
    """``(kp_detector, generator)`` with random weights, named as the published ones.

    Each module keeps ``config`` as its ``fomm_config`` attribute. Build under
    ``torch.device("meta")`` to get the shapes without paying for the weights.
    """
    config = config or FommConfig()
    nn = torch.nn
    F = nn.functional

    def conv(a: int, b: int, k: int, pad: int, groups: int = 1) -> Any:
        return nn.Conv2d(a, b, kernel_size=(k, k), padding=(pad, pad), groups=groups)

    class SameBlock2d(nn.Module):
        """conv, batch norm, ReLU at the same resolution."""

        def __init__(self, a: int, b: int, k: int = 3, pad: int = 1) -> None:
            super().__init__()
            self.conv = conv(a, b, k, pad)
            self.norm = nn.BatchNorm2d(b, affine=True)

        def forward(self, x: Any) -> Any:
            return F.relu(self.norm(self.conv(x)))

    class DownBlock2d(SameBlock2d):
        """A :class:`SameBlock2d` followed by 2x2 average pooling."""

        def __init__(self, a: int, b: int) -> None:
            super().__init__(a, b)
            self.pool = nn.AvgPool2d(kernel_size=(2, 2))

        def forward(self, x: Any) -> Any:
            return self.pool(super().forward(x))

    class UpBlock2d(SameBlock2d):
        """Nearest-neighbour upsampling by 2, then a :class:`SameBlock2d`."""

        def forward(self, x: Any) -> Any:
            return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))

    class ResBlock2d(nn.Module):
        """Pre-activation residual block: (norm, ReLU, conv) twice, plus the input."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1 = conv(c, c, 3, 1)
            self.conv2 = conv(c, c, 3, 1)
            self.norm1 = nn.BatchNorm2d(c, affine=True)
            self.norm2 = nn.BatchNorm2d(c, affine=True)

        def forward(self, x: Any) -> Any:
            out = self.conv1(F.relu(self.norm1(x)))
            return self.conv2(F.relu(self.norm2(out))) + x

    def width(expansion: int, limit: int, level: int) -> int:
        return min(limit, expansion * 2**level)

    class Encoder(nn.Module):
        def __init__(self, expansion: int, inputs: int, blocks: int, limit: int) -> None:
            super().__init__()
            self.down_blocks = nn.ModuleList(
                DownBlock2d(
                    inputs if i == 0 else width(expansion, limit, i), width(expansion, limit, i + 1)
                )
                for i in range(blocks)
            )

        def forward(self, x: Any) -> list[Any]:
            outs = [x]
            for block in self.down_blocks:
                outs.append(block(outs[-1]))
            return outs

    class Decoder(nn.Module):
        def __init__(self, expansion: int, inputs: int, blocks: int, limit: int) -> None:
            super().__init__()
            self.up_blocks = nn.ModuleList(
                UpBlock2d(
                    (1 if i == blocks - 1 else 2) * width(expansion, limit, i + 1),
                    width(expansion, limit, i),
                )
                for i in reversed(range(blocks))
            )
            self.out_filters = expansion + inputs

        def forward(self, skips: list[Any]) -> Any:
            out = skips[-1]
            for block, skip in zip(self.up_blocks, reversed(skips[:-1]), strict=True):
                out = torch.cat([block(out), skip], dim=1)
            return out

    class Hourglass(nn.Module):
        """U-Net: the encoder's outputs concatenated into the decoder's, coarse to fine."""

        def __init__(self, expansion: int, inputs: int, blocks: int, limit: int) -> None:
            super().__init__()
            self.encoder = Encoder(expansion, inputs, blocks, limit)
            self.decoder = Decoder(expansion, inputs, blocks, limit)
            self.out_filters = self.decoder.out_filters

        def forward(self, x: Any) -> Any:
            return self.decoder(self.encoder(x))

    class AntiAliasInterpolation2d(nn.Module):
        """Gaussian blur (sigma (1/scale - 1)/2) then every (1/scale)-th pixel."""

        def __init__(self, channels: int, scale: float) -> None:
            super().__init__()
            sigma = (1 / scale - 1) / 2
            size = 2 * round(sigma * 4) + 1
            self.ka = size // 2
            self.kb = self.ka - 1 if size % 2 == 0 else self.ka
            steps = torch.arange(size, dtype=torch.float32)
            g = torch.exp(-((steps - (size - 1) / 2) ** 2) / (2 * sigma**2))
            kernel = g[:, None] * g[None, :]
            kernel = kernel / kernel.sum()
            self.register_buffer("weight", kernel.expand(channels, 1, size, size).clone())
            self.groups = channels
            self.step = int(1 / scale)

        def forward(self, x: Any) -> Any:
            out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
            out = F.conv2d(out, weight=self.weight, groups=self.groups)
            return out[:, :, :: self.step, :: self.step]

    def coordinate_grid(h: int, w: int, like: Any) -> Any:
        """(h, w, 2) of (x, y) in [-1, 1], -1 and 1 on the outer pixels' centres."""
        x = 2 * (torch.arange(w, dtype=like.dtype, device=like.device) / (w - 1)) - 1
        y = 2 * (torch.arange(h, dtype=like.dtype, device=like.device) / (h - 1)) - 1
        return torch.stack((x.view(1, w).expand(h, w), y.view(h, 1).expand(h, w)), dim=-1)

    def sample(image: Any, grid: Any) -> Any:
        # torch 1.0's grid_sample, for which the weights were trained (see the docstring).
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    class KPDetector(nn.Module):
        """Keypoints (B, K, 2) in [-1, 1] as soft-argmax of heatmaps, and their Jacobians."""

        def __init__(self, c: FommConfig) -> None:
            super().__init__()
            self.predictor = Hourglass(
                c.kp_block_expansion, c.num_channels, c.kp_num_blocks, c.kp_max_features
            )
            filters = self.predictor.out_filters
            self.kp = nn.Conv2d(filters, c.num_kp, kernel_size=(7, 7), padding=c.kp_pad)
            if c.estimate_jacobian:
                self.num_jacobian_maps = 1 if c.kp_single_jacobian_map else c.num_kp
                maps = self.num_jacobian_maps
                self.jacobian = nn.Conv2d(filters, 4 * maps, kernel_size=(7, 7), padding=c.kp_pad)
                with torch.no_grad():
                    self.jacobian.weight.zero_()
                    bias = torch.tensor(
                        [1.0, 0.0, 0.0, 1.0] * maps, device=self.jacobian.bias.device
                    )
                    self.jacobian.bias.copy_(bias)
            else:
                self.jacobian = None
            self.temperature = c.kp_temperature
            if c.kp_scale_factor != 1:
                self.down = AntiAliasInterpolation2d(c.num_channels, c.kp_scale_factor)
            else:
                self.down = None
            self.fomm_config = c

        def forward(self, x: Any) -> dict[str, Any]:
            if self.down is not None:
                x = self.down(x)
            features = self.predictor(x)
            prediction = self.kp(features)
            b, k, h, w = prediction.shape
            heatmap = F.softmax(prediction.view(b, k, -1) / self.temperature, dim=2)
            heatmap = heatmap.view(b, k, h, w)
            grid = coordinate_grid(h, w, heatmap)
            out = {"value": (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))}
            if self.jacobian is not None:
                maps = self.jacobian(features).reshape(b, self.num_jacobian_maps, 4, h, w)
                jacobian = (heatmap.unsqueeze(2) * maps).view(b, k, 4, -1).sum(dim=-1)
                out["jacobian"] = jacobian.view(b, k, 2, 2)
            return out

    class DenseMotionNetwork(nn.Module):
        """From source image and keypoints to a dense warp (B, h, w, 2) and occlusion."""

        def __init__(self, c: FommConfig) -> None:
            super().__init__()
            inputs = (c.num_kp + 1) * (c.num_channels + 1)
            self.hourglass = Hourglass(
                c.dm_block_expansion, inputs, c.dm_num_blocks, c.dm_max_features
            )
            filters = self.hourglass.out_filters
            self.mask = nn.Conv2d(filters, c.num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
            if c.estimate_occlusion_map:
                self.occlusion = nn.Conv2d(filters, 1, kernel_size=(7, 7), padding=(3, 3))
            else:
                self.occlusion = None
            self.num_kp = c.num_kp
            self.kp_variance = c.dm_kp_variance
            if c.dm_scale_factor != 1:
                self.down = AntiAliasInterpolation2d(c.num_channels, c.dm_scale_factor)
            else:
                self.down = None

        def heatmaps(self, grid: Any, kp_driving: Any, kp_source: Any) -> Any:
            """Eq. 6: Gaussians at the driving keypoints minus those at the source's, with
            a zero map in front for the background: (B, K+1, 1, h, w)."""

            def gaussian(kp: Any) -> Any:
                d = grid - kp["value"][:, :, None, None, :]
                return torch.exp(-0.5 * (d**2).sum(-1) / self.kp_variance)

            heatmap = gaussian(kp_driving) - gaussian(kp_source)
            zeros = heatmap.new_zeros((heatmap.shape[0], 1, *heatmap.shape[2:]))
            return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

        def sparse_motions(self, grid: Any, kp_driving: Any, kp_source: Any) -> Any:
            """Eq. 4: for each keypoint, where each driving pixel comes from in the source
            by the keypoint's affine motion; identity first: (B, K+1, h, w, 2)."""
            z = grid - kp_driving["value"][:, :, None, None, :]
            if "jacobian" in kp_driving:
                jac = torch.matmul(kp_source["jacobian"], torch.inverse(kp_driving["jacobian"]))
                z = torch.einsum("bkij,bkhwj->bkhwi", jac, z)
            motions = z + kp_source["value"][:, :, None, None, :]
            identity = grid.expand(motions.shape[0], 1, *grid.shape[2:])
            return torch.cat([identity, motions], dim=1)

        def forward(self, source: Any, kp_driving: Any, kp_source: Any) -> dict[str, Any]:
            if self.down is not None:
                source = self.down(source)
            _, channels, h, w = source.shape
            grid = coordinate_grid(h, w, source)[None, None]
            heatmap = self.heatmaps(grid, kp_driving, kp_source)
            motions = self.sparse_motions(grid, kp_driving, kp_source)
            b, parts = motions.shape[:2]
            # Eq. 7: the source warped by each keypoint's motion.
            repeated = source.unsqueeze(1).expand(b, parts, channels, h, w)
            deformed = sample(
                repeated.reshape(b * parts, channels, h, w), motions.reshape(b * parts, h, w, 2)
            ).view(b, parts, channels, h, w)
            prediction = self.hourglass(torch.cat([heatmap, deformed], dim=2).view(b, -1, h, w))
            mask = F.softmax(self.mask(prediction), dim=1)
            deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)
            out = {"sparse_deformed": deformed, "mask": mask, "deformation": deformation}
            if self.occlusion is not None:
                out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
            return out

    class OcclusionAwareGenerator(nn.Module):
        """Encode the source, warp and mask its features, decode the driven frame."""

        def __init__(self, c: FommConfig) -> None:
            super().__init__()
            self.dense_motion_network = DenseMotionNetwork(c)
            be, mf, n = c.block_expansion, c.max_features, c.num_down_blocks
            self.first = SameBlock2d(c.num_channels, be, k=7, pad=3)
            self.down_blocks = nn.ModuleList(
                DownBlock2d(width(be, mf, i), width(be, mf, i + 1)) for i in range(n)
            )
            self.up_blocks = nn.ModuleList(
                UpBlock2d(width(be, mf, n - i), width(be, mf, n - i - 1)) for i in range(n)
            )
            self.bottleneck = nn.Sequential()
            for i in range(c.num_bottleneck_blocks):
                self.bottleneck.add_module(f"r{i}", ResBlock2d(width(be, mf, n)))
            self.final = nn.Conv2d(be, c.num_channels, kernel_size=(7, 7), padding=(3, 3))
            self.fomm_config = c

        def forward(self, source: Any, kp_driving: Any, kp_source: Any) -> dict[str, Any]:
            """``source`` (1 or B, C, H, W) in [0, 1]; keypoints of batch B (or 1)."""
            out = self.first(source)
            for block in self.down_blocks:
                out = block(out)
            motion = self.dense_motion_network(source, kp_driving, kp_source)
            deformation = motion["deformation"]
            b = deformation.shape[0]
            out = out.expand(b, *out.shape[1:])
            if deformation.shape[1:3] != out.shape[2:]:
                deformation = F.interpolate(
                    deformation.permute(0, 3, 1, 2),
                    size=out.shape[2:],
                    mode="bilinear",
                    align_corners=False,
                ).permute(0, 2, 3, 1)
            out = sample(out, deformation)
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                if occlusion.shape[2:] != out.shape[2:]:
                    occlusion = F.interpolate(
                        occlusion, size=out.shape[2:], mode="bilinear", align_corners=False
                    )
                out = out * occlusion
            out = self.bottleneck(out)
            for block in self.up_blocks:
                out = block(out)
            motion["prediction"] = torch.sigmoid(self.final(out))
            return motion

    return KPDetector(config), OcclusionAwareGenerator(config)


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of (N, 2) ``points``; 0 for fewer than three or collinear."""
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, dtype=np.float64)
    if len(points) < 3:
        return 0.0
    try:
        return float(ConvexHull(points).volume)  # a 2-D hull's "volume" is its area
    except QhullError:
        return 0.0


def movement_scale(kp_source: dict[str, Any], kp_driving_initial: dict[str, Any]) -> float:
    """sqrt(source hull area / first driving frame's hull area), from the first item of
    each batch, as the original ``normalize_kp``; 1 when a hull is degenerate."""
    source = hull_area(kp_source["value"][0].detach().cpu().numpy())
    driving = hull_area(kp_driving_initial["value"][0].detach().cpu().numpy())
    if source <= 0.0 or driving <= 0.0:
        return 1.0
    return float(np.sqrt(source) / np.sqrt(driving))


def normalize_kp(
    torch: Any,
    kp_source: dict[str, Any],
    kp_driving: dict[str, Any],
    kp_driving_initial: dict[str, Any],
    adapt_movement_scale: bool = False,
    use_relative_movement: bool = False,
    use_relative_jacobian: bool = False,
) -> dict[str, Any]:
    """The driving keypoints to render with (``animate.normalize_kp``).

    Relative: the source's keypoints moved by the driving frame's displacement from the
    first driving frame (scaled by :func:`movement_scale` if ``adapt_movement_scale``);
    relative Jacobian: J_driving J_initial^-1 J_source. Absolute: the driving keypoints.
    Batches broadcast (source and initial of batch 1 against B driving frames).
    """
    kp_new = dict(kp_driving)
    if use_relative_movement:
        scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * scale
        kp_new["value"] = diff + kp_source["value"]
        if use_relative_jacobian and "jacobian" in kp_driving:
            change = torch.matmul(
                kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"])
            )
            kp_new["jacobian"] = torch.matmul(change, kp_source["jacobian"])
    return kp_new


def _count(state: dict[str, Any], prefix: str) -> int:
    """How many ``prefix{i}.`` blocks ``state`` has, numbered from 0."""
    n = 0
    while any(k.startswith(f"{prefix}{n}.") for k in state):
        n += 1
    return n


def _scale_of(state: dict[str, Any], key: str, fallback: float) -> float:
    """The downsampling factor whose anti-aliasing kernel is ``state[key]`` (1 if absent):
    a kernel of size 4n - 3 belongs to scale 1/n."""
    if key not in state:
        return 1.0
    size = int(state[key].shape[-1])
    return 4.0 / (size + 3) if (size + 3) % 4 == 0 else fallback


def infer_config(
    kp_state: dict[str, Any], gen_state: dict[str, Any], base: FommConfig | None = None
) -> FommConfig:
    """The :class:`FommConfig` whose shapes the two state dicts have; what shapes cannot
    tell comes from ``base``. Raises KeyError for a missing tensor it needs."""
    base = base or FommConfig()
    first = kp_state["predictor.encoder.down_blocks.0.conv.weight"]
    kp_blocks = _count(kp_state, "predictor.encoder.down_blocks.")
    num_kp = int(kp_state["kp.weight"].shape[0])
    jacobian = kp_state.get("jacobian.weight")
    gen_first = gen_state["first.conv.weight"]
    gen_downs = _count(gen_state, "down_blocks.")
    dm = "dense_motion_network.hourglass.encoder.down_blocks."
    dm_blocks = _count(gen_state, dm)
    channels = int(first.shape[1])
    # The heads see the decoders' outputs: block_expansion + the hourglass's inputs.
    kp_expansion = int(kp_state["kp.weight"].shape[1]) - channels
    dm_inputs = (num_kp + 1) * (channels + 1)
    dm_expansion = int(gen_state["dense_motion_network.mask.weight"].shape[1]) - dm_inputs

    def limit(
        state: dict[str, Any], prefix: str, blocks: int, expansion: int, fallback: int
    ) -> int:
        """The max_features of these blocks: ``fallback`` if it gives the same widths
        (the widest may not reach it, as vox-256's generator's 256 of 512), else the widest."""
        seen = [int(state[f"{prefix}{i}.conv.weight"].shape[0]) for i in range(blocks)]
        if not seen:
            return fallback
        same = [min(fallback, expansion * 2 ** (i + 1)) for i in range(blocks)] == seen
        return fallback if same else max(seen)

    return replace(
        base,
        num_kp=num_kp,
        num_channels=channels,
        estimate_jacobian=jacobian is not None,
        kp_block_expansion=kp_expansion,
        kp_max_features=limit(
            kp_state,
            "predictor.encoder.down_blocks.",
            kp_blocks,
            kp_expansion,
            base.kp_max_features,
        ),
        kp_num_blocks=kp_blocks,
        kp_scale_factor=_scale_of(kp_state, "down.weight", base.kp_scale_factor),
        kp_single_jacobian_map=jacobian is not None and jacobian.shape[0] == 4 and num_kp != 1,
        block_expansion=int(gen_first.shape[0]),
        max_features=limit(
            gen_state, "down_blocks.", gen_downs, int(gen_first.shape[0]), base.max_features
        ),
        num_down_blocks=gen_downs,
        num_bottleneck_blocks=_count(gen_state, "bottleneck.r"),
        estimate_occlusion_map="dense_motion_network.occlusion.weight" in gen_state,
        dm_block_expansion=dm_expansion,
        dm_max_features=limit(gen_state, dm, dm_blocks, dm_expansion, base.dm_max_features),
        dm_num_blocks=dm_blocks,
        dm_scale_factor=_scale_of(
            gen_state, "dense_motion_network.down.weight", base.dm_scale_factor
        ),
    )


def _state_dict(torch: Any, payload: Any, key: str, what: str) -> dict[str, Any]:
    state = payload.get(key)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise GeneratorError(f"{what}: {key!r} is not a state dict of named tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_into(torch: Any, model: Any, state: dict[str, Any], name: str, what: str) -> None:
    """Check names and shapes, then take the tensors (``model`` is on the meta device)."""
    state = fitted_state(torch, model, state, f"{what}: {name}")
    model.load_state_dict(state, assign=True)


def load_fomm(
    torch: Any, path: Path | str, device: Any = "auto", config: FommConfig | None = None
) -> tuple[Any, Any]:
    """``(kp_detector, generator)`` from a First Order Motion Model checkpoint, in eval mode
    on ``device`` ("auto", "cpu", "cuda" or a torch.device).

    With ``config`` None the block sizes come from the tensors' shapes (temperature and
    keypoint variance from the vox-256 defaults); a given ``config`` must match them. A file
    that is not such a checkpoint raises GeneratorError naming it.
    """
    where = pick_device(torch, device) if isinstance(device, str) else torch.device(device)
    what = f"{path}: not {WHAT}"
    payload = read_weights(torch, path, WHAT)
    if not isinstance(payload, dict) or not {"kp_detector", "generator"} <= set(payload):
        found = (
            f"keys {sorted(map(str, payload))[:6]}"
            if isinstance(payload, dict)
            else f"a {type(payload).__name__}"
        )
        raise GeneratorError(
            f"{what}: expected a checkpoint with 'kp_detector' and 'generator' state dicts, "
            f"found {found}"
        )
    kp_state = _state_dict(torch, payload, "kp_detector", what)
    gen_state = _state_dict(torch, payload, "generator", what)
    if config is None:
        try:
            config = infer_config(kp_state, gen_state)
        except KeyError as error:
            raise GeneratorError(f"{what}: missing {error.args[0]}") from None
    with torch.device("meta"):
        kp_detector, generator = build_fomm(torch, config)
    _load_into(torch, kp_detector, kp_state, "kp_detector", what)
    _load_into(torch, generator, gen_state, "generator", what)
    return tuple(
        m.to(where, torch.float32).eval().requires_grad_(False) for m in (kp_detector, generator)
    )


class Animator:
    """Drives a still face with a video's motion (``demo.py``'s ``make_animation``)."""

    def __init__(
        self,
        torch: Any,
        kp_detector: Any,
        generator: Any,
        device: Any = "cpu",
        *,
        size: int = SIZE,
        batch: int = 4,
    ) -> None:
        self.torch = torch
        self.device = pick_device(torch, device) if isinstance(device, str) else device
        self.kp_detector = kp_detector.to(self.device).eval()
        self.generator = generator.to(self.device).eval()
        self.size = int(size)
        self.batch = max(1, int(batch))
        c = getattr(kp_detector, "fomm_config", None)
        g = getattr(generator, "fomm_config", None)
        checks = []
        if c is not None:
            checks.append(round(1 / c.kp_scale_factor) * 2**c.kp_num_blocks)
        if g is not None:
            checks.append(round(1 / g.dm_scale_factor) * 2**g.dm_num_blocks)
            checks.append(2**g.num_down_blocks)
        for multiple in checks:
            if self.size % multiple:
                raise ValueError(f"size {self.size} must be a multiple of {multiple}")

    def _tensor(self, frames: list[np.ndarray]) -> Any:
        import cv2

        out = []
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] < 3 or frame.dtype != np.uint8:
                raise ValueError(
                    f"expected uint8 RGB frames (h, w, 3), got {frame.dtype} {frame.shape}"
                )
            frame = frame[..., :3]
            if frame.shape[:2] != (self.size, self.size):
                shrink = frame.shape[0] > self.size or frame.shape[1] > self.size
                mode = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
                frame = cv2.resize(frame, (self.size, self.size), interpolation=mode)
            out.append(frame)
        x = self.torch.from_numpy(np.ascontiguousarray(np.stack(out))).to(self.device)
        return x.permute(0, 3, 1, 2).float().div_(255.0)

    def animate(
        self,
        source: np.ndarray,
        driving: Any,
        relative: bool = True,
        adapt_scale: bool = True,
    ) -> list[np.ndarray]:
        """``source`` (a still face) moved as the faces in ``driving`` move: one
        ``size`` x ``size`` x 3 uint8 frame per driving frame (inputs are resized to it).

        ``relative`` moves the source's keypoints by the driving keypoints' change since
        the first driving frame (so the first output is the source's pose); otherwise the
        driving keypoints are used as they are. ``adapt_scale`` scales that change by the
        ratio of the keypoints' convex hulls (source against first driving frame).
        """
        torch = self.torch
        frames = list(driving)
        if not frames:
            return []
        results: list[np.ndarray] = []
        with cpu_threads(torch, self.device), torch.no_grad():
            src = self._tensor([source])
            kp_source = self.kp_detector(src)
            kp_initial = None
            for start in range(0, len(frames), self.batch):
                drive = self._tensor(frames[start : start + self.batch])
                kp_driving = self.kp_detector(drive)
                if kp_initial is None:
                    kp_initial = {k: v[:1] for k, v in kp_driving.items()}
                kp_norm = normalize_kp(
                    torch,
                    kp_source=kp_source,
                    kp_driving=kp_driving,
                    kp_driving_initial=kp_initial,
                    adapt_movement_scale=adapt_scale,
                    use_relative_movement=relative,
                    use_relative_jacobian=relative,
                )
                pred = self.generator(src, kp_driving=kp_norm, kp_source=kp_source)["prediction"]
                pixels = pred.mul(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
                results.extend(pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy())
        return results


__all__ = [
    "Animator",
    "FommConfig",
    "build_fomm",
    "hull_area",
    "infer_config",
    "load_fomm",
    "movement_scale",
    "normalize_kp",
]
