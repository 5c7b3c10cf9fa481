"""Making steps: generator steps with validated params, training steps, render steps.

The shared half of the planner: :class:`StepBuilder` turns a generator
reference from the spec into a :class:`Step` (or a located error), and a
renderer's params into a render step. Pure, like the rest of ``plan``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from filmkit.errors import SpecError, UsageError
from filmkit.generators.base import Generator
from filmkit.generators.registry import Registry
from filmkit.plan.keys import canonical_json, derive_seed
from filmkit.plan.steps import Input, SpecPath, Step
from filmkit.spec.hints import suggest
from filmkit.spec.models import Film, GeneratorConfig, GeneratorRef

# NOTE: bump a render version whenever that renderer's output bytes change for
# the same inputs; it is part of the action key of every step it renders.
RENDER_VERSIONS = {
    "render/shot": "10",
    "render/transition": "4",
    "render/timeline": "3",
    "render/mix": "7",
    "render/loudness": "1",
    "render/master": "2",
    "render/reel": "1",
    "render/cut": "10",
    "render/upscale": "1",
    "render/talk": "1",
}
RENDER_OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "shot": (("video", ".mp4"),),
    "transition": (("video", ".mp4"),),
    "timeline": (("shots", ".json"), ("speech", ".json"), ("srt", ".srt"), ("vtt", ".vtt")),
    "mix": (
        ("audio", ".npy"),
        ("levels", ".json"),
        ("dialogue", ".wav"),
        ("music", ".wav"),
        ("effects", ".wav"),
    ),
    "loudness": (("gain", ".json"),),
    "master": (("aac", ".aac"), ("frames", ".json"), ("levels", ".json")),
    "reel": (("video", ".mp4"),),
    "cut": (("film", ".movie"),),
    "upscale": (("image", ".png"),),
    "talk": (("mouth_open", ".png"), ("blink", ".png")),
}


class StepBuilder:
    """Collects the steps of one plan, and the spec errors and notes found making them."""

    def __init__(self, film: Film, registry: Registry) -> None:
        self.film = film
        self.registry = registry
        self.steps: dict[str, Step] = {}
        self.errors: list[SpecError] = []
        self.notes: list[SpecError] = []
        # Each generator config's backend and validated params (a voice speaks hundreds of
        # lines): by the config's id and the kind asked of it, with the config kept (so
        # the id stays its own).
        self._checked: dict[tuple[int, str], tuple[GeneratorConfig, Any, Any, str | None]] = {}

    def _add(self, step: Step) -> Step:
        self.steps.setdefault(step.id, step)
        return self.steps[step.id]

    def _config(self, ref: GeneratorRef) -> GeneratorConfig:
        return self.film.generators[ref] if isinstance(ref, str) else ref

    def _error(self, error: SpecError) -> None:
        if all((e.path, e.message) != (error.path, error.message) for e in self.errors):
            self.errors.append(error)

    def _generator_step(
        self,
        step_id: str,
        kind: str,
        ref: GeneratorRef,
        written_at: SpecPath,
        request: dict[str, Any],
        label: str,
        origin: SpecPath | None = None,
        seed: int | None = None,
    ) -> Step | None:
        """A step that runs a registered backend; None (and an error) if invalid.

        ``written_at`` is where ``ref`` appears in the spec (an inline config's
        own place); ``origin`` is the spec element the step serves. A backend
        with a ``trainer`` gets a ``model:`` step before it; its file params
        become file inputs.
        """
        if step_id in self.steps:
            return self.steps[step_id]  # one picture every shot of a room shares
        config = self._config(ref)
        where = ("generators", ref) if isinstance(ref, str) else written_at
        origin = origin if origin is not None else written_at
        checked = self._checked.get((id(config), kind))
        if checked is None or checked[0] is not config:
            backend = self._backend(config.backend, kind, where)
            params = backend and self._params(backend, config.params, config.backend, where)
            params_json = None if params is None else canonical_json(params.model_dump(mode="json"))
            checked = self._checked[id(config), kind] = (config, backend, params, params_json)
        _, backend, params, params_json = checked
        if backend is None or params is None or params_json is None:
            return None
        inputs = [
            Input(name, file=str(value))
            for name in backend.file_params
            if (value := getattr(params, name, None))
        ]
        if backend.trainer is not None and backend.trains(params):
            # One model per named config (or per spec element for an inline one).
            owner = ref if isinstance(ref, str) else step_id.split(":")[1].split("/")[0]
            model = self._model_step(owner, backend.trainer, config, where, origin)
            if model is None:
                return None
            inputs.append(Input("model", step=model.id, output="weights"))
        if seed is None:
            seed = config.seed if config.seed is not None else derive_seed(self.film.seed, step_id)
        return self._add(
            Step(
                id=step_id,
                kind=kind,
                action=config.backend,
                version=backend.version,
                params=params_json,
                seed=seed,
                request=canonical_json(request),
                inputs=tuple(inputs),
                outputs=tuple(backend.outputs.items()),
                origin=origin,
                label=label,
                deterministic=backend.deterministic,
            )
        )

    def _model_step(
        self,
        owner: str,
        trainer_id: str,
        config: GeneratorConfig,
        where: SpecPath,
        origin: SpecPath,
    ) -> Step | None:
        """The training step ``model:<owner>`` of a backend that samples from a model it
        trains first (after a ``dataset:<owner>`` step, if the trainer learns from one).

        Only the params the trainer declares go into its key: changing how a
        model is sampled never retrains it.
        """
        trainer = self._backend(trainer_id, "model", (*where, "backend"))
        if trainer is None:
            return None
        feed: tuple[Input, ...] = ()
        if trainer.dataset is not None:
            preparer = self._backend(trainer.dataset, "dataset", (*where, "backend"))
            dataset = preparer and self._trainer_step(
                f"dataset:{owner}", "dataset", preparer, config, where, origin
            )
            if dataset is None:
                return None
            feed = (Input("dataset", step=dataset.id, output="dataset"),)
        return self._trainer_step(f"model:{owner}", "model", trainer, config, where, origin, feed)

    def _trainer_step(
        self,
        step_id: str,
        kind: str,
        backend: type[Generator],
        config: GeneratorConfig,
        where: SpecPath,
        origin: SpecPath,
        feed: tuple[Input, ...] = (),
    ) -> Step | None:
        """A step of ``backend`` (a trainer, or what prepares its data) taking the params
        of ``config`` it declares; its file params are file inputs, ``feed`` the rest."""
        own = {k: v for k, v in config.params.items() if k in backend.Params.model_fields}
        params = self._params(backend, own, backend.id(), where)
        if params is None:
            return None
        inputs = (
            tuple(
                Input(name, file=str(value))
                for name in backend.file_params
                if (value := getattr(params, name, None))
            )
            + feed
        )
        seed = config.seed if config.seed is not None else derive_seed(self.film.seed, step_id)
        verb = "train" if kind == "model" else "gather"
        return self._add(
            Step(
                id=step_id,
                kind=kind,
                action=backend.id(),
                version=backend.version,
                params=canonical_json(params.model_dump(mode="json")),
                seed=seed,
                request=canonical_json({}),
                inputs=inputs,
                outputs=tuple(backend.outputs.items()),
                origin=origin,
                label=f"{verb} {step_id.split(':', 1)[1]}",
                deterministic=backend.deterministic,
            )
        )

    def _backend(self, backend_id: str, kind: str, where: SpecPath) -> type[Generator] | None:
        """The registered backend ``backend_id`` of ``kind``; None (and an error) if not."""
        if backend_id not in self.registry:
            choices = [i for i in self.registry.ids() if i.startswith(kind + "/")]
            self._error(
                SpecError(
                    f"unknown {kind} backend {backend_id!r}",
                    hint=suggest(backend_id, choices),
                    path=(*where, "backend"),
                )
            )
            return None
        try:
            backend = self.registry.get(backend_id)
        except UsageError as exc:
            self._error(SpecError(str(exc), path=(*where, "backend")))
            return None
        if backend.kind != kind:
            self._error(
                SpecError(
                    f"{backend_id!r} makes {backend.kind}, but a {kind} backend is needed here",
                    hint=suggest(
                        kind + "/", [i for i in self.registry.ids() if i.startswith(kind)]
                    ),
                    path=(*where, "backend"),
                )
            )
            return None
        return backend

    def _params(
        self,
        backend: type[Generator],
        values: dict[str, Any],
        backend_id: str,
        where: SpecPath,
    ) -> BaseModel | None:
        """``values`` validated against the backend's Params; None (and errors) if invalid."""
        try:
            return backend.Params.model_validate(values)
        except ValidationError as exc:
            for detail in exc.errors(include_url=False):
                field = ".".join(str(p) for p in detail["loc"])
                if detail["type"] == "extra_forbidden":
                    message = f"{backend_id} has no param {field!r}"
                    hint = suggest(field, list(backend.Params.model_fields))
                else:
                    text = detail["msg"][:1].lower() + detail["msg"][1:]
                    message = f"{backend_id} param {field}: {text}"
                    hint = _param_help(backend.Params, field)
                self._error(SpecError(message, hint=hint, path=(*where, "params", *detail["loc"])))
            return None

    def _render_step(
        self,
        step_id: str,
        kind: str,
        params: dict[str, Any],
        inputs: list[Input],
        origin: SpecPath,
        label: str,
        outputs: tuple[tuple[str, str], ...] | None = None,
    ) -> Step:
        action = f"render/{kind}"
        outputs = outputs or RENDER_OUTPUTS[kind]
        return self._add(
            Step(
                id=step_id,
                kind=kind,
                action=action,
                version=RENDER_VERSIONS[action],
                params=canonical_json(params),
                seed=0,
                request=canonical_json({}),
                inputs=tuple(inputs),
                outputs=outputs,
                origin=origin,
                label=label,
            )
        )


def _param_help(params: type, field: str) -> str:
    info = getattr(params, "model_fields", {}).get(field)
    return f"{field}: {info.description}" if info is not None and info.description else ""
