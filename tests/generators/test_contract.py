"""The contract every registered backend keeps, built-ins and fakes alike."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from filmkit.generators.base import Generator, Request, ScriptBrief
from filmkit.generators.registry import Registry
from tests.fakes import fake_registry

BUILT_INS = Registry.from_entry_points()
SMALL_REQUEST = {
    "voice": {"text": "Hi there."},
    "image": {"size": (96, 64), "text": ""},
    "music": {"duration": 2.0},
    "sound": {"duration": 2.0},
    "script": {"script": ScriptBrief(prompt="ADA\nHi.\n", characters=("ADA", "BO"), takes=2)},
}
CASES = [(BUILT_INS, i) for i in BUILT_INS.ids()] + [
    (fake_registry(), i) for i in fake_registry().ids()
]


def make(backend: type[Generator], tmp: Path, seed: int = 7) -> dict[str, str]:
    outputs = {name: tmp / f"{name}{suffix}" for name, suffix in backend.outputs.items()}
    request = Request(
        params=backend.Params.model_validate({}),
        seed=seed,
        outputs=outputs,
        **SMALL_REQUEST[backend.kind],  # type: ignore[arg-type]
    )
    backend().generate(request)
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in outputs.items()}


def test_the_built_ins_are_registered_through_entry_points() -> None:
    assert {"voice/piper", "voice/espeak", "image/face", "image/room", "music/procedural"} <= set(
        BUILT_INS.ids()
    )


@pytest.mark.parametrize(("registry", "backend_id"), CASES, ids=[c[1] for c in CASES])
def test_backend_contract(registry: Registry, backend_id: str, tmp_path: Path) -> None:
    backend = registry.get(backend_id)
    assert backend.id() == backend_id
    assert isinstance(backend.version, str) and backend.version
    assert backend.outputs and all(suffix.startswith(".") for suffix in backend.outputs.values())
    for field in backend.Params.model_fields.values():
        assert field.description, f"{backend_id}: every param documents itself"
    with pytest.raises(ValidationError):
        backend.Params.model_validate({"no_such_param": 1})
    if not backend.offline:
        return  # network backends are tested against local servers in their own files
    if backend.trainer or backend.file_params or backend.kind == "model" or _required(backend):
        return  # needs a corpus, pictures to train on, a model or weights: tested in its own file
    first = make(backend, tmp_path / "a")
    assert all(digest for digest in first.values())
    if backend.deterministic:
        assert make(backend, tmp_path / "b") == first, "same request, same bytes"


def _required(backend: type[Generator]) -> list[str]:
    return [name for name, field in backend.Params.model_fields.items() if field.is_required()]


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
