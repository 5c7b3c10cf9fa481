"""Dialogue written in Fountain, and dialogue taken from a script step's take.

Three pure transformations of a loaded spec:

* :func:`inline_fountain` (before validation): a shot's ``lines:`` written as
  a block of Fountain becomes the list form, each line keeping the position
  of its cue in the YAML file, so errors point into the block.
* :func:`script_brief`: what a script backend is asked for, as plain data
  (the opening parsed into turns, the cues allowed to speak).
* :func:`expand_scripts` (after validation): ``- script: name`` entries are
  replaced by the speeches of that script's text (the picked take), with
  notes for speeches that cannot be spoken (unknown speakers, missing takes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from filmkit.errors import Location, SpecError
from filmkit.spec import fountain
from filmkit.spec.models import Character, Film, Line, Script, ScriptLines, Shot
from filmkit.spec.sourcemap import SourceMap, SpecPath


def cue_of(key: str, character: Character | Mapping[str, Any]) -> str:
    """The cue a character speaks under in a screenplay: their name in capitals."""
    name = character.name if isinstance(character, Character) else character.get("name")
    return str(name or key).upper()


def speaker_key(cue: str, characters: Mapping[str, Any]) -> str | None:
    """The ``characters:`` key a screenplay cue belongs to (by key or name), if any."""
    wanted = cue.strip().upper()
    for key, character in characters.items():
        name = character.name if isinstance(character, Character) else character.get("name", "")
        if wanted in (key.upper(), str(name).upper()):
            return key
    return None


def speech_lines(
    screenplay: fountain.Screenplay, characters: Mapping[str, Any]
) -> list[tuple[dict[str, Any], fountain.Dialogue]]:
    """Every speech of a screenplay as line data (``who``, ``text``, ``direction``)."""
    out = []
    for block in screenplay.dialogue():
        who = speaker_key(block.character, characters)
        if who is None:
            who = "_".join(block.character.lower().split()) or block.character
        for speech in block.speeches:
            text = " ".join(speech.text.split())
            if text:
                out.append(({"who": who, "text": text, "direction": speech.parenthetical}, block))
    return out


def inline_fountain(data: Any, source_map: SourceMap) -> None:
    """Turn every shot's Fountain ``lines:`` block into a list of lines, in place."""
    if not isinstance(data, dict) or not isinstance(data.get("scenes"), list):
        return
    characters = data.get("characters") if isinstance(data.get("characters"), dict) else {}
    characters = {k: v for k, v in characters.items() if isinstance(v, dict)}
    for s, scene in enumerate(data["scenes"]):
        shots = scene.get("shots") if isinstance(scene, dict) else None
        for t, shot in enumerate(shots if isinstance(shots, list) else []):
            if isinstance(shot, dict) and isinstance(shot.get("lines"), str):
                path: SpecPath = ("scenes", s, "shots", t, "lines")
                shot["lines"] = _block_lines(shot["lines"], path, characters, source_map)


def _block_lines(
    text: str, path: SpecPath, characters: Mapping[str, Any], source_map: SourceMap
) -> list[dict[str, Any]]:
    """A Fountain block's speeches, with each one's position recorded under ``path``."""
    where = source_map.locate(path)
    block = where is not None and source_map.snippet(where).rstrip().endswith(("|", ">", "|-"))
    lines = []
    for k, (line, element) in enumerate(speech_lines(fountain.parse(text), characters)):
        if where is not None:
            # A literal block starts on the line after its indicator; a quoted one on its own.
            row = where.line + element.line - (0 if block else 1)
            source = source_map.texts.get(where.file, [])
            indent = (
                len(source[row - 1]) - len(source[row - 1].lstrip()) if row <= len(source) else 0
            )
            location = Location(where.file, row, indent + 1)
            source_map.values[(*path, k)] = location
            source_map.values[(*path, k, "who")] = location
        lines.append(line)
    if not lines and text.strip():
        raise source_map.error(
            path,
            "no dialogue found in this Fountain block",
            "write a cue in capitals on its own line, then the speech:\n"
            "  lines: |\n    MARA\n    (quietly)\n    Which Tuesday?",
        )
    return lines


