"""One registry: built-ins and third-party plugins are found the same way."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from filmkit.errors import UsageError
from filmkit.generators.registry import Registry
from tests.fakes import ToneVoice


def install_plugin(site: Path) -> None:
    """A minimal installed distribution declaring one filmkit generator."""
    (site / "fancy_voice.py").write_text(
        textwrap.dedent(
            """
            from filmkit.generators.base import Generator

            class FancyVoice(Generator):
                kind = "voice"
                name = "fancy"
                version = "3"
                outputs = {"audio": ".wav"}

                def generate(self, request):
                    request.outputs["audio"].write_bytes(b"RIFF")
            """
        )
    )
    dist = site / "fancy_voice-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fancy-voice\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[filmkit.generators]\nvoice/fancy = fancy_voice:FancyVoice\n"
    )


def test_a_plugin_installed_next_to_filmkit_is_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.from_entry_points()
    assert "voice/fancy" in registry and "voice/piper" in registry
    assert registry.get("voice/fancy").version == "3"


def test_unknown_backend_suggests_a_close_one() -> None:
    registry = Registry({"voice/tone": ToneVoice})
    with pytest.raises(UsageError, match="did you mean 'voice/tone'"):
        registry.get("voice/toen")


def test_targets_are_picklable_strings_for_worker_processes() -> None:
    assert Registry({"voice/tone": ToneVoice}).targets() == {"voice/tone": "tests.fakes:ToneVoice"}


def test_a_target_that_is_not_a_generator_is_refused() -> None:
    with pytest.raises(UsageError, match="is not a filmkit Generator"):
        Registry({"voice/odd": "filmkit.errors:SpecError"}).get("voice/odd")
