"""Incremental builds, judged from build/report.json as a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from filmkit.errors import BuildError, ProjectLockedError
from filmkit.project import Project
from filmkit.store.files import atomic_output
from filmkit.store.lockfile import read_lock
from tests.fakes import CALLS, fake_registry

ROOT = Path(__file__).resolve().parent.parent


def build(root: Path, **options: object) -> dict[str, dict]:
    Project(root, fake_registry()).build(**options)  # type: ignore[arg-type]
    report = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step for step in report["steps"]}


def statuses(report: dict[str, dict], status: str) -> list[str]:
    return sorted(step_id for step_id, step in report.items() if step["status"] == status)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_first_build_makes_film_and_subtitles(tiny: Path) -> None:
    report = build(tiny)
    assert set(statuses(report, "ran")) == set(report)
    assert (tiny / "build" / "film.mp4").stat().st_size > 1000
    srt = (tiny / "build" / "film.srt").read_text()
    assert [block.splitlines()[2] for block in srt.strip().split("\n\n")] == [
        "Hello there.",
        "Hi.",
        "Goodbye now.",
    ]
    assert "voice:one/a/1" in (tiny / "film.lock").read_text()


def test_second_build_runs_nothing(tiny: Path) -> None:
    build(tiny)
    CALLS.clear()
    report = build(tiny)
    assert statuses(report, "cached") == sorted(report)
    assert CALLS == []


def test_a_no_op_answers_from_the_stamp_until_any_file_is_touched(tiny: Path) -> None:
    build(tiny)
    CALLS.clear()
    fast = build(tiny)
    assert {s["reason"] for s in fast.values()} == {"unchanged since the last build"}
    # Touched, not changed: the full check runs, and finds every step in the cache.
    scene = tiny / "scenes" / "01.yaml"
    scene.write_text(scene.read_text())
    os.utime(scene, ns=(time.time_ns(), time.time_ns() + 10**9))
    checked = build(tiny)
    assert {s["reason"] for s in checked.values()} == {"up to date"}
    assert statuses(checked, "cached") == sorted(fast)
    assert CALLS == []


SOUND_STEPS = ["cut", "loudness", "master:two", "mix:two", "timeline"]
ALL_SOUND = [*SOUND_STEPS, "master:one", "mix:one"]


def test_editing_one_line_reruns_its_voice_its_shot_and_the_sound(tiny: Path) -> None:
    build(tiny)
    edit(tiny / "scenes" / "01.yaml", "Hello there.", "Hello, stranger.")
    report = build(tiny)
    # The longer line moves every shot after it: the music that runs on into scene two
    # plays under it from a later point, so both scenes' sound is made again, and the
    # crossfade out of the longer shot is blended again; no other voice, face, image or
    # shot is touched.
    changed = ["reel:one", "reel:two", "shot:one/a", "transition:two/b", "voice:one/a/1"]
    assert statuses(report, "ran") == sorted([*ALL_SOUND, *changed])
    assert report["voice:one/a/1"]["reason"] == "line text changed"
    assert report["shot:one/a"]["reason"] == "input changed: line0"
    assert "Hello, stranger." in (tiny / "build" / "film.srt").read_text()
    assert "Hello, stranger." in (tiny / "build" / "film.vtt").read_text()


def test_a_line_that_moves_no_shot_leaves_the_other_scene_s_sound_cached(tiny: Path) -> None:
    edit(
        tiny / "scenes" / "02.yaml",
        "transition: crossfade",
        "transition: crossfade\n    duration: 4",
    )
    before = build(tiny)
    edit(tiny / "scenes" / "02.yaml", "Goodbye now.", "Bye now.")
    report = build(tiny)
    # Scene one is mastered again only if the film's loudness gain moved a step.
    gain = [r["loudness"]["meta"]["gain_db"] for r in (before, report)]
    again = ["master:one"] if gain[0] != gain[1] else []
    expected = [*SOUND_STEPS, *again, "shot:two/b", "voice:two/b/1"]
    assert statuses(report, "ran") == sorted(expected)
    assert report["mix:one"]["status"] == "cached"


def test_same_output_stops_the_rebuild_early(tiny: Path) -> None:
    build(tiny)
    # The fake voice rounds pitch to 10 Hz: new params, byte-identical audio.
    edit(tiny / "film.yaml", "params: {pitch: 180}", "params: {pitch: 181}")
    report = build(tiny)
    assert statuses(report, "ran") == ["voice:one/a/2", "voice:two/b/1"]
    assert report["voice:one/a/2"]["reason"] == "params changed"
    assert report["shot:one/a"]["status"] == "cached"


def test_deleted_film_is_restored_from_the_store_not_rerendered(tiny: Path) -> None:
    build(tiny)
    film = tiny / "build" / "film.mp4"
    original = film.read_bytes()
    film.unlink()
    report = build(tiny)
    assert statuses(report, "ran") == []
    assert report["cut"]["status"] == "restored"
    assert report["cut"]["reason"] == "build/film.mp4 was missing"
    assert film.read_bytes() == original


def test_the_store_keeps_the_films_layout_and_the_film_is_written_once(tiny: Path) -> None:
    """The cut stores where the film's bytes lie in its reels and sound, not a copy of
    them; the film is written from that where it is published, and again alike."""
    build(tiny)
    film = tiny / "build" / "film.mp4"
    digest = read_lock(tiny / "film.lock")["cut"].outputs["film"]
    layout = Project(tiny, fake_registry()).store.object_path(digest)
    assert layout.read_bytes().startswith(b"filmkit movie layout")
    assert layout.stat().st_size < film.stat().st_size / 4
    stored = {p.stat().st_size for p in (tiny / ".filmkit" / "objects").rglob("*") if p.is_file()}
    assert film.stat().st_size not in stored
    original = film.read_bytes()
    film.unlink()
    build(tiny)
    assert film.read_bytes() == original


def test_a_film_that_fails_to_be_written_leaves_nothing_half_written(tmp_path: Path) -> None:
    target = tmp_path / "build" / "film.mp4"
    with pytest.raises(OSError, match="disk full"), atomic_output(target) as tmp:
        tmp.write_bytes(b"half a film")
        raise OSError("disk full")
    assert list(target.parent.iterdir()) == []


def test_hand_edited_film_is_replaced(tiny: Path) -> None:
    build(tiny)
    film = tiny / "build" / "film.mp4"
    film.write_bytes(b"not a film")
    report = build(tiny)
    assert report["cut"]["reason"] == "build/film.mp4 was modified"
    assert film.stat().st_size > 1000


def test_a_film_rewritten_with_its_own_bytes_is_left_in_place(tiny: Path) -> None:
    """A product whose (size, mtime, inode) moved is compared by content before copying."""
    build(tiny)
    film = tiny / "build" / "film.mp4"
    film.write_bytes(film.read_bytes())  # same bytes, a new mtime
    os.utime(film, ns=(1, 1))
    stamp = film.stat()
    report = build(tiny)
    assert report["cut"]["status"] == "cached"
    assert film.stat().st_ino == stamp.st_ino and film.stat().st_mtime_ns == 1
    published = json.loads((tiny / ".filmkit" / "state" / "published.json").read_text())
    assert published["build/film.mp4"][0] == f"{stamp.st_size}:1:{stamp.st_ino}"


def test_corrupted_artifact_is_detected_and_rebuilt(tiny: Path) -> None:
    build(tiny)
    lock = (tiny / "film.lock").read_text()
    digest = lock.split("voice:two/b/1:")[1].split("audio: ")[1].split()[0]
    obj = tiny / ".filmkit" / "objects" / digest[:2] / digest[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"RIFF garbage")
    report = build(tiny)
    assert report["voice:two/b/1"]["status"] == "ran"
    assert report["voice:two/b/1"]["reason"] == "output missing or corrupted"
    assert report["shot:two/b"]["status"] == "cached"


def test_the_forecast_takes_the_last_builds_actions_without_reading_each_record(
    tiny: Path,
) -> None:
    first = build(tiny)
    # With every action record gone, the steps an edit does not reach are still found:
    # the last build kept their outputs, which are intact in the store.
    shutil.rmtree(tiny / ".filmkit" / "actions")
    edit(tiny / "scenes" / "02.yaml", "Goodbye now.", "Goodbye, then.")
    report = build(tiny)
    for step_id in ("voice:one/a/1", "image:room", "shot:one/a"):
        assert report[step_id]["status"] == "cached"
        assert report[step_id]["key"] == first[step_id]["key"]
    assert report["voice:two/b/1"]["status"] == "ran"
    # A kept action whose output is gone from the store is not trusted.
    lock = (tiny / "film.lock").read_text()
    digest = lock.split("voice:one/a/1:")[1].split("audio: ")[1].split()[0]
    (tiny / ".filmkit" / "objects" / digest[:2] / digest[2:]).unlink()
    edit(tiny / "scenes" / "02.yaml", "Goodbye, then.", "Goodbye.")
    assert build(tiny)["voice:one/a/1"]["status"] == "ran"


def test_selected_steps_build_with_what_they_need(tiny: Path) -> None:
    report = build(tiny, patterns=["shot:two/b"])
    assert sorted(report) == ["image:room", "shot:two/b", "voice:two/b/1"]
    assert not (tiny / "build" / "film.mp4").exists()


def test_parallel_build_matches_serial(tiny: Path, tmp_path: Path) -> None:
    serial = build(tiny)
    os.rename(tiny / ".filmkit", tmp_path / "old-store")
    parallel = build(tiny, jobs=2)
    assert {k: v["key"] for k, v in parallel.items()} == {k: v["key"] for k, v in serial.items()}
    assert statuses(parallel, "ran") == sorted(parallel)


def test_second_build_waits_or_fails_clearly_with_no_wait(tiny: Path) -> None:
    project = Project(tiny, fake_registry())
    with (
        project.locked(wait=False, on_wait=lambda m: None),
        pytest.raises(ProjectLockedError, match="another build of this project is running"),
    ):
        project.build(wait=False)


def test_failed_step_is_named_and_finished_work_is_kept(tiny: Path) -> None:
    edit(tiny / "scenes" / "02.yaml", "Goodbye now.", "Goodbye [fail]")
    with pytest.raises(BuildError, match="voice:two/b/1: the tone voice cannot say"):
        build(tiny, keep_going=True)
    report = json.loads((tiny / "build" / "report.json").read_text())
    by_id = {step["id"]: step for step in report["steps"]}
    assert by_id["voice:two/b/1"]["status"] == "failed"
    assert by_id["shot:one/a"]["status"] == "ran"
    assert by_id["cut"]["status"] == "skipped"
    edit(tiny / "scenes" / "02.yaml", "Goodbye [fail]", "Goodbye now.")
    again = build(tiny)
    # The failed build never got to the crossfade into two/b, or scene two's reel: they
    # run now.
    changed = ["reel:two", "shot:two/b", "transition:two/b", "voice:two/b/1"]
    assert statuses(again, "ran") == sorted([*ALL_SOUND, *changed])


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from filmkit.project import Project
    from tests.fakes import fake_registry
    Project(Path({film!r}), fake_registry()).build()
    """
)


