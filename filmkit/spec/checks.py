"""Cross-reference checks pydantic cannot do alone: names, shots, files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from filmkit.errors import SpecError
from filmkit.spec.effects import DepthMap
from filmkit.spec.hints import suggest
from filmkit.spec.models import (
    ColorLayer,
    FaceLayer,
    Film,
    GeneratedLayer,
    GeneratorRef,
    ImageLayer,
    Look,
    MorphLayer,
    MusicCue,
    ScriptLines,
    Sound,
    TextLayer,
    VideoLayer,
    WalkLayer,
)
from filmkit.spec.sourcemap import SpecPath


def check_references(film: Film, root: Path) -> list[SpecError]:
    """Every broken reference in ``film`` (unknown character, shot, file...)."""
    return list(_problems(film, root))


def shot_names(film: Film) -> list[str]:
    """``scene/shot`` names in film order."""
    return [f"{scene.id}/{shot.id}" for scene, shot in film.shots()]


def _problems(film: Film, root: Path) -> Iterator[SpecError]:
    if film.look is not None:
        yield from _check_look(film.look, root, ("look",))
    for name, character in film.characters.items():
        base: SpecPath = ("characters", name)
        yield from _check_ref(film, character.voice, (*base, "voice"))
        if character.face is not None:
            yield from _check_ref(film, character.face, (*base, "face"))
    everything = shot_names(film)
    yield from _check_unique([s.id for s in film.scenes], ("scenes",), "scene")
    for s, scene in enumerate(film.scenes):
        yield from _check_unique([shot.id for shot in scene.shots], ("scenes", s, "shots"), "shot")
        for t, shot in enumerate(scene.shots):
            shot_path: SpecPath = ("scenes", s, "shots", t)
            if shot.look is not None:
                yield from _check_look(shot.look, root, (*shot_path, "look"))
            if shot.style is not None:
                yield from _check_file(root, shot.style.image, (*shot_path, "style", "image"))
            if shot.camera is not None and all(la.depth is None for la in shot.layers):
                yield SpecError(
                    f"shot {shot.id!r} has a camera but no layer with a depth for it to see",
                    hint="give the layers a `depth:` (0 nearest, 1 farthest), e.g. "
                    "`depth: generated` on a room and `depth: 0.1` on a character",
                    path=(*shot_path, "camera"),
                )
            for k, line in enumerate(shot.lines):
                if isinstance(line, ScriptLines):
                    if line.script not in film.scripts:
                        yield SpecError(
                            f"line {k + 1} of shot {shot.id!r} takes lines from unknown script "
                            f"{line.script!r}",
                            hint=suggest(line.script, film.scripts)
                            + " (scripts are defined under `scripts:` in film.yaml)",
                            path=(*shot_path, "lines", k, "script"),
                        )
                elif line.who not in film.characters:
                    yield SpecError(
                        f"line {k + 1} of shot {shot.id!r} is spoken by unknown character "
                        f"{line.who!r}",
                        hint=suggest(line.who, film.characters) + " (characters are defined "
                        "under `characters:` in film.yaml)",
                        path=(*shot_path, "lines", k, "who"),
                    )
            for k, layer in enumerate(shot.layers):
                yield from _check_layer(film, root, layer, (*shot_path, "layers", k))
            for k, sound in enumerate(shot.sounds):
                yield from _check_source(film, root, sound, (*shot_path, "sounds", k))
                here = f"{scene.id}/{shot.id}"
                if sound.until is not None and sound.until not in everything:
                    yield SpecError(
                        f"sound {k + 1} of shot {shot.id!r}: until {sound.until!r} is not a shot",
                        hint=suggest(sound.until, everything) + " (write scene-id/shot-id)",
                        path=(*shot_path, "sounds", k, "until"),
                    )
                elif sound.until is not None and everything.index(sound.until) < everything.index(
                    here
                ):
                    yield SpecError(
                        f"sound {k + 1} of shot {shot.id!r} runs until a shot before its own",
                        hint="`until` names this shot or a later one",
                        path=(*shot_path, "sounds", k, "until"),
                    )
    yield from _check_scripts(film, root)
    names = shot_names(film)
    yield from _check_unique([cue.id for cue in film.music], ("music",), "music cue")
    for m, cue in enumerate(film.music):
        yield from _check_source(film, root, cue, ("music", m))
        for key in ("start", "end"):
            value = getattr(cue, key)
            if value is not None and value not in names:
                yield SpecError(
                    f"music cue {cue.id!r}: {key} {value!r} is not a shot",
                    hint=suggest(value, names) + " (write scene-id/shot-id)",
                    path=("music", m, key),
                )
        if (
            cue.end in names
            and cue.start in names
            and names.index(cue.end) < names.index(cue.start)
        ):
            yield SpecError(
                f"music cue {cue.id!r} ends before it starts",
                hint="swap start and end",
                path=("music", m, "end"),
            )


def _check_scripts(film: Film, root: Path) -> Iterator[SpecError]:
    for name, script in film.scripts.items():
        base: SpecPath = ("scripts", name)
        yield from _check_ref(film, script.generate, (*base, "generate"))
        for k, who in enumerate(script.characters):
            if who not in film.characters:
                yield SpecError(
                    f"script {name!r}: unknown character {who!r}",
                    hint=suggest(who, film.characters),
                    path=(*base, "characters", k),
                )
        if script.prompt_file is not None and not (root / script.prompt_file).is_file():
            yield SpecError(
                f"file not found: {script.prompt_file}",
                hint="paths are relative to the folder holding film.yaml",
                path=(*base, "prompt_file"),
            )
        if not script.prompt and script.prompt_file is None and not script.characters:
            yield SpecError(
                f"script {name!r} has no opening and no characters",
                hint="give `prompt:` (the first lines, as Fountain) or list `characters:`",
                path=base,
            )


def _check_layer(film: Film, root: Path, layer: object, path: SpecPath) -> Iterator[SpecError]:
    if isinstance(layer, FaceLayer):
        character = film.characters.get(layer.character)
        if character is None:
            yield SpecError(
                f"unknown character {layer.character!r}",
                hint=suggest(layer.character, film.characters),
                path=(*path, "character"),
            )
        elif character.face is None:
            yield SpecError(
                f"character {layer.character!r} has no face",
                hint=f"add `face:` to characters.{layer.character} in film.yaml",
                path=(*path, "character"),
            )
        if layer.drive is not None:
            yield from _check_file(root, layer.drive.video, (*path, "drive", "video"))
            yield from _check_file(root, layer.drive.model, (*path, "drive", "model"))
            if layer.keys is not None or layer.move is not None:
                yield SpecError(
                    "a driven face moves as the video's face does: it takes no `keys:` or `move:`",
                    hint="leave them out, or set the drive's `motion: 0` to keep the face still",
                    path=(*path, "drive"),
                )
        yield from _check_file(root, layer.lipsync, (*path, "lipsync"))
    elif isinstance(layer, GeneratedLayer):
        yield from _check_ref(film, layer.generate, (*path, "generate"))
    elif isinstance(layer, WalkLayer):
        yield from _check_ref(film, layer.walk, (*path, "walk"))
    elif isinstance(layer, MorphLayer):
        for n, name in enumerate(layer.morph):
            yield from _check_face(film, root, name, (*path, "morph", n))
    elif isinstance(layer, ImageLayer | VideoLayer | TextLayer):
        key = {ImageLayer: "image", VideoLayer: "video", TextLayer: "font"}[type(layer)]
        yield from _check_file(root, getattr(layer, key), (*path, key))
    yield from _check_keys(layer, path)
    retime = getattr(layer, "retime", None)
    if retime is not None:
        yield from _check_file(root, retime.model, (*path, "retime", "model"))
    yield from _check_file(root, getattr(layer, "upscale", None), (*path, "upscale"))
    mask = getattr(layer, "mask", None)
    if mask is not None:
        yield from _check_file(root, mask.model, (*path, "mask", "model"), ".onnx")
    depth = getattr(layer, "depth", None)
    if isinstance(depth, DepthMap):
        yield from _check_file(root, depth.file, (*path, "depth", "file"))
        yield from _check_file(root, depth.model, (*path, "depth", "model"), ".onnx")
        if not isinstance(layer, ImageLayer | GeneratedLayer | FaceLayer):
            yield SpecError(
                "a depth map needs a picture layer (image, generate, character)",
                hint="give this layer one depth as a number, e.g. `depth: 0.2`",
                path=(*path, "depth"),
            )
        elif depth.is_generated() and not isinstance(layer, GeneratedLayer):
            yield SpecError(
                "only a generated layer has its generator's depth map",
                hint="give the depth as a number (a flat layer), {file: depth.png} or "
                "{model: depth.onnx}",
                path=(*path, "depth"),
            )


def _check_face(film: Film, root: Path, name: str, path: SpecPath) -> Iterator[SpecError]:
    """One end of a morph: a character with a face, or a picture in the project."""
    character = film.characters.get(name)
    if character is not None and character.face is None:
        yield SpecError(
            f"character {name!r} has no face to morph",
            hint=f"add `face:` to characters.{name} in film.yaml",
            path=path,
        )
    elif character is None and not (root / name).is_file():
        known = ", ".join(c for c, v in film.characters.items() if v.face is not None)
        yield SpecError(
            f"{name!r} is neither a character with a face nor a picture file",
            hint=f"name a character ({known}) or a picture, e.g. assets/portrait.png",
            path=path,
        )


def _check_keys(layer: object, path: SpecPath) -> Iterator[SpecError]:
    """Keyframes go on a layer that has a shape of its own, and not with a Ken Burns move."""
    if getattr(layer, "keys", None) is None:
        return
    if isinstance(layer, ColorLayer):
        yield SpecError(
            "a colour layer fills the frame: it has nothing to move or turn",
            hint="key an image or text layer, or fade the colour with `opacity:` and fades",
            path=(*path, "keys"),
        )
    elif getattr(layer, "move", None) is not None:
        yield SpecError(
            "a layer takes `move:` (a Ken Burns crop) or `keys:`, not both",
            hint="keep one: `keys:` with `scale:` and `position:` also zooms and pans",
            path=(*path, "move"),
        )


def _check_file(
    root: Path, name: str | None, path: SpecPath, extension: str | None = None
) -> Iterator[SpecError]:
    """A file the spec names exists (and has the extension its reader needs)."""
    if name is None:
        return
    if extension is not None and not name.lower().endswith(extension):
        yield SpecError(
            f"expected a {extension} file, not {name!r}",
            hint=f"export the model as {extension[1:].upper()} (e.g. torch.onnx.export)",
            path=path,
        )
    elif not (root / name).is_file():
        yield SpecError(
            f"file not found: {name}",
            hint="paths are relative to the folder holding film.yaml",
            path=path,
        )


def _check_look(look: Look, root: Path, path: SpecPath) -> Iterator[SpecError]:
    """A look's grade is a .cube file that exists."""
    if look.grade is None:
        return
    if not look.grade.lower().endswith(".cube"):
        yield SpecError(
            f"a grade is a .cube 3D LUT file, not {look.grade!r}",
            hint="export the grade from your colour tool as a .cube LUT (17, 33 or 65 points)",
            path=(*path, "grade"),
        )
    elif not (root / look.grade).is_file():
        yield SpecError(
            f"file not found: {look.grade}",
            hint="paths are relative to the folder holding film.yaml",
            path=(*path, "grade"),
        )


def _check_source(
    film: Film, root: Path, item: MusicCue | Sound, path: SpecPath
) -> Iterator[SpecError]:
    """A music cue or sound: its generator config exists, or its file does."""
    if item.generate is not None:
        yield from _check_ref(film, item.generate, (*path, "generate"))
    elif item.file is not None and not (root / item.file).is_file():
        yield SpecError(
            f"file not found: {item.file}",
            hint="paths are relative to the folder holding film.yaml",
            path=(*path, "file"),
        )


def _check_ref(film: Film, ref: GeneratorRef, path: SpecPath) -> Iterator[SpecError]:
    if isinstance(ref, str) and ref not in film.generators:
        yield SpecError(
            f"no generator config named {ref!r}",
            hint=suggest(ref, film.generators) + " (named configs live under `generators:`)",
            path=path,
        )


def _check_unique(ids: list[str], path: SpecPath, what: str) -> Iterator[SpecError]:
    seen: set[str] = set()
    for index, ident in enumerate(ids):
        if ident in seen:
            yield SpecError(
                f"duplicate {what} id {ident!r}",
                hint=f"every {what} needs its own id",
                path=(*path, index, "id"),
            )
        seen.add(ident)
