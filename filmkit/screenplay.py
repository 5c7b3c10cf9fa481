"""Screenplays in and out: a Fountain file becomes a film project, a film becomes Fountain.

:func:`import_screenplay` lays a screenplay out as shots: each scene opens on
its set (a generated room matched to the scene heading), then every speech
block gets a shot of the set with the speaker's face; dual dialogue shows
both faces, voice-over (V.O., O.S.) shows none. Action goes into the next
shot's ``action:``; DISSOLVE/FADE transitions become crossfades. Every
character gets an offline voice of their own and a generated face.

:func:`export_screenplay` writes the film's current screenplay, lines from
script takes included, with scene headings, action, transitions and
parentheticals.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from filmkit.errors import UsageError
from filmkit.spec import fountain
from filmkit.spec.models import Film, Line
from filmkit.spec.scripts import cue_of

# Distinct offline voices, handed out in order of first appearance.
VOICES: tuple[dict[str, Any], ...] = (
    {"backend": "voice/piper", "params": {"speed": 0.95, "pitch": 12, "formant": 3}},
    {"backend": "voice/piper", "params": {"speed": 1.0, "pitch": 2, "formant": 1.5}},
    {"backend": "voice/piper", "params": {"speed": 0.9, "pitch": 7, "formant": 2.5}},
    {"backend": "voice/piper", "params": {"speed": 1.05, "pitch": -3, "formant": 0.5}},
    {"backend": "voice/espeak", "params": {"voice": "en-us", "rate": 150, "pitch": 45}},
    {"backend": "voice/espeak", "params": {"voice": "en-gb", "rate": 140, "pitch": 30}},
)
# Scene heading words -> the procedural room that reads as that place.
ROOMS = (
    (("CORRIDOR", "HALL", "STAIR", "PASSAGE"), "corridor"),
    (("OFFICE", "DESK", "STUDY", "BANK", "BUREAU", "LIBRARY"), "office"),
    (("WAITING", "LOBBY", "CLINIC", "STATION", "ROOM", "KITCHEN"), "waiting_room"),
)
LIGHTS = (
    (("NIGHT", "MIDNIGHT"), "night"),
    (("DUSK", "EVENING", "SUNSET"), "dusk"),
    (("DAY", "MORNING", "NOON", "AFTERNOON"), "fluorescent"),
)
VOICE_OVER = ("V.O.", "O.S.", "O.C.")


def import_screenplay(source: Path, target: Path, *, force: bool = False) -> list[Path]:
    """Write ``film.yaml`` and ``scenes/*.yaml`` for the screenplay in ``source``."""
    text = Path(source).read_text(encoding="utf-8")
    screenplay = fountain.parse(text)
    if not screenplay.dialogue():
        raise UsageError(f"{source} has no dialogue: nothing to voice (is it Fountain?)")
    target = Path(target)
    film_path = target / "film.yaml"
    if film_path.exists() and not force:
        raise UsageError(f"{film_path} exists; import into an empty folder, or pass --force")
    cast = _cast(screenplay)
    sets: dict[str, dict[str, Any]] = {}
    scenes = []
    carried: str | None = None  # a transition at the end of a scene leads into the next
    for number, (heading, elements) in enumerate(screenplay.scenes(), start=1):
        scene, carried = _scene(number, heading, elements, cast, sets, carried)
        scenes.append(scene)
    title = screenplay.title_page.get("title", "").replace("\n", " ").strip()
    film = {
        "title": fountain.plain(title) or Path(source).stem.replace("-", " ").title(),
        "size": [1280, 720],
        "fps": 24,
        "seed": 1,
        "generators": sets,
        "characters": {key: info for key, info in cast.items()},
        "music": [
            {
                "id": "score",
                "generate": {
                    "backend": "music/procedural",
                    "params": {"mood": "melancholy", "texture": "piano"},
                },
                "start": f"{scenes[0]['id']}/{scenes[0]['shots'][0]['id']}",
                "end": f"{scenes[-1]['id']}/{scenes[-1]['shots'][-1]['id']}",
                "length": 60,
                "gain_db": -14,
            }
        ],
        "scenes": ["scenes/*.yaml"],
    }
    written = [film_path]
    (target / "scenes").mkdir(parents=True, exist_ok=True)
    header = f"# Imported from {Path(source).name} by `filmkit import`.\n"
    film_path.write_text(header + _yaml(film), encoding="utf-8")
    for number, scene in enumerate(scenes, start=1):
        path = target / "scenes" / f"{number:02d}-{scene['id']}.yaml"
        path.write_text(_yaml(scene), encoding="utf-8")
        written.append(path)
    return written


def _cast(screenplay: fountain.Screenplay) -> dict[str, dict[str, Any]]:
    """Every speaking character, keyed by a spec id, with a voice and (unless only
    ever heard in voice-over) a face."""
    cast: dict[str, dict[str, Any]] = {}
    seen_on_screen: set[str] = set()
    for block in screenplay.dialogue():
        key = character_key(block.character)
        if key not in cast:
            voice = VOICES[len(cast) % len(VOICES)]
            cast[key] = {"name": block.character.title(), "voice": voice}
        if not _voice_over(block):
            seen_on_screen.add(key)
    for key in seen_on_screen:
        cast[key]["face"] = {"backend": "image/face"}
    return cast


def character_key(cue: str) -> str:
    """A spec id for a character cue: ``MR. GREEN`` -> ``mr_green``."""
    key = re.sub(r"[^a-z0-9]+", "_", cue.lower()).strip("_")
    return key if key and key[0].isalnum() else f"c_{key or 'x'}"


def _voice_over(block: fountain.Dialogue) -> bool:
    return any(mark in block.extension.upper() for mark in VOICE_OVER)


def _scene(
    number: int,
    heading: fountain.SceneHeading | None,
    elements: list[fountain.Element],
    cast: dict[str, dict[str, Any]],
    sets: dict[str, dict[str, Any]],
    incoming: str | None,
) -> tuple[dict[str, Any], str | None]:
    """One scene: an establishing shot of its set, then a shot per speech block; and the
    transition it ends on, if any."""
    heading_text = heading.text if heading else ""
    room = _set_for(heading_text, sets)
    place = re.sub(r"^(INT|EXT|EST|I/E|INT\./EXT|INT/EXT)[.\s]+", "", heading_text, flags=re.I)
    scene_id = f"s{number:02d}-" + (character_key(place.split(" - ")[0])[:24] or "scene")
    scene_id = scene_id.replace("_", "-").strip("-")
    shots: list[dict[str, Any]] = []
    action: list[str] = []
    centered: list[str] = []
    transition: str | None = None
    establishing: dict[str, Any] = {"id": "set"}
    if incoming and number > 1:
        establishing["transition"] = _transition(incoming)
    establishing["layers"] = [{"generate": room, "move": {"zoom": [1.0, 1.12]}}]
    shots.append(establishing)
    for element in elements:
        if isinstance(element, fountain.Action):
            action.append(element.text)
            if element.centered:
                centered.append(element.text)
        elif isinstance(element, fountain.Transition):
            transition = element.text
        elif isinstance(element, fountain.Dialogue):
            if element.dual and shots[-1].get("_dual"):
                _add_speaker(shots[-1], element, cast)
                continue
            shot = {"id": f"shot{len(shots)}", "_dual": element.dual, "layers": [], "lines": []}
            shot["layers"].append({"generate": room, "move": {"zoom": [1.2, 1.25]}})
            if action:
                # Action before the first speech is what the opening shot of the set shows.
                (shots[0] if len(shots) == 1 else shot)["action"] = "\n\n".join(action)
                action, centered = [], []
            if transition:
                shot["transition"] = _transition(transition)
                transition = None
            _add_speaker(shot, element, cast)
            shots.append(shot)
    if action and len(shots) == 1:
        establishing["action"] = "\n\n".join(action)
    elif action:
        # Action after the last speech closes the scene on the set; centered text is a card.
        closing: dict[str, Any] = {"id": "close", "action": "\n\n".join(action)}
        closing["layers"] = [{"generate": room, "move": {"zoom": [1.12, 1.0]}}]
        closing["layers"] += [{"text": text, "size": 72, "fade_in": 0.8} for text in centered]
        closing["duration"] = round(min(6.0, max(2.5, len(closing["action"].split()) / 3.0)), 1)
        shots.append(closing)
    # The set holds for as long as its action takes to read, within reason.
    words = len(establishing.get("action", "").split())
    establishing["duration"] = round(min(6.0, max(2.0, words / 3.0)), 1)
    for shot in shots:
        shot.pop("_dual", None)
        _place_faces(shot)
    scene: dict[str, Any] = {"id": scene_id, "title": place.title() or f"Scene {number}"}
    if heading_text:
        scene["heading"] = heading_text
    scene["shots"] = shots
    return scene, transition


def _add_speaker(shot: dict[str, Any], block: fountain.Dialogue, cast: dict[str, Any]) -> None:
    key = character_key(block.character)
    if not _voice_over(block) and "face" in cast[key]:
        shot["layers"].append({"character": key})
    for speech in block.speeches:
        text = " ".join(speech.text.split())
        if text:
            said = f"({speech.parenthetical}) {text}" if speech.parenthetical else text
            line = CommentedMap({key: DoubleQuotedScalarString(said)})
            line.fa.set_block_style()
            shot["lines"].append(line)


def _place_faces(shot: dict[str, Any]) -> None:
    """One face fills the frame; two stand side by side."""
    faces = [layer for layer in shot["layers"] if "character" in layer]
    unique = list({layer["character"]: layer for layer in faces}.values())
    shot["layers"] = [layer for layer in shot["layers"] if "character" not in layer]
    if len(unique) == 1:
        shot["layers"].append({**unique[0], "scale": 0.9, "position": [0.5, 1.04]})
    for index, layer in enumerate(unique if len(unique) > 1 else []):
        x = 0.3 + 0.4 * index / max(1, len(unique) - 1)
        shot["layers"].append({**layer, "scale": 0.62, "position": [round(x, 2), 1.02]})


def _set_for(heading: str, sets: dict[str, dict[str, Any]]) -> str:
    """The name of the generated set for a scene heading (one per distinct room and light)."""
    words = heading.upper()
    style = next((s for keys, s in ROOMS if any(k in words for k in keys)), "waiting_room")
    light = next((value for keys, value in LIGHTS if any(k in words for k in keys)), "warm")
    name = f"{style}_{light}"
    params: dict[str, Any] = {"style": style, "light": light}
    if style == "waiting_room":
        params |= {"chairs": 5, "clock": True, "plant": True}
    sets.setdefault(name, {"backend": "image/room", "params": params})
    return name


def _transition(text: str) -> dict[str, Any] | str:
    upper = text.upper()
    if "DISSOLVE" in upper or "FADE" in upper:
        return {"type": "crossfade", "duration": 1.0}
    return "cut"


def _yaml(data: Any) -> str:
    buffer = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump(data, buffer)
    return buffer.getvalue()


def export_screenplay(film: Film) -> str:
    """The film's screenplay as Fountain: title page, headings, action, dialogue."""
    elements: list[fountain.Element] = []
    for number, scene in enumerate(film.scenes):
        if number and scene.shots[0].transition.type == "crossfade":
            elements.append(fountain.Transition("DISSOLVE TO:"))
        heading = scene.heading or f"{(scene.title or scene.id).upper()}"
        elements.append(fountain.SceneHeading(heading))
        for index, shot in enumerate(scene.shots):
            if index and shot.transition.type == "crossfade":
                elements.append(fountain.Transition("DISSOLVE TO:"))
            if shot.action:
                elements.append(fountain.Action(shot.action))
            elements.extend(_dialogue(film, shot.spoken()))
    return fountain.write(fountain.Screenplay({"title": film.title}, tuple(elements)))


def _dialogue(film: Film, lines: list[Line]) -> list[fountain.Dialogue]:
    """Consecutive lines of one speaker form one dialogue block."""
    blocks: list[fountain.Dialogue] = []
    for line in lines:
        speech = fountain.Speech(line.text, line.direction)
        cue = cue_of(line.who, film.characters[line.who])
        if blocks and blocks[-1].character == cue:
            last = blocks[-1]
            blocks[-1] = fountain.Dialogue(last.character, last.extension, (*last.speeches, speech))
        else:
            blocks.append(fountain.Dialogue(cue, "", (speech,)))
    return blocks
