"""`filmkit init`: a new, buildable film project."""

from __future__ import annotations

from pathlib import Path

from filmkit.errors import UsageError

FILM = """\
# film.yaml: the whole film as code. `filmkit build` renders it to build/film.mp4.
title: {title}
size: [1280, 720]
fps: 24
seed: 1

generators:                 # named backend configs that steps refer to
  room:
    backend: image/room
    params: {{style: waiting_room, light: warm, chairs: 4}}

characters:
  narrator:
    name: Narrator
    voice: {{backend: voice/piper, params: {{speed: 0.9, pitch: -1.5, formant: preserved}}}}
  ada:
    name: Ada
    voice: {{backend: voice/piper, params: {{pitch: 4}}}}
    face: {{backend: image/face, params: {{hair_style: bob}}}}

music:
  - id: theme
    generate: {{backend: music/procedural, params: {{mood: melancholy, texture: piano}}}}
    start: opening/room
    length: 30              # seconds to make; the mix loops or cuts it to fit its shots

sound: {{loudness: -16, true_peak: -1}}   # LUFS target (-23 for broadcast), dBTP ceiling
subtitles: {{burn: false}}                # build/film.srt and .vtt are always written

# Share generated assets through S3 (`filmkit push`, `pull`, `build --remote`);
# credentials come from the AWS chain, never from this file:
# remote: {{bucket: my-films, prefix: {slug}, region: eu-west-1}}

scenes:
  - scenes/*.yaml           # one file per scene, in file-name order
"""

SCENE = """\
id: opening
title: Opening
shots:
  - id: room
    layers:
      - generate: room
        move: {zoom: [1.0, 1.12]}
      - text: "{title}"
        size: 72
    sounds:
      - generate: {backend: sound/procedural, params: {effect: room_tone}}
        loop: true
        until: opening/ada
        gain_db: -30
    lines:
      - narrator: "Every film starts as a text file."
  - id: ada
    transition: crossfade
    layers:
      - generate: room
        move: {zoom: [1.1, 1.2], x: [0.4, 0.45]}
      - character: ada
    lines:
      - ada: "And this one is mine."
"""

GITIGNORE = """\
/build/
.filmkit/
"""


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return "-".join(words) or "film"


def create_project(root: Path, title: str) -> list[Path]:
    """Write a starter project into ``root``; refuses to overwrite a film."""
    if (root / "film.yaml").exists():
        raise UsageError(f"{root / 'film.yaml'} already exists; choose an empty folder")
    files = {
        root / "film.yaml": FILM.format(title=title, slug=_slug(title)),
        root / "scenes" / "01-opening.yaml": SCENE.replace("{title}", title),
        root / ".gitignore": GITIGNORE,
    }
    (root / "assets").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    return list(files)
