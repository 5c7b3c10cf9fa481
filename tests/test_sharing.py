"""Sharing generated assets: push, pull, --remote and --frozen against moto's S3 over HTTP;
the cost plan and budgets, the ledger, and the provenance written beside the film."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from filmkit.errors import BuildError, StoreError, UsageError
from filmkit.media import ffmpeg_exe
from filmkit.project import Project
from filmkit.store.ledger import LEDGER_FILE, Ledger
from filmkit.store.lockfile import read_lock
from filmkit.store.remote import RemoteCache, RemoteConfig
from tests.conftest import TINY_FILM, write_project
from tests.fakes import CALLS, fake_registry
from tests.servers import BUCKET, ScriptedServer, SharedMotoServer

PREFIX = "films/tiny"


@pytest.fixture(autouse=True)
def no_calls_yet() -> None:
    CALLS.clear()


def remote_film(root: Path, moto: SharedMotoServer, extra: str = "") -> Path:
    remote = f"remote: {{bucket: {BUCKET}, prefix: {PREFIX}, region: us-east-1, "
    remote += f"endpoint_url: '{moto.url}'}}\n"
    return write_project(root, film=TINY_FILM + remote + extra)


def clone(source: Path, target: Path) -> Path:
    """What `git clone` gives: the spec and film.lock, no .filmkit/ and no build/."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".filmkit", "build"))
    return target


def project(root: Path) -> Project:
    return Project(root, fake_registry())


def report(root: Path) -> dict[str, dict]:
    data = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step for step in data["steps"]}


def generations(root: Path) -> int:
    return Ledger(root / ".filmkit" / LEDGER_FILE).count()


def frames_digest(film: Path) -> str:
    """sha256 of the decoded picture: what a viewer sees, independent of the container."""
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            str(film),
            "-map",
            "0:v",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def shared(tmp_path: Path, moto: SharedMotoServer) -> tuple[Path, Path]:
    """A film built and pushed from one machine, and a fresh clone of it."""
    origin = remote_film(tmp_path / "origin", moto)
    project(origin).build()
    assert generations(origin) == 6  # five voice, image, face and music steps, and a face
    counts = project(origin).push()
    assert counts["missing"] == 0 and counts["uploaded"] > 0
    CALLS.clear()
    return origin, clone(origin, tmp_path / "clone")


def test_a_fresh_clone_renders_frozen_from_the_remote_with_zero_generator_calls(shared):
    origin, fresh = shared
    pulled = project(fresh).pull()
    assert pulled["missing"] == 0 and pulled["downloaded"] == len(report(origin))
    project(fresh).build(frozen=True)
    assert CALLS == []
    assert generations(fresh) == 0
    assert {s["status"] for s in report(fresh).values()} == {"restored"}
    film = Path("build/film.mp4")
    assert frames_digest(fresh / film) == frames_digest(origin / film)
    assert (fresh / "film.lock").read_text() == (origin / "film.lock").read_text()


def test_build_remote_restores_what_it_lacks_and_renders_the_rest(shared):
    origin, fresh = shared
    # Only the generated assets are restored; the render steps could run here too, but
    # the remote has them as well, so nothing runs at all.
    project(fresh).build(remote=True, frozen=True)
    steps = report(fresh)
    assert {s["reason"] for s in steps.values()} == {"from the remote cache"}
    assert CALLS == []


def test_frozen_renders_locally_from_restored_assets_and_gets_the_same_picture(shared, s3):
    origin, fresh = shared
    # Keep only the generated assets on the remote: every render step must run here.
    lock = read_lock(origin / "film.lock")
    rendered = sorted(step for step in lock if step.split(":")[0] not in GENERATED_KINDS)
    for step in rendered:
        key = lock[step].key
        s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/actions/{key[:2]}/{key[2:]}.json")
    project(fresh).build(frozen=True, remote=True)
    steps = report(fresh)
    assert sorted(s for s, r in steps.items() if r["status"] == "ran") == rendered
    assert CALLS == [] and generations(fresh) == 0
    film = Path("build/film.mp4")
    assert frames_digest(fresh / film) == frames_digest(origin / film)