def test_kill_9_loses_only_the_steps_in_flight(tiny: Path) -> None:
    script = SCRIPT.format(root=str(ROOT), film=str(tiny))
    env = {**os.environ, "FILMKIT_TEST_VOICE_DELAY": "0.6"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    run_dir = tiny / ".filmkit" / "run"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(run_dir.glob("*.json"))) < 2:
        time.sleep(0.05)
    finished = {json.loads(p.read_text())["step"] for p in run_dir.glob("*.json")}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(finished) >= 2 and not (tiny / "build" / "film.mp4").exists()
    before_kill = {json.loads(p.read_text())["step"] for p in run_dir.glob("*.json")}

    report = build(tiny)
    assert set(statuses(report, "restored")) == before_kill
    assert set(statuses(report, "ran")) == set(report) - before_kill
    assert list((tiny / ".filmkit" / "tmp").iterdir()) == []
    assert (tiny / "build" / "film.mp4").stat().st_size > 1000


def test_fresh_clone_rebuilds_what_film_lock_pins_and_says_so(tiny: Path) -> None:
    first = build(tiny)
    lock = (tiny / "film.lock").read_text()
    shutil.rmtree(tiny / ".filmkit")
    shutil.rmtree(tiny / "build")
    again = build(tiny)
    assert {s["reason"] for s in again.values()} == {"not in the local cache"}
    assert {k: v["key"] for k, v in again.items()} == {k: v["key"] for k, v in first.items()}
    assert (tiny / "film.lock").read_text() == lock


