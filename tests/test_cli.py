"""The command line, as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SCENE_TWO, TINY_FILM, write_project


def filmkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filmkit.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_help_teaches_by_example(tmp_path: Path) -> None:
    result = filmkit("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "filmkit build -j 1" in result.stdout
    assert "build/report.json" in result.stdout
    build_help = filmkit("build", "--help", cwd=tmp_path)
    assert "filmkit build 'voice:*'" in build_help.stdout


def test_spec_error_prints_location_and_hint_without_traceback(tmp_path: Path) -> None:
    root = write_project(
        tmp_path, scenes={"01.yaml": SCENE_TWO.replace("transition:", "transiton:")}
    )
    result = filmkit("validate", cwd=root)
    assert result.returncode == 2
    assert result.stderr.startswith("scenes/01.yaml:4:5: error: unknown key 'transiton' in shot 1")
    assert "hint: did you mean 'transition'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    root = write_project(tmp_path, film=TINY_FILM.replace("fps: 12", "fps: x"))
    result = filmkit("--debug", "validate", cwd=root)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_outside_a_project_says_what_to_do(tmp_path: Path) -> None:
    result = filmkit("build", cwd=tmp_path)
    assert result.returncode == 2
    assert "no film.yaml in" in result.stderr and "filmkit init" in result.stderr


def test_init_creates_a_project_that_validates(tmp_path: Path) -> None:
    created = filmkit("init", "short", "--title", "A Short", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    result = filmkit("-C", "short", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 'A Short': 1 scenes, 2 shots, 2 lines")
    again = filmkit("init", "short", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_schema_is_json_schema_of_film_yaml(tmp_path: Path) -> None:
    schema = json.loads(filmkit("schema", cwd=tmp_path).stdout)
    assert schema["title"] == "Film"
    assert {"title", "scenes", "characters", "music"} <= set(schema["properties"])


def test_plan_json_lists_every_step_with_a_reason(tmp_path: Path) -> None:
    created = filmkit("init", "short", cwd=tmp_path)
    assert created.returncode == 0
    result = filmkit("-C", "short", "plan", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_id = {s["id"]: s for s in data["steps"]}
    assert by_id["voice:opening/room/1"] == {
        "id": "voice:opening/room/1",
        "kind": "voice",
        "status": "run",
        "reason": "new",
    }
    assert by_id["cut"]["status"] == "maybe"
    # Everything the skeleton generates is offline: the cost plan says so.
    backends = {row["backend"]: row for row in data["cost"]["backends"]}
    assert backends["voice/piper"]["usage"]["characters"] > 0
    assert data["cost"]["total_usd"] == 0


def test_graph_prints_dot(tmp_path: Path) -> None:
    filmkit("init", "short", cwd=tmp_path)
    dot = filmkit("-C", "short", "graph", cwd=tmp_path).stdout
    assert dot.startswith("digraph film {")
    assert '"shot:opening/room" -> "reel:opening";' in dot
    assert '"reel:opening" -> "cut";' in dot


def test_graph_draws_a_png_and_refuses_formats_it_cannot_write(tmp_path: Path) -> None:
    from PIL import Image

    filmkit("init", "short", cwd=tmp_path)
    drawn = filmkit("-C", "short", "graph", "-o", str(tmp_path / "graph.png"), cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    with Image.open(tmp_path / "graph.png") as image:
        assert image.width > 600 and image.height > 100
    refused = filmkit("-C", "short", "graph", "-o", "graph.svg", cwd=tmp_path)
    assert refused.returncode == 2 and "dot -Tsvg" in refused.stderr


def test_status_and_clean_on_an_unbuilt_project(tmp_path: Path) -> None:
    filmkit("init", "short", cwd=tmp_path)
    status = filmkit("-C", "short", "status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "output:  build/film.mp4 (not built)" in status.stdout
    assert "0 up to date, 6 to run, 9 maybe" in status.stdout
    cleaned = filmkit("-C", "short", "clean", "--cache", cwd=tmp_path)
    assert cleaned.returncode == 0 and "nothing to remove" in cleaned.stdout


def test_the_summary_counts_files_in_folders_of_their_own() -> None:
    from filmkit.progress import _listed

    products = ["build/film.mp4", "build/film.srt"]
    products += [f"build/stems/s{n}/{stem}.wav" for n in range(1, 4) for stem in ("a", "b")]
    assert _listed(products) == ["build/film.mp4", "build/film.srt", "build/stems/  (6 files)"]
    assert _listed(["build/stems/s1/a.wav"]) == ["build/stems/  (1 file)"]
