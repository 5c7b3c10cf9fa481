"""Script steps in builds: takes written once, picks pinned in git, only changed lines re-voiced."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from filmkit.errors import BuildError, SpecError, UsageError
from filmkit.generators.registry import Registry
from filmkit.plan.scripts import compile_takes
from filmkit.project import Project
from filmkit.spec.loading import load_spec
from filmkit.store.lockfile import read_scripts
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, write_project
from tests.fakes import CALLS, fake_registry

SCRIPTS = """\
scripts:
  chat:
    generate: {backend: script/verse}
    prompt: |
      ADA
      Is this the queue?
    characters: [bo, ada]
    takes: 3
    lines: 4
"""

SCENE_CHAT = """\
id: two
shots:
  - id: b
    layers:
      - color: "#203040"
    lines:
      - bo: "Goodbye now."
      - script: chat
"""


@pytest.fixture
def chat(tmp_path: Path) -> Path:
    """The tiny film with a script whose takes the second shot speaks."""
    CALLS.clear()
    film = TINY_FILM.replace("scenes:\n", SCRIPTS + "scenes:\n")
    return write_project(
        tmp_path / "film", film=film, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_CHAT}
    )


def build(root: Path, **options: object) -> dict:
    Project(root, fake_registry()).build(**options)  # type: ignore[arg-type]
    return json.loads((root / "build" / "report.json").read_text())


def ran(report: dict, prefix: str = "") -> list[str]:
    return sorted(
        s["id"] for s in report["steps"] if s["status"] == "ran" and s["id"].startswith(prefix)
    )


def spoken(root: Path) -> list[str]:
    """The subtitles' text, cue by cue."""
    srt = (root / "build" / "film.srt").read_text()
    return [block.splitlines()[2] for block in srt.strip().split("\n\n")]


def test_an_unpicked_script_speaks_take_1_and_warns(chat: Path) -> None:
    report = build(chat)
    assert ran(report, "script:") == ["script:chat/1"]
    assert [c for c in CALLS if c.startswith("script:")] == [CALLS[0]]
    lines = spoken(chat)
    assert lines[-4] == "Line 1 stays." and lines[-3].startswith("Line 2, take 1, plain ")
    assert any("is not picked" in w for w in report["warnings"])
    CALLS.clear()
    again = build(chat)
    assert ran(again) == [] and CALLS == []


def test_pick_pins_the_text_in_a_committed_file_and_revoices_only_changed_lines(
    chat: Path,
) -> None:
    build(chat)
    project = Project(chat, fake_registry())
    takes = project.takes("chat")
    assert [t.number for t in takes] == [1, 2, 3] and not any(t.picked for t in takes)
    picked = project.pick("chat", 2)
    assert picked.path == "scripts/chat.fountain"
    text = (chat / "scripts" / "chat.fountain").read_text()
    assert "take 2," in text and "Take 2 of script 'chat'" in text
    assert read_scripts(chat / "film.lock")["chat"].take == 2
    assert [t.number for t in project.takes("chat") if t.picked] == [2]
    CALLS.clear()
    report = build(chat)
    # Speeches 2 and 4 differ between takes 1 and 2; 1 and 3 are the same text.
    assert ran(report, "voice:") == ["voice:two/b/3", "voice:two/b/5"]
    assert not any(c.startswith("script:") for c in CALLS)
    assert not any("is not picked" in w for w in report["warnings"])
    assert any("take 2," in line for line in spoken(chat))


def test_a_picked_script_builds_in_a_fresh_clone_without_any_model(
    chat: Path, tmp_path: Path
) -> None:
    build(chat)
    Project(chat, fake_registry()).pick("chat", 3)
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("film.yaml", "film.lock", "scenes", "scripts"):
        source = chat / name
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(clone / name)], check=True)
        else:
            (clone / name).write_bytes(source.read_bytes())
    CALLS.clear()
    report = build(clone)
    assert not any(s["id"].startswith("script:") for s in report["steps"])
    assert not any(c.startswith("script:") for c in CALLS)
    assert any("take 3," in line for line in spoken(clone))


def test_regenerate_adds_a_round_and_never_changes_the_picked_text(chat: Path) -> None:
    build(chat)
    project = Project(chat, fake_registry())
    project.pick("chat", 1)
    pinned = (chat / "scripts" / "chat.fountain").read_text()
    CALLS.clear()
    report = build(chat, regenerate=["chat"])
    assert ran(report, "script:") == ["script:chat/2"]
    assert ran(report, "voice:") == []
    assert (chat / "scripts" / "chat.fountain").read_text() == pinned
    takes = project.takes("chat")
    assert [t.number for t in takes] == [1, 2, 3, 4, 5, 6]
    assert {t.round for t in takes} == {1, 2}
    assert takes[3].text != takes[0].text  # a new seed
    assert read_scripts(chat / "film.lock")["chat"].rounds == 2


