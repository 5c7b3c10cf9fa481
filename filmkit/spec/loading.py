"""YAML -> validated :class:`Film`, with file:line:col on every error.

Phases: parse each YAML file with ruamel (keeping positions), inline the scene
files that ``film.yaml`` names, record a :class:`SourceMap`, validate with
pydantic, then check cross-references (characters, generators, shots, files).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from filmkit.errors import Location, SpecError, SpecErrors
from filmkit.spec import checks, scripts
from filmkit.spec.models import Film
from filmkit.spec.parsed import ParsedFiles
from filmkit.spec.sourcemap import SourceMap, SpecPath, display_name
from filmkit.spec.translate import translate_validation_error

SPEC_FILE = "film.yaml"


@dataclass(frozen=True)
class LoadedSpec:
    """A validated film, where it lives, and where each value came from."""

    film: Film
    root: Path
    source_map: SourceMap
    files: tuple[str, ...]


def load_spec(
    root: Path, filename: str = SPEC_FILE, parsed: ParsedFiles | None = None
) -> LoadedSpec:
    """Load and validate ``root/film.yaml`` and the scene files it names.

    ``parsed`` holds files parsed before: those whose text is unchanged are
    not parsed again, and the others are added to it.
    """
    root = Path(root)
    path = root / filename
    if not path.is_file():
        raise SpecError(
            f"no {filename} in {root.resolve()}",
            hint="run filmkit inside a film project, pass -C DIR, "
            "or create one with `filmkit init`",
        )
    source_map = SourceMap()
    data = _read_yaml(path, root, source_map, (), parsed)
    if not isinstance(data, dict):
        raise source_map.error(
            (), f"{filename} must be a mapping of keys like `title:` and `scenes:`"
        )
    files = [display_name(path, root)]
    data = dict(data)
    if isinstance(data.get("scenes"), list):
        data["scenes"] = _inline_scenes(data["scenes"], root, source_map, files, parsed)
    scripts.inline_fountain(data, source_map)
    try:
        film = Film.model_validate(data)
    except ValidationError as exc:
        errors = translate_validation_error(exc, data, source_map)
        raise (errors[0] if len(errors) == 1 else SpecErrors(errors)) from None
    problems = [source_map.located(error) for error in checks.check_references(film, root)]
    if problems:
        raise problems[0] if len(problems) == 1 else SpecErrors(problems)
    film = _read_prompts(film, root, source_map, files)
    return LoadedSpec(film=film, root=root, source_map=source_map, files=tuple(files))


def _read_prompts(film: Film, root: Path, source_map: SourceMap, files: list[str]) -> Film:
    """Scripts whose opening is a file get its text as their prompt."""
    updated = {}
    for name, script in film.scripts.items():
        if script.prompt_file is not None:
            path = root / script.prompt_file
            source_map.add_file(display_name(path, root), path.read_text(encoding="utf-8"))
            files.append(display_name(path, root))
            updated[name] = script.model_copy(update={"prompt": path.read_text(encoding="utf-8")})
    if not updated:
        return film
    return film.model_copy(update={"scripts": {**film.scripts, **updated}})


def _inline_scenes(
    entries: list[Any],
    root: Path,
    source_map: SourceMap,
    files: list[str],
    parsed: ParsedFiles | None,
) -> list[Any]:
    """Replace scene file names (globs allowed) by the scenes they hold."""
    # Positions recorded from film.yaml are keyed by the entry's old index; lift them
    # out first so scenes read from files can take those indices without mixing.
    written = {index: _take(source_map, ("scenes", index)) for index in range(len(entries))}
    scenes: list[Any] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, str):
            _put(source_map, ("scenes", len(scenes)), written[index])
            scenes.append(entry)
            continue
        matches = sorted(glob.glob(str(root / entry)))
        if not matches:
            _put(source_map, ("scenes", index), written[index])
            raise source_map.error(
                ("scenes", index),
                f"no scene file matches {entry!r}",
                "scene entries are paths relative to film.yaml, e.g. scenes/01-arrival.yaml",
            )
        for match in matches:
            position = len(scenes)
            files.append(display_name(Path(match), root))
            scene = _read_yaml(Path(match), root, source_map, ("scenes", position), parsed)
            scenes.append(scene)
    return scenes


Positions = tuple[dict[SpecPath, Location], dict[SpecPath, Location]]


def _take(source_map: SourceMap, prefix: SpecPath) -> Positions:
    """Remove and return the positions recorded under ``prefix``, relative to it."""
    taken: Positions = ({}, {})
    for table, out in zip((source_map.values, source_map.keys), taken, strict=True):
        for path in [p for p in table if p[: len(prefix)] == prefix]:
            out[path[len(prefix) :]] = table.pop(path)
    return taken


def _put(source_map: SourceMap, prefix: SpecPath, positions: Positions) -> None:
    """Record ``positions`` (from :func:`_take`) under ``prefix``."""
    for table, saved in zip((source_map.values, source_map.keys), positions, strict=True):
        table.update({prefix + rest: location for rest, location in saved.items()})


def _read_yaml(
    path: Path, root: Path, source_map: SourceMap, prefix: SpecPath, parsed: ParsedFiles | None
) -> Any:
    """Parse one YAML file (or take its earlier parse); record its positions under ``prefix``."""
    name = display_name(path, root)
    text = path.read_text(encoding="utf-8")
    source_map.add_file(name, text)
    known = parsed.get(name, text) if parsed is not None else None
    if known is None:
        own = SourceMap()
        own.add_file(name, text)
        data = _parse(text, name, own)
        if parsed is not None:
            parsed.put(name, text, data, own.values, own.keys)
        known = (data, own.values, own.keys)
    data, values, keys = known
    _put(source_map, prefix, (values, keys))
    source_map.values[prefix] = Location(name, 1, 1)
    return data


def _parse(text: str, name: str, source_map: SourceMap) -> Any:
    """The plain data of a YAML text; positions recorded in ``source_map`` from its root."""
    # The safe loader's node tree carries every position and is parsed in C
    # (ruamel.yaml.clib), an order of magnitude faster than the round-trip loader.
    yaml = YAML(typ="safe")
    try:
        node = yaml.compose(text)
        return _plain(node, name, source_map, (), yaml.constructor) if node else None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(name, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            f"invalid YAML: {problem}",
            location=location,
            snippet=source_map.snippet(location),
            hint="check indentation, colons after keys, and quotes around text with ':' or '#'",
        ) from None


def _here(name: str, node: Node) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1)


def _plain(node: Node, name: str, source_map: SourceMap, path: SpecPath, constructor: Any) -> Any:
    """A composed YAML node -> plain dicts/lists/scalars, recording positions."""
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in _merged(node):
            key = str(constructor.construct_object(key_node, deep=True))
            child = (*path, key)
            if key in out:
                raise SpecError(
                    f"duplicate key {key!r}",
                    location=_here(name, key_node),
                    snippet=source_map.snippet(_here(name, key_node)),
                    hint="each key may appear once in a mapping; remove or rename one",
                )
            source_map.keys[child] = _here(name, key_node)
            source_map.values[child] = _here(name, value_node)
            out[key] = _plain(value_node, name, source_map, child, constructor)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            source_map.values[(*path, index)] = _here(name, item)
            items.append(_plain(item, name, source_map, (*path, index), constructor))
        return items
    return constructor.construct_object(node, deep=True)


def _merged(node: MappingNode) -> list[tuple[Node, Node]]:
    """Key/value pairs with YAML merge keys (``<<: *defaults``) expanded."""
    pairs: list[tuple[Node, Node]] = []
    own: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if isinstance(source, MappingNode):
                    pairs.extend(_merged(source))
        else:
            own.append((key_node, value_node))
    overridden = {k.value for k, _ in own if isinstance(k.value, str)}
    return [(k, v) for k, v in pairs if k.value not in overridden] + own
