"""Long steps: folders as inputs, progress reports, and training that resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from filmkit.errors import GeneratorError
from filmkit.execution import ProgressFile, progress_path
from filmkit.generators.base import Generator, Request
from filmkit.generators.registry import Registry
from filmkit.plan.steps import Step
from filmkit.progress import BuildProgress
from filmkit.project import Project
from filmkit.store.artifacts import ArtifactStore
from filmkit.store.lockfile import read_lock
from tests.conftest import TINY_FILM, write_project
from tests.fakes import fake_registry

RUNS: list[tuple[int, int]] = []  # (first step, last step) of each training run


class CounterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    photos: str = Field(description="a folder")
    steps: int = Field(default=6, description="steps to count")


class CounterTrainer(Generator):
    """Counts to ``steps`` through its folder's files, one step at a time, keeping its
    count in ``request.scratch``; fails at step FILMKIT_TEST_FAIL_AT."""

    kind = "model"
    name = "counter"
    version = "1"
    Params = CounterParams
    outputs = {"weights": ".json"}
    file_params = ("photos",)

    def generate(self, request: Request) -> None:
        assert request.scratch is not None
        request.scratch.mkdir(parents=True, exist_ok=True)
        saved = request.scratch / "count.json"
        count = json.loads(saved.read_text())["count"] if saved.exists() else 0
        first = count
        fail_at = int(os.environ.get("FILMKIT_TEST_FAIL_AT", "0"))
        names = sorted(p.name for p in request.inputs["photos"].iterdir())
        while count < request.params.steps:
            count += 1
            saved.write_text(json.dumps({"count": count}))
            request.progress(count / request.params.steps)
            if count == fail_at:
                RUNS.append((first, count))
                raise GeneratorError(f"counter: stopped at step {count}")
        RUNS.append((first, count))
        request.outputs["weights"].write_text(json.dumps({"count": count, "photos": names}))


class CountedImage(Generator):
    """Samples the counter's 'model': a flat picture whose shade is its count."""

    kind = "image"
    name = "counted"
    version = "1"
    Params = CounterParams
    outputs = {"image": ".png"}
    trainer = "model/counter"

    def generate(self, request: Request) -> None:
        from PIL import Image

        count = json.loads(request.inputs["model"].read_text())["count"]
        Image.new("RGB", request.size or (32, 32), (count * 20,) * 3).save(request.outputs["image"])


def registry() -> Registry:
    targets: dict[str, Any] = {i: fake_registry().get(i) for i in fake_registry().ids()}
    return Registry({**targets, "model/counter": CounterTrainer, "image/counted": CountedImage})


COUNTED_FILM = TINY_FILM.replace(
    "  room: {backend: image/swatch, params: {hue: 2}}",
    "  room: {backend: image/counted, params: {photos: photos, steps: 6}}",
)


@pytest.fixture
def counted(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "film", COUNTED_FILM)
    (root / "photos").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (root / "photos" / name).write_bytes(name.encode())
    RUNS.clear()
    return root


def test_a_folder_is_digested_by_its_files_names_and_contents(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / ".filmkit")
    store.ensure()
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    (photos / "a.jpg").write_bytes(b"a")
    (photos / "more" / "b.jpg").write_bytes(b"b")
    first = store.digest_source(photos)
    (photos / ".DS_Store").write_bytes(b"finder")
    assert store.digest_source(photos) == first  # hidden files are not photos
    (photos / "more" / "b.jpg").write_bytes(b"B")
    changed = store.digest_source(photos)
    assert changed != first
    (photos / "more" / "b.jpg").rename(photos / "more" / "c.jpg")
    assert store.digest_source(photos) not in (first, changed)


def test_a_training_step_learns_from_a_folder_and_an_edit_to_it_retrains(counted: Path) -> None:
    project = Project(counted, registry())
    report = project.build()
    assert report.count("ran") > 0
    assert RUNS == [(0, 6)]
    weights = json.loads(project.store.object_path(_weights(project)).read_text())
    assert weights == {"count": 6, "photos": ["a.jpg", "b.jpg"]}
    project.build()
    assert RUNS == [(0, 6)]  # nothing changed: nothing trains
    (counted / "photos" / "c.jpg").write_bytes(b"c")
    project.build()
    assert RUNS == [(0, 6), (0, 6)]


def test_an_interrupted_training_resumes_where_it_stopped(
    counted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(counted, registry())
    monkeypatch.setenv("FILMKIT_TEST_FAIL_AT", "4")
    with pytest.raises(Exception, match="stopped at step 4"):
        project.build()
    resume = list((project.store.root / "resume").iterdir())
    assert len(resume) == 1 and (resume[0] / "count.json").exists()
    monkeypatch.delenv("FILMKIT_TEST_FAIL_AT")
    project.build()
    assert RUNS == [(0, 4), (4, 6)]  # the second run started from the fourth step
    assert not (project.store.root / "resume").exists() or not any(
        (project.store.root / "resume").iterdir()
    )
    # The result is what an uninterrupted run makes.
    weights = json.loads(project.store.object_path(_weights(project)).read_text())
    assert weights["count"] == 6


def _weights(project: Project) -> str:
    """The digest of the trained model in the last build's film.lock."""
    return read_lock(project.lock_path)["model:room"].outputs["weights"]


def test_a_step_reports_progress_through_a_file_at_most_twice_a_second(tmp_path: Path) -> None:
    path = tmp_path / "progress" / "model=room.json"
    report = ProgressFile(path)
    report(0.25)
    assert json.loads(path.read_text())["fraction"] == 0.25
    report(0.5)  # too soon after the first: not written
    assert json.loads(path.read_text())["fraction"] == 0.25
    report(1.0)  # the end is always written
    assert json.loads(path.read_text())["fraction"] == 1.0
    report.close()
    assert not path.exists()


def test_the_build_shows_a_bar_with_time_left_for_a_step_that_reports(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / ".filmkit")
    step = Step(
        id="model:room",
        kind="model",
        action="model/counter",
        version="1",
        params="{}",
        seed=0,
        request="{}",
        inputs=(),
        outputs=(("weights", ".json"),),
        origin=(),
        label="train room",
    )
    console = Console(file=open(os.devnull, "w"), force_terminal=False)  # noqa: SIM115
    with BuildProgress(console, reports=store.progress) as progress:
        progress.planned(3)
        progress.started(step)
        progress.poll()
        assert progress.bars == {}  # it has not reported yet
        ProgressFile(progress_path(store, step.id))(0.4)
        progress.poll()
        bar = progress.progress.tasks[-1]
        assert bar.completed == pytest.approx(0.4) and bar.fields["eta"] is True
        assert "train room" in bar.description
        progress.finished(step, {"status": "ran", "seconds": 1.0})
        assert progress.bars == {} and len(progress.progress.tasks) == 1
    console.file.close()