def test_a_hand_edited_pick_is_spoken_and_marked(chat: Path) -> None:
    build(chat)
    project = Project(chat, fake_registry())
    project.pick("chat", 1)
    path = chat / "scripts" / "chat.fountain"
    path.write_text(path.read_text().replace("Line 3 stays.", "Line 3, edited by hand."))
    report = build(chat)
    assert ran(report, "voice:") == ["voice:two/b/4"]
    assert "Line 3, edited by hand." in " ".join(spoken(chat))
    assert [t.edited for t in project.takes("chat")] == [True, False, False]


def test_changing_the_prompt_after_a_pick_keeps_the_pick_and_says_so(chat: Path) -> None:
    build(chat)
    Project(chat, fake_registry()).pick("chat", 1)
    film = chat / "film.yaml"
    film.write_text(film.read_text().replace("Is this the queue?", "Is this the line?"))
    CALLS.clear()
    report = build(chat)
    assert not any(c.startswith("script:") for c in CALLS)
    warning = next(w for w in report["warnings"] if "other settings" in w)
    assert warning.startswith("film.yaml:")


def test_frozen_refuses_to_write_takes_and_names_the_script(chat: Path) -> None:
    with pytest.raises(BuildError) as caught:
        Project(chat, fake_registry()).build(frozen=True)
    assert "script:chat/1 would call script/verse" in str(caught.value)
    assert "film.yaml:" in str(caught.value)


def test_pick_of_a_missing_take_or_script_is_a_clear_error(chat: Path) -> None:
    project = Project(chat, fake_registry())
    with pytest.raises(UsageError, match=r"no take 9 \(takes 1-3\)"):
        project.pick("chat", 9)
    with pytest.raises(UsageError, match="no script named 'chta'.*did you mean 'chat'"):
        project.takes("chta")


def test_unknown_script_in_lines_points_at_the_entry(chat: Path) -> None:
    scene = chat / "scenes" / "02.yaml"
    scene.write_text(scene.read_text().replace("script: chat", "script: chit"))
    with pytest.raises(SpecError) as caught:
        load_spec(chat)
    assert str(caught.value.location) == "scenes/02.yaml:8:17"
    assert "did you mean 'chat'" in caught.value.hint


def test_fountain_lines_in_the_spec_are_lines_with_their_own_positions(tmp_path: Path) -> None:
    scene = textwrap.dedent(
        """\
        id: one
        shots:
          - id: a
            lines: |
              ADA
              (quietly)
              Hello there.

              BO
              Hi.
              Who are you?

              CLEO
              Me.
        """
    )
    root = write_project(tmp_path, scenes={"01.yaml": scene, "02.yaml": SCENE_TWO})
    with pytest.raises(SpecError) as caught:
        load_spec(root)
    assert "unknown character 'cleo'" in str(caught.value)
    assert str(caught.value.location) == "scenes/01.yaml:13:7"
    (root / "scenes" / "01.yaml").write_text(scene.replace("CLEO\n      Me.\n", ""))
    shot = load_spec(root).film.scenes[0].shots[0]
    lines = [(x.who, x.direction, x.text) for x in shot.spoken()]
    assert lines == [("ada", "quietly", "Hello there."), ("bo", "", "Hi. Who are you?")]


