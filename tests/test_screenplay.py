"""Fountain screenplays in and out: `filmkit import` and `filmkit export --fountain`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from filmkit.errors import UsageError
from filmkit.screenplay import export_screenplay, import_screenplay
from filmkit.spec import fountain
from filmkit.spec.loading import load_spec

SCREENPLAY = """\
Title: The Last Bus
Credit: written by
Author: the filmkit tests

INT. BUS STATION WAITING ROOM - NIGHT

Rain on the windows. A clock that has stopped.

NELL
(checking the board)
It says delayed.

RUPERT
It always says delayed.
It said delayed yesterday.

NELL
Were you here yesterday?

DISSOLVE TO:

INT. STATION CORRIDOR - DAY

ANNOUNCER (V.O.)
The last bus will be the next bus.

NELL
That's not how buses work.

RUPERT ^
That's how this one works.

[[A note nobody hears.]]

/* A cut scene
NELL
Gone.
*/

EXT. PLATFORM - DUSK

NELL
After you.

RUPERT
(softly)
No. After you.

> THE END <
"""


def imported(tmp_path: Path) -> Path:
    source = tmp_path / "bus.fountain"
    source.write_text(SCREENPLAY)
    import_screenplay(source, tmp_path / "film")
    return tmp_path / "film"


def test_a_screenplay_imports_into_a_valid_film(tmp_path: Path) -> None:
    root = imported(tmp_path)
    film = load_spec(root).film
    assert film.title == "The Last Bus"
    assert [s.heading for s in film.scenes] == [
        "INT. BUS STATION WAITING ROOM - NIGHT",
        "INT. STATION CORRIDOR - DAY",
        "EXT. PLATFORM - DUSK",
    ]
    assert set(film.characters) == {"nell", "rupert", "announcer"}
    assert film.characters["announcer"].face is None  # only ever heard in voice-over
    assert film.characters["nell"].face is not None
    voices = {json.dumps(c.voice.model_dump(), sort_keys=True) for c in film.characters.values()}
    assert len(voices) == 3, "every character gets a voice of their own"
    lines = [(line.who, line.direction, line.text) for _, s in film.shots() for line in s.spoken()]
    assert lines == [
        ("nell", "checking the board", "It says delayed."),
        ("rupert", "", "It always says delayed. It said delayed yesterday."),
        ("nell", "", "Were you here yesterday?"),
        ("announcer", "", "The last bus will be the next bus."),
        ("nell", "", "That's not how buses work."),
        ("rupert", "", "That's how this one works."),
        ("nell", "", "After you."),
        ("rupert", "softly", "No. After you."),
    ]
    first = film.scenes[0]
    assert first.shots[0].action == "Rain on the windows. A clock that has stopped."
    second = film.scenes[1]
    assert second.shots[0].transition.type == "crossfade"  # DISSOLVE TO: ends scene 1
    dual = second.shots[2]
    assert [layer.character for layer in dual.layers[1:]] == ["nell", "rupert"]
    rooms = {g.params["style"] for g in film.generators.values()}
    assert rooms == {"waiting_room", "corridor"}


def test_import_refuses_to_overwrite_a_film(tmp_path: Path) -> None:
    root = imported(tmp_path)
    with pytest.raises(UsageError, match="film.yaml exists"):
        import_screenplay(tmp_path / "bus.fountain", root)


def test_export_writes_the_films_screenplay_as_fountain(tmp_path: Path) -> None:
    film = load_spec(imported(tmp_path)).film
    text = export_screenplay(film)
    screenplay = fountain.parse(text)
    assert screenplay.title_page["title"] == "The Last Bus"
    headings = [e.text for e in screenplay.elements if isinstance(e, fountain.SceneHeading)]
    assert headings[0] == "INT. BUS STATION WAITING ROOM - NIGHT"
    speeches = [
        (block.character, speech.parenthetical, speech.text)
        for block in screenplay.dialogue()
        for speech in block.speeches
    ]
    assert speeches[0] == ("NELL", "checking the board", "It says delayed.")
    assert ("RUPERT", "softly", "No. After you.") in speeches
    assert "DISSOLVE TO:" in text
    assert text.rstrip().endswith("No. After you.\n\nTHE END")


def test_import_and_export_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "bus.fountain").write_text(SCREENPLAY)

    def filmkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "filmkit.cli", *args]
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True)

    done = filmkit("import", "bus.fountain", "-o", "bus", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "next: filmkit -C" in done.stdout
    exported = filmkit("export", "--fountain", cwd=tmp_path / "bus")
    assert exported.returncode == 0, exported.stderr
    assert "That's how this one works." in exported.stdout
    missing = filmkit("import", "nope.fountain", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.slow
def test_an_imported_screenplay_builds_into_a_film_with_voices_and_subtitles(
    tmp_path: Path,
) -> None:
    from filmkit.media import ffmpeg_exe
    from filmkit.project import Project

    root = imported(tmp_path)
    film_yaml = root / "film.yaml"
    small = film_yaml.read_text().replace("size: [1280, 720]", "size: [320, 180]")
    film_yaml.write_text(small.replace("fps: 24", "fps: 12"))
    report = Project(root).build(jobs=2)
    assert report.count("failed") == 0
    probe = [ffmpeg_exe(), "-hide_banner", "-i", str(root / "build" / "film.mp4")]
    info = subprocess.run(probe, capture_output=True, text=True).stderr
    assert "Video: h264" in info and "Audio: aac" in info
    srt = (root / "build" / "film.srt").read_text()
    assert "That's not how buses work." in srt and "No. After you." in srt