GENERATED_KINDS = ("voice", "face", "image", "music", "sound")


def test_frozen_names_the_missing_step_and_its_spec_line(shared, s3):
    origin, fresh = shared
    lock = read_lock(origin / "film.lock")
    digest = lock["voice:two/b/1"].outputs["audio"]
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/objects/{digest[:2]}/{digest[2:]}")
    pulled = project(fresh).pull()
    assert pulled["missing_steps"] == ["voice:two/b/1"]
    with pytest.raises(BuildError) as failure:
        project(fresh).build(frozen=True, remote=True)
    message = str(failure.value)
    assert "--frozen: 1 step(s) would have to call a generator" in message
    assert "scenes/02.yaml:10:9: voice:two/b/1 would call voice/tone" in message
    assert CALLS == [] and generations(fresh) == 0
    assert not (fresh / "build" / "film.mp4").exists()


def test_a_corrupted_remote_object_is_detected_and_not_used(shared, s3):
    origin, fresh = shared
    lock = (origin / "film.lock").read_text()
    digest = lock.split("voice:one/a/1:")[1].split("audio: ")[1].split()[0]
    s3.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}/objects/{digest[:2]}/{digest[2:]}", Body=b"RIFF junk"
    )
    pulled = project(fresh).pull()
    assert pulled["missing_steps"] == ["voice:one/a/1"]
    assert not (fresh / ".filmkit" / "objects" / digest[:2] / digest[2:]).exists()
    # Allowed to generate, the build makes that one line again (same bytes: the fake
    # voice is deterministic) and restores the rest.
    project(fresh).build(remote=True)
    steps = report(fresh)
    assert [s for s, r in steps.items() if r["status"] == "ran"] == ["voice:one/a/1"]
    assert CALLS == ["voice:Hello there."]


def test_two_machines_pushing_the_same_results_at_once_both_succeed(tmp_path, moto, s3):
    first = remote_film(tmp_path / "first", moto)
    project(first).build()
    second = clone(first, tmp_path / "second")
    shutil.copytree(first / ".filmkit", second / ".filmkit")
    results: dict[str, object] = {}

    def push(name: str, root: Path) -> None:
        try:
            results[name] = project(root).push()
        except Exception as exc:  # recorded, asserted below
            results[name] = exc

    threads = [threading.Thread(target=push, args=(n, r)) for n, r in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, dict) and r["missing"] == 0 for r in results.values()), results
    # Every object on the remote is intact: its bytes hash to its name.
    config = RemoteConfig(BUCKET, PREFIX, "us-east-1", moto.url)
    with RemoteCache(config) as cache:
        fresh = clone(first, tmp_path / "third")
        store = project(fresh).store
        store.ensure()
        digests = {d for e in read_lock(first / "film.lock").values() for d in e.outputs.values()}
        assert len(digests) > 10
        for digest in digests:
            assert cache.fetch_object(digest, store)


def test_push_without_a_remote_says_how_to_add_one(tmp_path):
    root = write_project(tmp_path / "film")
    with pytest.raises(UsageError, match="add one to film.yaml"):
        project(root).push()


# -- costs, budgets, ledger, provenance --------------------------------------------


PRICED = "prices:\n  voice/tone: {characters: 0.01}\n"