def test_training_params_and_sampling_params_go_to_different_steps(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Hello there.\nHi.\n")

    def steps(**params: object) -> dict:
        film = TINY_FILM.replace("scenes:\n", SCRIPTS + "scenes:\n").replace(
            "{backend: script/verse}",
            json.dumps({"backend": "script/lstm", "params": {"corpus": "corpus.txt", **params}}),
        )
        root = write_project(tmp_path / "p", film=film)
        spec = load_spec(root)
        plan = compile_takes(spec.film, Registry.from_entry_points(), {"chat": [1]})
        return {step.id: step for step in plan}

    base = steps()
    assert list(base) == ["model:chat", "script:chat/1"]
    assert [i.name for i in base["model:chat"].inputs] == ["corpus"]
    assert base["model:chat"].inputs[0].file == "corpus.txt"
    assert base["script:chat/1"].deps == ("model:chat",)
    warmer = steps(temperature=1.1)
    assert warmer["model:chat"] == base["model:chat"]
    assert warmer["script:chat/1"].params != base["script:chat/1"].params
    longer = steps(training_steps=base["model:chat"].params_value()["training_steps"] + 1)
    assert longer["model:chat"].params != base["model:chat"].params


def test_takes_and_pick_from_the_command_line(tmp_path: Path) -> None:
    corpus = "\n".join(
        f"I have waited {n} days for the {thing}."
        for n in ("two", "three", "nine", "many")
        for thing in ("door", "desk", "number", "clock", "rain")
    )
    film = TINY_FILM.replace("scenes:\n", SCRIPTS + "scenes:\n").replace(
        "{backend: script/verse}",
        "{backend: script/ngram, params: {corpus: corpus.txt}}",
    )
    root = write_project(tmp_path, film=film, scenes={"01.yaml": SCENE_ONE, "02.yaml": SCENE_CHAT})
    (root / "corpus.txt").write_text(corpus + "\n")

    def filmkit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "filmkit.cli", *args]
        return subprocess.run(command, cwd=root, capture_output=True, text=True)

    listed = filmkit("takes", "chat", "--json")
    assert listed.returncode == 0, listed.stderr
    takes = json.loads(listed.stdout)
    assert [t["take"] for t in takes] == [1, 2, 3]
    assert all(t["text"].startswith("BO\n") for t in takes)
    shown = filmkit("takes", "chat")
    assert "take 1" in shown.stdout and "none picked yet" in shown.stdout
    picked = filmkit("pick", "chat", "2")
    assert picked.returncode == 0, picked.stderr
    assert "written to scripts/chat.fountain" in picked.stdout
    assert "git add scripts/chat.fountain film.lock" in picked.stdout
    assert "take 2 picked" in " ".join(filmkit("takes", "chat").stdout.split())
    missing = filmkit("pick", "chat", "7")
    assert missing.returncode == 2 and "no take 7" in missing.stderr
    assert "Traceback" not in missing.stderr


CORPUS = "\n".join(
    f"{who} waited {n} days for the {thing}."
    for who in ("I", "She", "He", "We")
    for n in ("two", "three", "nine", "many")
    for thing in ("door", "desk", "number", "clock")
)


def test_a_trained_model_is_a_cached_step_and_sampling_params_never_retrain(
    tmp_path: Path,
) -> None:
    tiny_lstm = {
        "backend": "script/lstm",
        "params": {"corpus": "corpus.txt", "hidden": 16, "training_steps": 4, "batch": 4},
    }
    film = TINY_FILM.replace("scenes:\n", SCRIPTS + "scenes:\n").replace(
        "{backend: script/verse}", json.dumps(tiny_lstm)
    )
    root = write_project(tmp_path, film=film)
    (root / "corpus.txt").write_text(CORPUS + "\n")
    project = Project(root)
    first = project.takes("chat")
    assert len(first) == 3 and all(t.text.startswith("BO\n") for t in first)
    assert [t.text for t in project.takes("chat")] == [t.text for t in first]
    film_yaml = root / "film.yaml"
    film_yaml.write_text(film_yaml.read_text().replace('"batch": 4', '"batch": 4, "top_k": 3'))
    runs: list[tuple[str, str]] = []

    class Events:
        def planned(self, count: int) -> None: ...
        def started(self, step: object) -> None: ...
        def failed(self, step: object, message: str) -> None: ...
        def finished(self, step: object, record: dict) -> None:
            runs.append((record["step"], record["status"]))

    Project(root).takes("chat", events=Events())
    statuses = dict(runs)
    assert statuses["script:chat/1"] == "ran"
    assert statuses["model:chat"] in ("cached", "restored"), "not trained again"


def test_the_ledger_keeps_the_tokens_a_paid_model_really_used(
    tmp_path: Path, openai_server
) -> None:
    from filmkit.generators.script.openai_text import OpenAIScript
    from filmkit.store.ledger import LEDGER_FILE, Ledger
    from tests.servers import Reply

    take = "BO\nIs it?\n\nADA\nIt is.\n"
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": take}, "finish_reason": "stop"}
            for i in range(3)
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000},
    }
    openai_server.script(
        Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})
    )
    film = TINY_FILM.replace("scenes:\n", SCRIPTS + "scenes:\n").replace(
        "{backend: script/verse}", "{backend: script/openai}"
    )
    root = write_project(tmp_path, film=film)
    registry = Registry({**fake_registry().targets(), "script/openai": OpenAIScript})
    takes = Project(root, registry).takes("chat")
    assert [t.text for t in takes] == [take] * 3
    sent = openai_server.requests[0].json()
    assert sent["n"] == 3 and "Is this the queue?" in json.dumps(sent["messages"])
    (row,) = Ledger(root / ".filmkit" / LEDGER_FILE).rows()
    assert (row["usage"]["input_tokens"], row["usage"]["output_tokens"]) == (1000, 2000)
    prices = OpenAIScript.prices
    expected = 1000 * prices["input_tokens"] + 2000 * prices["output_tokens"]
    assert row["cost_usd"] == pytest.approx(expected)