def test_reverting_an_edit_restores_from_the_cache_without_running(tiny: Path) -> None:
    build(tiny)
    scene = tiny / "scenes" / "01.yaml"
    edit(scene, "Hello there.", "Hello, stranger.")
    build(tiny)
    edit(scene, "Hello, stranger.", "Hello there.")
    report = build(tiny)
    assert statuses(report, "ran") == []
    changed = ["reel:one", "reel:two", "shot:one/a", "transition:two/b", "voice:one/a/1"]
    assert statuses(report, "restored") == sorted([*ALL_SOUND, *changed])


def test_a_draft_shares_every_generated_asset_and_keeps_the_timing(tiny: Path) -> None:
    from imageio_ffmpeg import count_frames_and_secs, read_frames

    from filmkit.plan.profiles import DRAFT, PICTURE_KINDS

    final = build(tiny)
    lock = (tiny / "film.lock").read_text()
    CALLS.clear()
    draft = build(tiny, profile=DRAFT)
    # Only the picture is rendered again; voices, faces, sets, music and sound are shared.
    assert statuses(draft, "ran") == sorted(s for s in draft if s.split(":")[0] in PICTURE_KINDS)
    assert CALLS == []
    assert (tiny / "film.lock").read_text() == lock  # the lock pins the final film only
    films = tiny / "build" / "film.mp4", tiny / "build" / "film.draft.mp4"
    (frames, seconds), (draft_frames, draft_seconds) = map(count_frames_and_secs, films)
    assert (draft_frames, draft_seconds) == (frames, seconds)
    reader = read_frames(str(films[1]))
    assert next(reader)["size"] == (80, 48)  # half of 160 x 96
    reader.close()
    assert draft["cut"]["meta"]["duration"] == final["cut"]["meta"]["duration"]
    # Back to the final film: everything is still in the store.
    again = build(tiny)
    assert statuses(again, "ran") == []
    assert {k: v["key"] for k, v in again.items()} == {k: v["key"] for k, v in final.items()}