def test_plan_estimates_cost_and_a_budget_stops_the_build_before_anything_runs(tmp_path):
    root = write_project(tmp_path / "film", film=TINY_FILM + PRICED)
    from filmkit.plan.costs import estimate, total

    film = project(root).load().film
    rows = estimate(project(root).plan(), fake_registry(), film.prices)
    tone = next(r for r in rows if r.backend == "voice/tone")
    characters = len("Hello there.") + len("Hi.") + len("Goodbye now.")
    assert tone.usage["characters"] == characters
    assert total(rows) == pytest.approx(characters * 0.01)
    with pytest.raises(BuildError, match=r"would spend about \$0.27.*over the budget of \$0.10"):
        project(root).build(budget=0.10)
    assert CALLS == [] and generations(root) == 0
    project(root).build(budget=1.0)
    assert generations(root) == 6


def test_the_ledger_records_every_real_generation_and_nothing_reused(tmp_path):
    root = write_project(tmp_path / "film", film=TINY_FILM + PRICED)
    project(root).build()
    project(root).build()
    rows = Ledger(root / ".filmkit" / LEDGER_FILE).rows()
    assert sorted(r["step"] for r in rows) == [
        "face:ada",
        "image:room",
        "music:theme",
        "voice:one/a/1",
        "voice:one/a/2",
        "voice:two/b/1",
    ]
    hello = next(r for r in rows if r["step"] == "voice:one/a/1")
    assert hello["backend"] == "voice/tone" and hello["usage"]["characters"] == 12
    assert hello["cost_usd"] == pytest.approx(0.12)
    assert set(hello["outputs"]) == {"audio", "timings"}


def test_provenance_and_credits_are_written_beside_the_film(tmp_path):
    root = write_project(tmp_path / "film")
    project(root).build()
    data = json.loads((root / "build" / "film.provenance.json").read_text())
    assert data["ai_generated"] is True
    assets = {a["step"]: a for a in data["assets"]}
    line = assets["voice:one/a/1"]
    assert line["generator"] == "voice/tone@1" and line["prompt"] == "Hello there."
    assert line["params"] == {"pitch": 330.0, "speed": 1.0} and isinstance(line["seed"], int)
    digest = hashlib.sha256((root / "build" / "film.mp4").read_bytes()).hexdigest()
    assert data["film"]["digest"] == digest
    credits = (root / "build" / "film.credits.txt").read_text()
    assert "Ada: voice by voice/tone" in credits
    assert "AI-generated" in credits


def test_an_unreadable_remote_is_a_cache_miss_with_a_warning_not_a_failure(tmp_path, aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with ScriptedServer() as broken:  # answers every request with an error
        remote = f"remote: {{bucket: {BUCKET}, region: us-east-1, endpoint_url: '{broken.url}'}}\n"
        root = write_project(tmp_path / "film", film=TINY_FILM + remote)
        project(root).build(remote=True)
        asked = len(broken.requests)
    # It asked once, then built everything locally without asking again.
    assert asked == 1
    assert {s["status"] for s in report(root).values()} == {"ran"}
    data = json.loads((root / "build" / "report.json").read_text())
    assert any("remote cache unreadable" in w for w in data["warnings"])
    # Under --frozen an unreadable remote cannot vouch for anything: the build stops.
    edit = root / "scenes" / "01.yaml"
    edit.write_text(edit.read_text().replace("Hello there.", "Hello again."))
    with ScriptedServer() as broken, pytest.raises(StoreError, match="remote cache"):
        film = root / "film.yaml"
        text = film.read_text()
        film.write_text(text[: text.index("endpoint_url")] + f"endpoint_url: '{broken.url}'}}\n")
        project(root).build(remote=True, frozen=True)
    assert CALLS.count("voice:Hello again.") == 0


def test_push_and_pull_from_the_command_line(shared):
    import sys

    origin, fresh = shared

    def filmkit(root: Path, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "filmkit.cli", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True)

    pushed = filmkit(origin, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "0 objects uploaded" in pushed.stdout  # the fixture pushed everything already
    pulled = filmkit(fresh, "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert f"pulled {len(report(origin))} step results" in pulled.stdout
    ledger = filmkit(fresh, "ledger")
    assert "nothing generated in this checkout yet" in ledger.stdout
