"""Planning a shot's composite effects: the files its masks, depths and retiming
read, the steps enlarging its pictures, and the style networks it is restyled
with. Pure, like the rest of ``plan``.

A layer with ``upscale:`` gets a step ``upscale:<scene>/<shot>/<n>`` that enlarges
its picture once by the network; the shot reads the enlarged picture.

A styled shot gets ``models`` training steps, ``model:style/<scene>/<shot>/<n>``,
one seed each, all trained on the style picture and the shot's own pictures;
the shot step reads their weights as ``style0``, ``style1``, ...
"""

from __future__ import annotations

from dataclasses import replace

from filmkit.errors import SpecError
from filmkit.plan.builder import StepBuilder
from filmkit.plan.keys import canonical_json, derive_seed
from filmkit.plan.steps import Input, SpecPath, Step
from filmkit.spec.effects import DepthMap
from filmkit.spec.models import Shot

# The backend that trains a styled shot's networks.
STYLE_TRAINER = "model/style"


class EffectSteps(StepBuilder):
    """The inputs and training steps of masks, depth maps and styles."""

    def _effect_inputs(
        self, layer: object, k: int, image: Step | None, path: SpecPath
    ) -> list[Input]:
        """The files (and generated depth map) a layer's mask, retiming and depth read."""
        inputs = []
        mask = getattr(layer, "mask", None)
        if mask is not None and mask.model is not None:
            inputs.append(Input(f"layer{k}.mask", file=mask.model))
        retime = getattr(layer, "retime", None)
        if retime is not None and retime.model is not None:
            inputs.append(Input(f"layer{k}.retime", file=retime.model))
        depth = getattr(layer, "depth", None)
        if not isinstance(depth, DepthMap):
            return inputs
        if depth.file is not None or depth.model is not None:
            inputs.append(Input(f"layer{k}.depth", file=depth.file or depth.model))
        elif image is not None:
            if dict(image.outputs).get("depth") is None:
                self._error(
                    SpecError(
                        f"{image.action} makes no depth map",
                        hint="image/room draws one; for other pictures give the depth as a "
                        "number, {file: depth.png} or {model: depth.onnx}",
                        path=(*path, "depth"),
                    )
                )
            else:
                inputs.append(Input(f"layer{k}.depth", step=image.id, output="depth"))
        return inputs

    def _upscaled(self, layer: object, picture: Input, name: str, path: SpecPath) -> Input:
        """``picture``, or the step enlarging it by the layer's ``upscale`` network."""
        weights = getattr(layer, "upscale", None)
        if weights is None:
            return picture
        step = self._render_step(
            f"upscale:{name}",
            "upscale",
            {},
            [replace(picture, name="picture"), Input("model", file=weights)],
            (*path, "upscale"),
            f"upscale {name}",
        )
        return Input(picture.name, step=step.id, output="image")

    def _style_models(
        self, shot: Shot, name: str, pictures: list[Input], path: SpecPath
    ) -> list[Input]:
        """The style networks a shot's frames take turns with, trained on its pictures."""
        style = shot.style
        assert style is not None
        trainer = self._backend(STYLE_TRAINER, "model", path)
        own = {} if style.steps is None else {"steps": style.steps}
        params = trainer and self._params(trainer, own, STYLE_TRAINER, path)
        if trainer is None or params is None:
            return []
        content = [replace(p, name=f"content{j}") for j, p in enumerate(pictures)]
        if not content:
            self._error(
                SpecError(
                    "a styled shot needs a picture layer to train its style networks on",
                    hint="add an image or generated layer, or remove `style:`",
                    path=path,
                )
            )
            return []
        inputs = []
        for n in range(style.models):
            step = self._add(
                Step(
                    id=f"model:style/{name}/{n + 1}",
                    kind="model",
                    action=STYLE_TRAINER,
                    version=trainer.version,
                    params=canonical_json(params.model_dump(mode="json")),
                    seed=derive_seed(self.film.seed, f"style:{name}/{n + 1}"),
                    request=canonical_json({}),
                    inputs=(Input("style", file=style.image), *content),
                    outputs=tuple(trainer.outputs.items()),
                    origin=path,
                    label=f"train style {n + 1} of {name}",
                    deterministic=trainer.deterministic,
                )
            )
            inputs.append(Input(f"style{n}", step=step.id, output="weights"))
        return inputs
