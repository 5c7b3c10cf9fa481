"""Shared fixtures: a tiny film project made from scratch for each test."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filmkit.render import aac
from tests.fakes import CALLS
from tests.servers import (
    AWS_CHAIN,
    BUCKET,
    MotoServer,
    ScriptedServer,
    SharedMotoServer,
    raw_client,
)

TINY_FILM = """\
title: Tiny
size: [160, 96]
fps: 12
seed: 3
generators:
  room: {backend: image/swatch, params: {hue: 2}}
characters:
  ada:
    name: Ada
    voice: {backend: voice/tone, params: {pitch: 330}}
    face: {backend: image/swatch}
  bo:
    name: Bo
    voice: {backend: voice/tone, params: {pitch: 180}}
music:
  - id: theme
    generate: {backend: music/chord}
    start: one/a
    end: two/b
    length: 8
scenes:
  - scenes/*.yaml
"""

SCENE_ONE = """\
id: one
shots:
  - id: a
    layers:
      - generate: room
        move: {zoom: [1.0, 1.2]}
      - character: ada
      - text: "Tiny"
        size: 30
    lines:
      - ada: "Hello there."
      - bo: "Hi."
"""

SCENE_TWO = """\
id: two
shots:
  - id: b
    transition: crossfade
    layers:
      - color: "#203040"
      - generate: room
        opacity: 0.5
    lines:
      - bo: "Goodbye now."
"""


def unwrapped(adts: Path) -> tuple[Path, aac.Units]:
    """An ADTS stream as a master stores it: its frames back to back beside it (``.raw``),
    and their table."""
    raw = adts.with_suffix(".raw")
    return raw, aac.unwrap(adts, raw)


def write_project(root: Path, film: str = TINY_FILM, scenes: dict[str, str] | None = None) -> Path:
    """Write a film project into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "film.yaml").write_text(textwrap.dedent(film))
    (root / "scenes").mkdir(exist_ok=True)
    for name, text in (scenes or {"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO}).items():
        (root / "scenes" / name).write_text(text)
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    CALLS.clear()
    return write_project(tmp_path / "film")


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """A scripted OpenAI endpoint, with the environment pointing the client at it."""
    for name in ("OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with no AWS credentials, profile, endpoint or config files of its own."""
    for name in AWS_CHAIN:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"):
        monkeypatch.setenv(name, str(tmp_path / "no-such-aws-file"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probe
    return monkeypatch


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedMotoServer]:
    """One moto server for the module (stopping one takes half a second)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("moto"))  # moto's recorder writes ./moto_recording
        with SharedMotoServer() as server:
            yield server


@pytest.fixture
def moto(aws_env: pytest.MonkeyPatch, moto_server: SharedMotoServer) -> SharedMotoServer:
    """moto's S3, emptied and recording, test credentials in the environment, the bucket made."""
    moto_server.reset()
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    admin = raw_client(moto_server)
    try:
        admin.create_bucket(Bucket=BUCKET)
    finally:
        admin.close()
    return moto_server


@pytest.fixture
def s3(moto: MotoServer) -> Iterator[Any]:
    """A plain boto3 client on moto, for looking behind the cache's back."""
    client = raw_client(moto)
    yield client
    client.close()
