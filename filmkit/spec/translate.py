"""pydantic validation errors -> :class:`SpecError` with positions and hints."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from filmkit.errors import SpecError
from filmkit.spec.hints import suggest
from filmkit.spec.models import _LAYER_KEYS, Film, layer_kind
from filmkit.spec.sourcemap import SourceMap, SpecPath

_PRIMITIVE_BRANCHES = {"str", "int", "float", "bool"}

_HINTS = {
    "float_parsing": "write a plain number, e.g. 4.5",
    "float_type": "write a plain number, e.g. 4.5",
    "int_parsing": "write a whole number, e.g. 24",
    "int_from_float": "write a whole number, e.g. 24",
    "string_type": "write text; quote it if it starts with a digit or contains ': '",
    "string_pattern_mismatch": (
        "ids use lower-case letters, digits, '-' and '_'; colours are \"#rrggbb\""
    ),
    "dict_type": "write a mapping (key: value lines, indented)",
    "list_type": "write a list (lines starting with '- ')",
    "tuple_type": "write a list such as [1280, 720]",
    "too_short": "add at least one entry",
    "layer_kind": 'e.g. `- color: "#202020"`, `- image: assets/room.png`, `- character: ada`',
}


def translate_validation_error(
    exc: ValidationError, data: Any, source_map: SourceMap
) -> list[SpecError]:
    """One :class:`SpecError` per distinct problem in ``exc``."""
    errors: list[SpecError] = []
    seen: set[tuple[SpecPath, str]] = set()
    for detail in exc.errors(include_url=False):
        path = _data_path(data, detail["loc"])
        if path is None:
            continue
        error = _translate(detail, path, data, source_map)
        if (path, error.message) not in seen:
            seen.add((path, error.message))
            errors.append(error)
    return errors or [source_map.error((), str(exc))]


def _translate(detail: ErrorDetails, path: SpecPath, data: Any, source_map: SourceMap) -> SpecError:
    kind = detail["type"]
    field = str(path[-1]) if path else "film"
    where = _describe(path)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], data)
        return source_map.error(
            path, f"unknown key {field!r} in {where}", suggest(field, allowed), key=True
        )
    if kind == "missing":
        return source_map.error(
            path[:-1] if path else path,
            f"{where} is missing the required key {field!r}",
            f"add `{field}:`",
        )
    value = detail.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    message = f"{field}: {_lower_first(detail['msg'])} (got {shown})"
    return source_map.error(path, message, _HINTS.get(kind, ""))


def _lower_first(text: str) -> str:
    text = text.removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


_NOUNS = {
    "scenes": "scene",
    "shots": "shot",
    "lines": "line",
    "layers": "layer",
    "characters": "character",
    "generators": "generator config",
    "music": "music cue",
    "voice": "voice config",
    "face": "face config",
    "generate": "generator config",
}


def _describe(path: SpecPath) -> str:
    """A human name for the mapping holding ``path[-1]``, e.g. "shot 2"."""
    parent = path[:-1]
    if not parent:
        return "film.yaml"
    last = parent[-1]
    if isinstance(last, int) and len(parent) >= 2:
        return f"{_NOUNS.get(str(parent[-2]), str(parent[-2]))} {last + 1}"
    if len(parent) >= 2 and parent[-2] in ("characters", "generators"):
        return f"{_NOUNS[str(parent[-2])]} {last!r}"
    return _NOUNS.get(str(last), str(last))


def _data_path(data: Any, loc: tuple[int | str, ...]) -> SpecPath | None:
    """Map pydantic's ``loc`` onto the data, dropping union-branch tags.

    Returns None for errors of a union branch that does not apply (e.g. the
    ``str`` branch of ``voice:`` when the user wrote a mapping).
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif (
            isinstance(part, str) and part in _PRIMITIVE_BRANCHES and isinstance(node, dict | list)
        ):
            return None
        elif isinstance(node, dict) and isinstance(part, str) and _is_branch_tag(part):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _is_branch_tag(part: str) -> bool:
    return part[:1].isupper() or part in _LAYER_KEYS


def _allowed_keys(path: SpecPath, data: Any) -> list[str]:
    """Field names of the model that the mapping at ``path`` is validated as."""
    model: Any = Film
    node = data
    for part in path:
        node = node[part] if isinstance(node, dict | list) else None
        model = _child_type(model, part, node)
    model = _pick_model(model, node)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _child_type(annotation: Any, part: str | int, node: Any) -> Any:
    """The annotation one step below ``annotation`` along ``part``."""
    annotation = _pick_model(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _pick_model(annotation: Any, node: Any) -> Any:
    """Unwrap Annotated/Optional/unions to the model that applies to ``node``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            options = typing.get_args(annotation)
            annotation = _choose(options, node)
            continue
        return annotation


def _choose(options: tuple[Any, ...], node: Any) -> Any:
    tag = layer_kind(node) if isinstance(node, dict) else None
    for option in options:
        meta = getattr(option, "__metadata__", ())
        if tag and any(getattr(m, "tag", None) == tag for m in meta):
            return option
    for option in options:
        inner = _pick_model(option, None) if typing.get_origin(option) else option
        if isinstance(inner, type) and issubclass(inner, BaseModel) and isinstance(node, dict):
            return option
        if typing.get_origin(option) in (list, dict) and isinstance(node, list | dict):
            return option
    return options[-1]
