"""Every user error names file:line:col, says what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from filmkit.errors import SpecError
from filmkit.project import PARSED_FILE, Project
from filmkit.spec.loading import load_spec
from filmkit.spec.parsed import ParsedFiles
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, write_project
from tests.fakes import fake_registry


def error_of(root: Path) -> str:
    with pytest.raises(SpecError) as info:
        Project(root, fake_registry()).plan()
    return info.value.render()


def test_typo_in_a_key_points_at_the_key_and_suggests_the_right_one(tmp_path: Path) -> None:
    scene = SCENE_ONE.replace("  - id: a\n", "  - id: a\n    duraton: 4\n")
    root = write_project(tmp_path, scenes={"01.yaml": scene, "02.yaml": SCENE_TWO})
    assert error_of(root) == (
        "scenes/01.yaml:4:5: error: unknown key 'duraton' in shot 1\n"
        "   4 |     duraton: 4\n"
        "           ^\n"
        "hint: did you mean 'duration'?"
    )


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    root = write_project(tmp_path, film=TINY_FILM.replace("fps: 12", "fps: twelve"))
    assert error_of(root) == (
        "film.yaml:3:6: error: fps: input should be a valid integer, unable to parse string "
        "as an integer (got 'twelve')\n"
        "   3 | fps: twelve\n"
        "            ^\n"
        "hint: write a whole number, e.g. 24"
    )


def test_line_by_a_missing_character(tmp_path: Path) -> None:
    scene = SCENE_TWO.replace("- bo: ", "- bob: ")
    root = write_project(tmp_path, scenes={"01.yaml": SCENE_ONE, "02.yaml": scene})
    assert error_of(root) == (
        "scenes/02.yaml:10:9: error: line 1 of shot 'b' is spoken by unknown character 'bob'\n"
        '  10 |       - bob: "Goodbye now."\n'
        "               ^\n"
        "hint: did you mean 'bo'? (characters are defined under `characters:` in film.yaml)"
    )


def test_broken_yaml(tmp_path: Path) -> None:
    scene = SCENE_ONE.replace('      - ada: "Hello there."', '      - ada: "Hello there.\n')
    root = write_project(tmp_path, scenes={"01.yaml": scene, "02.yaml": SCENE_TWO})
    message = error_of(root)
    assert message.startswith(
        "scenes/01.yaml:13:14: error: invalid YAML: did not find expected key"
    )
    assert "hint: check indentation" in message


def test_unknown_backend_is_reported_where_it_is_configured(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        film=TINY_FILM.replace("backend: voice/tone, params: {pitch: 330}", "backend: voice/tune"),
    )
    assert error_of(root) == (
        "film.yaml:10:22: error: unknown voice backend 'voice/tune'\n"
        "  10 |     voice: {backend: voice/tune}\n" + " " * 28 + "^\n"
        "hint: did you mean 'voice/tone'?"
    )


def test_bad_backend_param_is_checked_before_anything_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path, film=TINY_FILM.replace("{pitch: 330}", "{pitsh: 330}"))
    message = error_of(root)
    assert message.startswith("film.yaml:10:50: error: voice/tone has no param 'pitsh'")
    assert "hint: did you mean 'pitch'?" in message


def test_several_errors_are_reported_together_in_file_order(tmp_path: Path) -> None:
    film = TINY_FILM.replace("fps: 12", "fps: -3").replace("seed: 3", "sed: 3")
    root = write_project(tmp_path, film=film)
    message = error_of(root)
    assert message.index("film.yaml:3:6: error: fps:") < message.index(
        "film.yaml:4:1: error: unknown key 'sed'"
    )
    assert message.endswith("2 errors in the spec")


def test_missing_scene_file_and_music_anchor(tmp_path: Path) -> None:
    film = TINY_FILM.replace("end: two/b", "end: two/c")
    root = write_project(tmp_path, film=film)
    assert "music cue 'theme': end 'two/c' is not a shot" in error_of(root)
    root2 = write_project(tmp_path / "b", film=TINY_FILM.replace("scenes/*.yaml", "scenes/*.yml"))
    assert "film.yaml:22:5: error: no scene file matches 'scenes/*.yml'" in error_of(root2)


def test_shorthand_and_full_lines_are_equivalent(tmp_path: Path) -> None:
    scene = SCENE_TWO.replace('- bo: "Goodbye now."', '- {who: bo, text: "Goodbye now."}')
    a = Project(write_project(tmp_path / "a"), fake_registry()).plan()
    b = Project(
        write_project(tmp_path / "b", scenes={"01.yaml": SCENE_ONE, "02.yaml": scene}),
        fake_registry(),
    ).plan()
    assert [s.key({}) for s in a] == [s.key({}) for s in b]


def test_duplicate_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    root = write_project(tmp_path, film=TINY_FILM.replace("fps: 12\n", "fps: 12\nfps: 24\n"))
    assert error_of(root).startswith("film.yaml:4:1: error: duplicate key 'fps'")


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    film = TINY_FILM.replace(
        "  bo:\n    name: Bo\n    voice: {backend: voice/tone, params: {pitch: 180}}",
        "  bo: &bo\n    name: Bo\n    voice: {backend: voice/tone, params: {pitch: 180}}\n"
        "  cy:\n    <<: *bo\n    name: Cy",
    )
    root = write_project(tmp_path, film=film)
    film_spec = Project(root, fake_registry()).load().film
    assert film_spec.characters["cy"].name == "Cy"
    assert film_spec.characters["cy"].voice == film_spec.characters["bo"].voice


def test_inline_scene_after_scene_files_keeps_its_own_positions(tmp_path: Path) -> None:
    film = TINY_FILM.replace(
        "  - scenes/*.yaml\n",
        "  - scenes/*.yaml\n  - id: three\n    shots:\n      - id: c\n        duraton: 2\n",
    )
    root = write_project(tmp_path, film=film)
    message = error_of(root)
    assert message.startswith("film.yaml:26:9: error: unknown key 'duraton' in shot 1"), message


def test_scene_file_before_an_inline_scene_keeps_its_positions(tmp_path: Path) -> None:
    film = TINY_FILM.replace(
        "  - scenes/*.yaml\n", "  - scenes/*.yaml\n  - id: three\n    shots:\n      - id: c\n"
    )
    scene = SCENE_TWO.replace("- bo: ", "- bob: ")
    root = write_project(tmp_path, film=film, scenes={"01.yaml": SCENE_ONE, "02.yaml": scene})
    assert error_of(root).startswith("scenes/02.yaml:10:9: error: line 1 of shot 'b'")


def test_files_parsed_by_an_earlier_load_keep_their_positions(tmp_path: Path) -> None:
    root = write_project(tmp_path, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO})
    first = load_spec(root, parsed=(parsed := ParsedFiles()))
    assert parsed.changed  # every file parsed, and kept
    again = ParsedFiles.loads(parsed.dumps())
    second = load_spec(root, parsed=again)
    assert not again.changed  # nothing parsed again
    assert second.film == first.film
    assert second.source_map.values == first.source_map.values
    assert second.source_map.keys == first.source_map.keys

    # A scene file taken from the earlier parse still points at its own lines.
    film = (root / "film.yaml").read_text()
    (root / "film.yaml").write_text(film.replace("  bo:\n    name: Bo\n", "  bob:\n    name: Bo\n"))
    with pytest.raises(SpecError) as info:
        load_spec(root, parsed=ParsedFiles.loads(again.dumps()))
    message = info.value.render()
    assert "scenes/01.yaml:12:9: error: line 2 of shot 'a' is spoken by unknown" in message
    assert "scenes/02.yaml:10:9: error: line 1 of shot 'b' is spoken by unknown" in message


def test_a_changed_file_is_parsed_again_and_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    root = write_project(tmp_path, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO})
    load_spec(root, parsed=(parsed := ParsedFiles()))
    scene = root / "scenes" / "01.yaml"
    scene.write_text(scene.read_text().replace("Hello there.", "Hello again."))
    again = ParsedFiles.loads(parsed.dumps())
    spec = load_spec(root, parsed=again)
    assert again.changed
    assert "Hello again." in spec.film.model_dump_json()
    assert not ParsedFiles.loads(b"not a pickle").changed
    assert load_spec(root, parsed=ParsedFiles.loads(b"\x80\x05junk")).film == spec.film

    # The facade keeps the parses in the store's state folder between runs, once a
    # build has made the store: a film's first build saves them too.
    Project(root, fake_registry()).load()
    assert not (root / ".filmkit").exists()
    Project(root, fake_registry()).build()
    saved = ParsedFiles.loads((root / ".filmkit" / "state" / PARSED_FILE).read_bytes())
    load_spec(root, parsed=saved)
    assert not saved.changed  # the next build parses nothing
