"""Action keys are pinned: any change to hashing must be deliberate."""

from __future__ import annotations

from pathlib import Path

from filmkit.plan.keys import action_key, canonical_json, derive_seed
from filmkit.plan.steps import Step
from filmkit.project import Project
from tests.conftest import SCENE_ONE, SCENE_TWO, write_project
from tests.fakes import fake_registry


def test_canonical_json_is_sorted_compact_and_keeps_unicode() -> None:
    assert canonical_json({"b": [1, 2.5, "é"], "a": None}) == '{"a":null,"b":[1,2.5,"é"]}'


def test_pinned_action_keys() -> None:
    assert (
        action_key("voice/piper", "1", {"pitch": 3.0, "speed": 1.0}, 42, {"text": "Hello."}, {})
        == "39a90062b694f6cf6fe61869c606794abdebe5aa4b454591da2ad290d5fd5b58"
    )
    assert (
        action_key("render/shot", "1", {"fps": 24}, 0, {}, {"line0": "ab" * 32})
        == "c2ebb0fc64899e8973e06262d0e51849425f20c663531620473be53af49fd826"
    )


def test_pinned_seed_derivation() -> None:
    assert derive_seed(7, "voice:one/a/1") == 721568197


def test_pinned_key_of_a_compiled_step(tiny: Path) -> None:
    step = Project(tiny, fake_registry()).plan()["voice:one/a/1"]
    assert step.seed == 1514653222
    assert step.key({}) == "296aa5478344f89f9d55dfa204be08b596ae0fd488de151179b80bdec1848368"


def test_key_depends_on_input_content_not_names_of_files() -> None:
    base = action_key("render/mix", "1", {}, 0, {}, {"line:0:0": "1" * 64})
    assert action_key("render/mix", "1", {}, 0, {}, {"line:0:0": "2" * 64}) != base
    assert action_key("render/mix", "2", {}, 0, {}, {"line:0:0": "1" * 64}) != base


def test_editing_one_line_changes_only_that_voice_step(tmp_path: Path) -> None:
    before = Project(write_project(tmp_path / "a"), fake_registry()).plan()
    edited = SCENE_ONE.replace("Hello there.", "Hello again.")
    after = Project(
        write_project(tmp_path / "b", scenes={"01.yaml": edited, "02.yaml": SCENE_TWO}),
        fake_registry(),
    ).plan()
    changed = [s.id for s in after if s.key({}) != before[s.id].key({})]
    # The subtitles (timeline) hold the text too; every other step sees only digests.
    assert changed == ["voice:one/a/1", "timeline"]


def test_a_steps_key_is_the_key_of_its_decoded_params() -> None:
    params = {"text": 'Ça va ? \u00e9\u2014"quoted"', "zoom": [1.0, 1.1e-07, 3], "n": None}
    request = {"text": "Line\n2", "size": [320, 180]}
    step = Step(
        id="voice:a/b/1",
        kind="voice",
        action="voice/piper",
        version="3",
        params=canonical_json(params),
        seed=42,
        request=canonical_json(request),
        inputs=(),
        outputs=(),
    )
    digests = {"timings": "ab" * 32}
    assert step.key(digests) == action_key("voice/piper", "3", params, 42, request, digests)
    assert step.config_digest() == action_key("voice/piper", "3", params, 42, {}, {})
    assert step.request_digest() == action_key("request", "", {}, 0, request, {})
