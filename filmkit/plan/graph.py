"""Compile a film spec into a plan. Pure: no files, no network, no clock.

The DAG, for every film::

    voice:<scene>/<shot>/<n> ─┬────────────> shot:<scene>/<shot> ─┬─> transition:… ─┬─> reel:<scene>
    face:<character>, image:… ┼────────────> shot:…  ──────────────┴─────────────────┘          │
                              └─> timeline ─┬─> mix:<scene> ─┬──────> master:<scene> ─────> cut
    music:<cue>, sound:… ───────────────────┘                └─> loudness ─┘

Voices, faces, sets, music and sounds are generator steps; the rest are
render steps. A shot renders the frames it has alone; the frames it shares
with a neighbour in a crossfade go to that crossfade's ``transition`` step.
A scene's segments are joined by stream copy into its reel (several reels for
a long scene), and the cut joins the reels, again by stream copy.

``timeline`` turns the voices' timings into the film's clock (shot starts,
line onsets, subtitles) and each scene's own clock; the sound is mixed,
mastered and encoded per scene (:mod:`filmkit.plan.sound`), so an edit
re-makes the sound of the scenes it touched and no other.

Each generator step's params are validated against its backend's ``Params``
here, so a bad param is reported with its spec location before anything
runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from filmkit.errors import SpecError, SpecErrors
from filmkit.generators.registry import Registry
from filmkit.plan.effects import EffectSteps
from filmkit.plan.keys import derive_seed
from filmkit.plan.profiles import FINAL, Profile
from filmkit.plan.sound import MIX_RATE, STEMS, SoundSteps, shot_name
from filmkit.plan.steps import Input, Plan, SpecPath, Step
from filmkit.spec.models import (
    FaceLayer,
    Film,
    GeneratedLayer,
    ImageLayer,
    MorphLayer,
    Scene,
    Shot,
    TextLayer,
    VideoLayer,
    WalkLayer,
    layer_kind,
)

FACE_FRAMES = ("image", "mouth_open", "blink")
# A layer's optional effects (see filmkit.spec.effects), left out of its params while
# unused (None, or the normal blend) so that shots made before they existed keep their keys.
EFFECTS = ("depth", "mask", "retime", "keys", "blend", "upscale", "drive", "lipsync")
# Layer kinds whose picture a styled shot's networks train on.
PICTURES = ("image", "generate")
# Segments (shots and crossfades) joined into one reel at most; a scene with more
# has several reels.
REEL_SEGMENTS = 24


def compile_plan(film: Film, registry: Registry, profile: Profile = FINAL) -> Plan:
    """Every step needed to cut ``film`` (rendered as ``profile`` says), in dependency order."""
    return _Compiler(film, registry, profile).compile()


class _Compiler(SoundSteps, EffectSteps):
    def __init__(self, film: Film, registry: Registry, profile: Profile) -> None:
        super().__init__(film, registry)
        self.profile = profile

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
        faces = self._talking(faces)
        fps = self.film.fps
        overlaps = [0] + [shot.transition.frames(fps) for _, shot in self.film.shots()[1:]] + [0]
        shots: list[Step | None] = []
        voices: list[list[Step | None]] = []
        sounds: list[list[Input | None]] = []
        for s, scene in enumerate(self.film.scenes):
            for t, shot in enumerate(scene.shots):
                origin: SpecPath = ("scenes", s, "shots", t)
                lines = [
                    self._voice_step(scene, shot, k, origin) for k in range(len(shot.spoken()))
                ]
                index = len(shots)
                voices.append(lines)
                overlap = (overlaps[index], overlaps[index + 1])
                shots.append(self._shot_step(scene, shot, origin, lines, faces, overlap))
                sounds.append(
                    [
                        self._sound_input(scene, shot, index, k, origin)
                        for k in range(len(shot.sounds))
                    ]
                )
        music = [self._music_input(m) for m in range(len(self.film.music))]
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else SpecErrors(self.errors)
        scenes = self._scene_sounds(voices, music, sounds, overlaps)
        timeline = self._timeline_step(voices, overlaps, scenes)
        mixes, masters = self._sound_steps(timeline, scenes)
        cut = self._cut_step([s for s in shots if s is not None], overlaps, masters, timeline)
        output = PurePosixPath(self.film.output)
        film_file = output.with_name(output.stem + self.profile.suffix + output.suffix)
        products = [
            (str(film_file), cut.id, "film"),
            (str(output.with_suffix(".srt")), timeline.id, "srt"),
            (str(output.with_suffix(".vtt")), timeline.id, "vtt"),
        ]
        for scene, mix in zip(self.film.scenes, mixes, strict=True):
            for name in STEMS:
                path = output.parent / "stems" / scene.id / f"{name}.wav"
                products.append((str(path), mix.id, name))
        # What named generators trained, and the photos they learned from, to look at or
        # take elsewhere: build/models/<generator>/.
        for step in list(self.steps.values()):
            kind, _, owner = step.id.partition(":")
            if kind in ("model", "dataset") and owner in self.film.generators:
                for name, suffix in step.outputs:
                    path = output.parent / "models" / owner / f"{name}{suffix}"
                    products.append((str(path), step.id, name))
        return Plan(tuple(self.steps.values()), tuple(products), tuple(self.notes))

    def _talking(self, faces: dict[str, Step | None]) -> dict[str, dict[str, Input] | None]:
        """Each character's neutral, talking and blinking frames. A face backend that
        paints only one picture (an image model, a GAN) gets a ``talk:`` step that makes
        the other two from where it finds the eyes and mouth."""
        frames: dict[str, dict[str, Input] | None] = {}
        for name, face in faces.items():
            if face is None:
                frames[name] = None
                continue
            made = dict(face.outputs)
            if all(frame in made for frame in FACE_FRAMES):
                source = {frame: face for frame in FACE_FRAMES}
            else:
                talk = self._render_step(
                    f"talk:{name}",
                    "talk",
                    {},
                    [Input("image", step=face.id, output="image")],
                    ("characters", name, "face"),
                    f"talking face of {self.film.characters[name].name}",
                )
                source = {"image": face, "mouth_open": talk, "blink": talk}
            frames[name] = {
                frame: Input(frame, step=step.id, output=frame) for frame, step in source.items()
            }
        return frames

    def _walk_inputs(self, layer: WalkLayer, place: str, path: SpecPath) -> dict | None:
        """What a latent walk's layer needs: its generator's weights (trained here, or the
        user's file) as input ``model``, and its sampling params."""
        config = self._config(layer.walk)
        where = ("generators", layer.walk) if isinstance(layer.walk, str) else (*path, "walk")
        backend = self._backend(config.backend, "image", where)
        params = backend and self._params(backend, config.params, config.backend, where)
        if backend is None or params is None:
            return None
        if not backend.walks:
            walkers = [i for i in self.registry.ids() if getattr(self.registry.get(i), "walks", 0)]
            self._error(
                SpecError(
                    f"{config.backend} has no latent space to walk through",
                    hint=f"walk a generator that has one: {', '.join(walkers) or 'image/gan'}",
                    path=(*path, "walk"),
                )
            )
            return None
        if backend.trainer is not None and backend.trains(params):
            owner = layer.walk if isinstance(layer.walk, str) else place
            model = self._model_step(owner, backend.trainer, config, where, path)
            if model is None:
                return None
            weights = Input("model", step=model.id, output="weights")
        else:
            weights = Input("model", file=str(getattr(params, "weights", "")))
        seed = (
            layer.seed if layer.seed is not None else derive_seed(self.film.seed, "walk:" + place)
        )
        return {
            "input": weights,
            "params": {"seed": seed, "truncation": getattr(params, "truncation", 1.0)},
        }

    def _face_side(self) -> int:
        return max(256, self.film.size[1] // 2 * 2)

    def _voice_step(self, scene: Scene, shot: Shot, k: int, origin: SpecPath) -> Step | None:
        line = shot.spoken()[k]
        character = self.film.characters[line.who]
        request = {"text": line.text}
        if line.direction:
            request["direction"] = line.direction
        step = self._generator_step(
            f"voice:{shot_name(scene, shot)}/{k + 1}",
            "voice",
            character.voice,
            ("characters", line.who, "voice"),
            request,
            label=f'{character.name}: "{_shorten(line.text)}"',
            origin=(*origin, "lines", k),
        )
        if step is not None and line.direction and not self.registry.get(step.action).directions:
            self.notes.append(
                SpecError(
                    f"{step.action} cannot act on the direction ({line.direction}); "
                    "the line is spoken plainly",
                    hint="voice/polly and voice/openai act directions out; voice/piper and "
                    "voice/espeak change pace and level",
                    path=(*origin, "lines", k),
                )
            )
        return step

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
        faces: dict[str, dict[str, Input] | None],
        overlap: tuple[int, int],
    ) -> Step | None:
        """A shot's picture: the frames it has alone, and apart the frames it shares
        with the shots before (``head``) and after it (``tail``) in crossfades."""
        name = shot_name(scene, shot)
        inputs: list[Input] = []
        layers = []
        stills = {f"layer{k}" for k, la in enumerate(shot.layers) if layer_kind(la) in PICTURES}
        for k, layer in enumerate(shot.layers):
            layer_path = (*origin, "layers", k)
            # Effects a layer does not use stay out of its params, and so out of the shot's key.
            unused = {n for n in EFFECTS if getattr(layer, n, None) in (None, "normal")}
            layers.append(
                {"kind": layer_kind(layer), **layer.model_dump(mode="json", exclude=unused)}
            )
            image = None
            if isinstance(layer, GeneratedLayer):
                image = self._image_step(layer, f"{name}/{k + 1}", layer_path)
                if image is not None:
                    picture = Input(f"layer{k}", step=image.id, output="image")
                    inputs.append(self._upscaled(layer, picture, f"{name}/{k + 1}", layer_path))
            elif isinstance(layer, ImageLayer):
                picture = Input(f"layer{k}", file=layer.image)
                inputs.append(self._upscaled(layer, picture, f"{name}/{k + 1}", layer_path))
            elif isinstance(layer, VideoLayer):
                inputs.append(Input(f"layer{k}", file=layer.video))
            elif isinstance(layer, TextLayer) and layer.font:
                inputs.append(Input(f"layer{k}.font", file=layer.font))
            elif isinstance(layer, FaceLayer):
                for frame, item in (faces.get(layer.character) or {}).items():
                    inputs.append(replace(item, name=f"layer{k}.{frame}"))
                if layer.drive is not None:
                    inputs.append(Input(f"layer{k}.drive", file=layer.drive.video))
                    if layer.drive.model is not None:
                        inputs.append(Input(f"layer{k}.drive_model", file=layer.drive.model))
                if layer.lipsync is not None:
                    inputs.append(Input(f"layer{k}.lipsync", file=layer.lipsync))
            elif isinstance(layer, WalkLayer):
                walk = self._walk_inputs(layer, f"{name}/{k + 1}", layer_path)
                if walk is not None:
                    inputs.append(replace(walk["input"], name=f"layer{k}.model"))
                    layers[-1].update(walk["params"])
            elif isinstance(layer, MorphLayer):
                for end, source in zip(("from", "to"), layer.morph, strict=True):
                    face = faces.get(source)
                    if source not in self.film.characters:
                        inputs.append(Input(f"layer{k}.{end}", file=source))
                    elif face is not None:
                        inputs.append(replace(face["image"], name=f"layer{k}.{end}"))
            inputs += self._effect_inputs(layer, k, image, layer_path)
        for k, voice in enumerate(lines):
            if voice is not None:
                inputs.append(Input(f"line{k}", step=voice.id, output="audio"))
        if any(v is None for v in lines):
            return None  # the voice's error is already recorded
        params = {
            "size": self.profile.size(self.film.size),
            "fps": self.film.fps,
            "duration": shot.duration,
            "lead_in": shot.lead_in,
            "tail": shot.tail,
            "layers": layers,
            "lines": [{"who": line.who, "pause": line.pause} for line in shot.spoken()],
            "overlap": list(overlap),
            **self.profile.render_params(),
        }
        if shot.camera is not None:
            params["camera"] = shot.camera.model_dump(mode="json")
        if shot.style is not None:
            # Not the image (the networks stand for it) nor, while 0, `steady` (older keys).
            unused = {"image", "steps"} | ({"steady"} if not shot.style.steady else set())
            params["style"] = shot.style.model_dump(mode="json", exclude=unused)
            params["style"]["seed"] = derive_seed(self.film.seed, f"style:{name}")
            pictures = [i for i in inputs if i.name in stills or i.name.endswith(".image")]
            inputs += self._style_models(shot, name, pictures, (*origin, "style"))
        look = shot.look or self.film.look
        if look is not None and not look.is_plain():
            # Grain and dust differ from shot to shot, the same in every build.
            seed = derive_seed(self.film.seed, f"look:{name}")
            params["look"] = {**look.model_dump(mode="json", exclude={"grade"}), "seed": seed}
            if look.grade is not None:
                inputs.append(Input("look.grade", file=look.grade))
        if self.film.subtitles.burn:
            params["subtitles"] = {
                "size": self.film.subtitles.size,
                "text": [line.text for line in shot.spoken()],
            }
        outputs = [("video", ".mp4")]
        outputs += [(part, ".mp4") for part, n in zip(("head", "tail"), overlap, strict=True) if n]
        return self._render_step(
            f"shot:{name}", "shot", params, inputs, origin, f"shot {name}", tuple(outputs)
        )

    def _music_input(self, m: int) -> Input | None:
        """Where cue ``m``'s audio comes from: its generator step, or its file."""
        cue = self.film.music[m]
        if cue.file is not None:
            return Input(f"cue:{cue.id}", file=cue.file)
        assert cue.generate is not None
        step = self._generator_step(
            f"music:{cue.id}",
            "music",
            cue.generate,
            ("music", m, "generate"),
            {"duration": cue.length, "text": cue.prompt},
            label=f"music {cue.id}",
        )
        return None if step is None else Input(f"cue:{cue.id}", step=step.id, output="audio")

    def _sound_input(
        self, scene: Scene, shot: Shot, index: int, k: int, origin: SpecPath
    ) -> Input | None:
        """Where sound ``k`` of shot ``index`` comes from: its generator step, or its file."""
        sound = shot.sounds[k]
        if sound.file is not None:
            return Input(f"sound:{index}:{k}", file=sound.file)
        assert sound.generate is not None
        name = f"{shot_name(scene, shot)}/{k + 1}"
        request = {"duration": sound.length, "text": sound.prompt}
        step_id = f"sound:{name}"
        if isinstance(sound.generate, str) and not sound.prompt:
            # A named sound used alike in several shots is made once, like a named set.
            shared = self.steps.get(f"sound:{sound.generate}")
            if shared is None or shared.request_value() == request:
                step_id, name = f"sound:{sound.generate}", sound.generate
        step = self._generator_step(
            step_id,
            "sound",
            sound.generate,
            (*origin, "sounds", k, "generate"),
            request,
            label=f"sound {name}",
            origin=(*origin, "sounds", k),
        )
        return None if step is None else Input(f"sound:{index}:{k}", step=step.id, output="audio")

    def _cut_step(
        self, shots: list[Step], overlaps: list[int], masters: list[Step], timeline: Step
    ) -> Step:
        """The film: every scene's reels of picture, joined in order, with every
        scene's encoded sound."""
        names = [shot_name(scene, shot) for scene, shot in self.film.shots()]
        scene_segments: list[list[Input]] = [[] for _ in self.film.scenes]
        spans = self._scene_spans()
        for u, (first, last) in enumerate(spans):
            for index in range(first, last + 1):
                shot = shots[index]
                if overlaps[index]:
                    before = shots[index - 1]
                    blend = self._transition_step(before, shot, names[index], overlaps[index])
                    scene_segments[u].append(Input("", step=blend.id, output="video"))
                scene_segments[u].append(Input("", step=shot.id, output="video"))
        inputs = []
        for u, segments in enumerate(scene_segments):
            for reel in self._reel_steps(u, segments):
                inputs.append(Input(f"reel{len(inputs)}", step=reel.id, output="video"))
        reels = len(inputs)
        for u, master in enumerate(masters):
            inputs.append(Input(f"aac{u}", step=master.id, output="aac"))
            inputs.append(Input(f"frames{u}", step=master.id, output="frames"))
            inputs.append(Input(f"levels{u}", step=master.id, output="levels"))
        inputs.append(Input("shots", step=timeline.id, output="shots"))
        params = {
            "fps": self.film.fps,
            "title": self.film.title,
            "reels": reels,
            "scenes": [first for first, _last in spans],
            "rate": MIX_RATE,
            "loudness": self.film.sound.loudness,
            "true_peak": self.film.sound.true_peak,
            "checks": self.film.checks,
        }
        return self._render_step("cut", "cut", params, inputs, ("output",), "final cut")

    def _reel_steps(self, u: int, segments: list[Input]) -> list[Step]:
        """A scene's picture, joined by stream copy into reels of up to REEL_SEGMENTS
        segments: the cut then joins a few reels, not every shot of the film, and an
        edit re-joins only the reel it falls in."""
        scene = self.film.scenes[u]
        chunks = [segments[i : i + REEL_SEGMENTS] for i in range(0, len(segments), REEL_SEGMENTS)]
        reels = []
        for n, chunk in enumerate(chunks, start=1):
            name = scene.id if len(chunks) == 1 else f"{scene.id}/{n}"
            inputs = [replace(item, name=f"segment{i}") for i, item in enumerate(chunk)]
            reels.append(
                self._render_step(
                    f"reel:{name}",
                    "reel",
                    {"segments": len(chunk)},
                    inputs,
                    ("scenes", u),
                    f"reel {name}",
                )
            )
        return reels

    def _transition_step(self, before: Step, after: Step, name: str, frames: int) -> Step:
        """A crossfade as its own segment: the tail of one shot dissolving into the next."""
        inputs = [
            Input("from", step=before.id, output="tail"),
            Input("to", step=after.id, output="head"),
        ]
        params = {
            "size": self.profile.size(self.film.size),
            "fps": self.film.fps,
            "frames": frames,
            **self.profile.render_params(),
        }
        return self._render_step(
            f"transition:{name}", "transition", params, inputs, after.origin, f"crossfade {name}"
        )


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