def script_brief(film: Film, name: str, prompt: str) -> dict[str, Any]:
    """The request a script backend gets for ``scripts.<name>``, as canonical data."""
    script = film.scripts[name]
    turns = []
    for line, block in speech_lines(fountain.parse(prompt), film.characters):
        character = film.characters.get(line["who"])
        cue = cue_of(line["who"], character) if character else block.character.upper()
        turns.append({"cue": cue, "text": line["text"], "direction": line["direction"]})
    speakers = list(script.characters) or list(
        dict.fromkeys(key for t in turns if (key := speaker_key(t["cue"], film.characters)))
    )
    return {
        "prompt": prompt,
        "opening": turns,
        "characters": [cue_of(key, film.characters[key]) for key in speakers],
        "takes": script.takes,
        "lines": script.lines,
        "length": script.length,
        "stop": list(script.stop),
        "instructions": script.instructions,
        "title": film.title,
    }


def take_lines(film: Film, script: Script, text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The speakable lines of a script's text, and why any speech was left out."""
    dropped: list[str] = []
    lines = []
    for line, block in speech_lines(fountain.parse(text), film.characters):
        allowed = script.characters or list(film.characters)
        if line["who"] not in film.characters or line["who"] not in allowed:
            dropped.append(f"{block.character} (line {block.line}) is not in the cast")
        else:
            lines.append(line)
    return lines, dropped


def expand_scripts(
    film: Film, source_map: SourceMap, texts: Mapping[str, str]
) -> tuple[Film, SourceMap, list[SpecError]]:
    """``film`` with every ``- script:`` entry replaced by its take's lines.

    ``texts`` maps script names to their text (the picked take); a script
    without one contributes no lines and a note says why.
    """
    notes: list[SpecError] = []
    parsed = {name: take_lines(film, film.scripts[name], text) for name, text in texts.items()}
    for name, (_, dropped) in parsed.items():
        for reason in dropped:
            notes.append(
                SpecError(
                    f"script {name!r}: a speech by {reason}; it is left out",
                    hint=f"add the character under `characters:` (and to scripts.{name}"
                    ".characters), or edit the take",
                    path=("scripts", name),
                )
            )
    if not any(isinstance(e, ScriptLines) for _, shot in film.shots() for e in shot.lines):
        return film, source_map, notes
    values, keys = dict(source_map.values), dict(source_map.keys)
    scenes = []
    for s, scene in enumerate(film.scenes):
        shots = []
        for t, shot in enumerate(scene.shots):
            base: SpecPath = ("scenes", s, "shots", t, "lines")
            if not any(isinstance(e, ScriptLines) for e in shot.lines):
                shots.append(shot)
                continue
            new_lines, moves = _expand_shot(shot, base, parsed, notes)
            _move_positions(values, base, moves)
            _move_positions(keys, base, moves)
            shots.append(shot.model_copy(update={"lines": new_lines}))
        scenes.append(scene.model_copy(update={"shots": shots}))
    expanded = replace(source_map, values=values, keys=keys)
    return film.model_copy(update={"scenes": scenes}), expanded, notes


def _expand_shot(
    shot: Shot,
    base: SpecPath,
    parsed: Mapping[str, tuple[list[dict[str, Any]], list[str]]],
    notes: list[SpecError],
) -> tuple[list[Line], list[tuple[int, int]]]:
    """A shot's lines with script entries expanded, and (old index, new index) pairs."""
    new_lines: list[Line] = []
    moves = []
    for k, entry in enumerate(shot.lines):
        if isinstance(entry, Line):
            moves.append((k, len(new_lines)))
            new_lines.append(entry)
            continue
        if entry.script not in parsed:
            notes.append(
                SpecError(
                    f"script {entry.script!r} has no take to speak yet, so this shot has "
                    "no lines from it",
                    hint=f"`filmkit build` writes takes; `filmkit pick {entry.script} N` pins one",
                    path=(*base, k),
                )
            )
            continue
        lines = parsed[entry.script][0]
        chosen = lines[entry.first - 1 : entry.last]
        if entry.last is not None and entry.last > len(lines):
            notes.append(
                SpecError(
                    f"script {entry.script!r} has {len(lines)} speeches, fewer than "
                    f"`last: {entry.last}`",
                    hint="lower `last`, or pick a longer take",
                    path=(*base, k),
                )
            )
        for line in chosen:
            moves.append((k, len(new_lines)))
            new_lines.append(Line(**line, pause=entry.pause))
    return new_lines, moves


def _move_positions(
    table: dict[SpecPath, Location], base: SpecPath, moves: list[tuple[int, int]]
) -> None:
    """Re-key positions under ``base`` from old line indices to new ones."""
    depth = len(base)
    old = {p: loc for p, loc in table.items() if p[:depth] == base and len(p) > depth}
    for path in old:
        del table[path]
    for before, after in moves:
        for path, location in old.items():
            if path[depth] == before:
                table[(*base, after, *path[depth + 1 :])] = location
