"""Compile a film spec into a plan. Pure: no files, no network, no clock.

The DAG, for every film::

    voice:<scene>/<shot>/<n>  ─┐
    face:<character>  ─────────┼─> shot:<scene>/<shot> ─┐
    image:<name or place>  ────┘                         ├─> cut
    music:<cue>  ─────────────────> mix ─────────────────┘

Voices, faces, sets and music are generator steps; shot, mix and cut are
render steps. Each step's params are validated against its backend's
``Params`` here, so a bad param is reported with its spec location before
anything runs.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from filmkit.errors import SpecError, SpecErrors, UsageError
from filmkit.generators.registry import Registry
from filmkit.plan.keys import canonical_json, derive_seed
from filmkit.plan.steps import Input, Plan, SpecPath, Step
from filmkit.spec.hints import suggest
from filmkit.spec.models import (
    FaceLayer,
    Film,
    GeneratedLayer,
    GeneratorConfig,
    GeneratorRef,
    ImageLayer,
    Scene,
    Shot,
    TextLayer,
    VideoLayer,
    layer_kind,
)

# NOTE: bump a render version whenever that renderer's output bytes change for
# the same inputs; it is part of the action key of every step it renders.
RENDER_VERSIONS = {"render/shot": "1", "render/mix": "2", "render/cut": "1"}
FACE_FRAMES = ("image", "mouth_open", "blink")
MIX_RATE = 48000


def compile_plan(film: Film, registry: Registry) -> Plan:
    """Every step needed to cut ``film``, in dependency order."""
    return _Compiler(film, registry).compile()


def shot_name(scene: Scene, shot: Shot) -> str:
    """The ``scene/shot`` name of a shot."""
    return f"{scene.id}/{shot.id}"


class _Compiler:
    def __init__(self, film: Film, registry: Registry) -> None:
        self.film = film
        self.registry = registry
        self.steps: dict[str, Step] = {}
        self.errors: list[SpecError] = []

    def compile(self) -> Plan:
        faces = {
            name: self._generator_step(
                f"face:{name}",
                "image",
                character.face,
                ("characters", name, "face"),
                {"size": [self._face_side()] * 2, "text": character.description},
                label=f"face of {character.name}",
            )
            for name, character in self.film.characters.items()
            if character.face is not None
        }
        shots: list[Step | None] = []
        voices: list[list[str]] = []
        for s, scene in enumerate(self.film.scenes):
            for t, shot in enumerate(scene.shots):
                origin: SpecPath = ("scenes", s, "shots", t)
                lines = [self._voice_step(scene, shot, k, origin) for k in range(len(shot.lines))]
                voices.append([v.id for v in lines if v is not None])
                shots.append(self._shot_step(scene, shot, origin, lines, faces))
        music = [self._music_step(m) for m in range(len(self.film.music))]
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else SpecErrors(self.errors)
        mix = self._mix_step(voices, [m for m in music if m is not None])
        cut = self._cut_step([s for s in shots if s is not None], mix)
        output = PurePosixPath(self.film.output)
        products = (
            (str(output), cut.id, "film"),
            (str(output.with_suffix(".srt")), mix.id, "subtitles"),
        )
        return Plan(tuple(self.steps.values()), products)

    def _face_side(self) -> int:
        return max(256, self.film.size[1] // 2 * 2)

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
    ) -> Step | None:
        """A step that runs a registered backend; None (and an error) if invalid.

        ``written_at`` is where ``ref`` appears in the spec (an inline config's
        own place); ``origin`` is the spec element the step serves.
        """
        config = self._config(ref)
        where = ("generators", ref) if isinstance(ref, str) else written_at
        origin = origin if origin is not None else written_at
        if config.backend not in self.registry:
            choices = [i for i in self.registry.ids() if i.startswith(kind + "/")]
            self._error(
                SpecError(
                    f"unknown {kind} backend {config.backend!r}",
                    hint=suggest(config.backend, choices),
                    path=(*where, "backend"),
                )
            )
            return None
        try:
            backend = self.registry.get(config.backend)
        except UsageError as exc:
            self._error(SpecError(str(exc), path=(*where, "backend")))
            return None
        if backend.kind != kind:
            self._error(
                SpecError(
                    f"{config.backend!r} makes {backend.kind}, but a {kind} backend is needed here",
                    hint=suggest(
                        kind + "/", [i for i in self.registry.ids() if i.startswith(kind)]
                    ),
                    path=(*where, "backend"),
                )
            )
            return None
        try:
            params = backend.Params.model_validate(config.params)
        except ValidationError as exc:
            for detail in exc.errors(include_url=False):
                field = ".".join(str(p) for p in detail["loc"])
                if detail["type"] == "extra_forbidden":
                    message = f"{config.backend} has no param {field!r}"
                    hint = suggest(field, list(backend.Params.model_fields))
                else:
                    text = detail["msg"][:1].lower() + detail["msg"][1:]
                    message = f"{config.backend} param {field}: {text}"
                    hint = _param_help(backend.Params, field)
                self._error(SpecError(message, hint=hint, path=(*where, "params", *detail["loc"])))
            return None
        seed = config.seed if config.seed is not None else derive_seed(self.film.seed, step_id)
        return self._add(
            Step(
                id=step_id,
                kind=kind,
                action=config.backend,
                version=backend.version,
                params=canonical_json(params.model_dump(mode="json")),
                seed=seed,
                request=canonical_json(request),
                inputs=(),
                outputs=tuple(backend.outputs.items()),
                origin=origin,
                label=label,
                deterministic=backend.deterministic,
            )
        )

    def _voice_step(self, scene: Scene, shot: Shot, k: int, origin: SpecPath) -> Step | None:
        line = shot.lines[k]
        character = self.film.characters[line.who]
        return self._generator_step(
            f"voice:{shot_name(scene, shot)}/{k + 1}",
            "voice",
            character.voice,
            ("characters", line.who, "voice"),
            {"text": line.text},
            label=f'{character.name}: "{_shorten(line.text)}"',
            origin=(*origin, "lines", k),
        )

    def _image_step(self, layer: GeneratedLayer, place: str, path: SpecPath) -> Step | None:
        shared = isinstance(layer.generate, str) and not layer.prompt
        step_id = f"image:{layer.generate}" if shared else f"image:{place}"
        w, h = self.film.size
        size = [round(w * 1.25 / 2) * 2, round(h * 1.25 / 2) * 2]
        return self._generator_step(
            step_id,
            "image",
            layer.generate,
            (*path, "generate"),
            {"size": size, "text": layer.prompt},
            label=f"image {step_id.removeprefix('image:')}",
            origin=path,
        )

    def _shot_step(
        self,
        scene: Scene,
        shot: Shot,
        origin: SpecPath,
        lines: list[Step | None],
        faces: dict[str, Step | None],
    ) -> Step | None:
        name = shot_name(scene, shot)
        inputs: list[Input] = []
        layers = []
        for k, layer in enumerate(shot.layers):
            layer_path = (*origin, "layers", k)
            layers.append({"kind": layer_kind(layer), **layer.model_dump(mode="json")})
            if isinstance(layer, GeneratedLayer):
                image = self._image_step(layer, f"{name}/{k + 1}", layer_path)
                if image is not None:
                    inputs.append(Input(f"layer{k}", step=image.id, output="image"))
            elif isinstance(layer, ImageLayer | VideoLayer):
                source = layer.image if isinstance(layer, ImageLayer) else layer.video
                inputs.append(Input(f"layer{k}", file=source))
            elif isinstance(layer, TextLayer) and layer.font:
                inputs.append(Input(f"layer{k}.font", file=layer.font))
            elif isinstance(layer, FaceLayer):
                face = faces.get(layer.character)
                if face is not None:
                    for frame in FACE_FRAMES:
                        inputs.append(Input(f"layer{k}.{frame}", step=face.id, output=frame))
        for k, voice in enumerate(lines):
            if voice is not None:
                inputs.append(Input(f"line{k}", step=voice.id, output="audio"))
        if any(v is None for v in lines):
            return None  # the voice's error is already recorded
        params = {
            "size": list(self.film.size),
            "fps": self.film.fps,
            "duration": shot.duration,
            "lead_in": shot.lead_in,
            "tail": shot.tail,
            "layers": layers,
            "lines": [{"who": line.who, "pause": line.pause} for line in shot.lines],
        }
        return self._render_step(f"shot:{name}", "shot", params, inputs, origin, f"shot {name}")

    def _music_step(self, m: int) -> Step | None:
        cue = self.film.music[m]
        return self._generator_step(
            f"music:{cue.id}",
            "music",
            cue.generate,
            ("music", m, "generate"),
            {"duration": cue.length, "text": cue.prompt},
            label=f"music {cue.id}",
        )

    def _mix_step(self, voices: list[list[str]], music: list[Step]) -> Step:
        names = [shot_name(scene, shot) for scene, shot in self.film.shots()]
        shots = []
        inputs = []
        for index, (scene, shot) in enumerate(self.film.shots()):
            shots.append(
                {
                    "id": shot_name(scene, shot),
                    "duration": shot.duration,
                    "lead_in": shot.lead_in,
                    "tail": shot.tail,
                    "transition": shot.transition.model_dump(mode="json"),
                    "lines": [
                        {
                            "who": line.who,
                            "name": self.film.characters[line.who].name,
                            "text": line.text,
                            "pause": line.pause,
                        }
                        for line in shot.lines
                    ],
                }
            )
            for k, voice_id in enumerate(voices[index]):
                inputs.append(Input(f"line:{index}:{k}", step=voice_id, output="audio"))
        cues = []
        for cue, step in zip(self.film.music, music, strict=True):
            cues.append(
                {
                    "id": cue.id,
                    "first": names.index(cue.start),
                    "last": names.index(cue.end or cue.start),
                    "gain_db": cue.gain_db,
                    "duck_db": cue.duck_db,
                    "fade_in": cue.fade_in,
                    "fade_out": cue.fade_out,
                }
            )
            inputs.append(Input(f"music:{cue.id}", step=step.id, output="audio"))
        params = {"fps": self.film.fps, "rate": MIX_RATE, "shots": shots, "music": cues}
        return self._render_step("mix", "mix", params, inputs, ("music",), "sound mix")

    def _cut_step(self, shots: list[Step], mix: Step) -> Step:
        transitions = [
            {"id": shot_name(scene, shot), **shot.transition.model_dump(mode="json")}
            for scene, shot in self.film.shots()
        ]
        inputs = [Input(f"shot{i}", step=s.id, output="video") for i, s in enumerate(shots)]
        inputs.append(Input("audio", step=mix.id, output="audio"))
        params = {
            "size": list(self.film.size),
            "fps": self.film.fps,
            "title": self.film.title,
            "shots": transitions,
        }
        return self._render_step("cut", "cut", params, inputs, ("output",), "final cut")

    def _render_step(
        self,
        step_id: str,
        kind: str,
        params: dict[str, Any],
        inputs: list[Input],
        origin: SpecPath,
        label: str,
    ) -> Step:
        action = f"render/{kind}"
        outputs = {
            "shot": (("video", ".mp4"),),
            "mix": (("audio", ".wav"), ("subtitles", ".srt")),
            "cut": (("film", ".mp4"),),
        }[kind]
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


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
