"""The artifact store: atomic, content-addressed, verified."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from filmkit.store.artifacts import ArtifactStore, StoredObject
from filmkit.store.files import atomic_write_bytes, hash_file
from filmkit.store.lockfile import LockEntry, read_lock, write_lock


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    s = ArtifactStore(tmp_path / ".filmkit")
    s.ensure()
    return s


def work_file(store: ArtifactStore, data: bytes) -> Path:
    path = store.work_dir() / "out.bin"
    path.write_bytes(data)
    return path


def test_put_moves_content_under_its_digest_read_only(store: ArtifactStore) -> None:
    obj = store.put(work_file(store, b"frame"))
    path = store.object_path(obj.digest)
    assert path.read_bytes() == b"frame"
    assert hash_file(path) == obj.digest and obj.size == 5
    assert path.parent.name == obj.digest[:2]
    assert oct(path.stat().st_mode & 0o777) == "0o444"


def test_identical_content_is_stored_once(store: ArtifactStore) -> None:
    a = store.put(work_file(store, b"same"))
    b = store.put(work_file(store, b"same"))
    assert a == b
    assert len([p for p in store.objects.rglob("*") if p.is_file()]) == 1


def test_hand_edited_object_is_detected_and_removed(store: ArtifactStore) -> None:
    obj = store.put(work_file(store, b"original"))
    path = store.object_path(obj.digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    assert not store.is_valid(obj)
    assert not path.exists()


def test_touched_but_intact_object_is_rehashed_and_kept(store: ArtifactStore) -> None:
    obj = store.put(work_file(store, b"intact"))
    os.utime(store.object_path(obj.digest))
    assert store.is_valid(obj)
    assert store.is_valid(obj)


def test_missing_object_is_invalid(store: ArtifactStore) -> None:
    assert not store.is_valid(StoredObject("0" * 64, 3))


def test_action_record_is_only_valid_with_all_its_objects(store: ArtifactStore) -> None:
    obj = store.put(work_file(store, b"voice"))
    record = {"outputs": {"audio": {"digest": obj.digest, "size": obj.size}}}
    store.put_action("ab" * 32, record)
    assert store.get_action("ab" * 32) == record
    assert store.outputs_valid(record)
    store.object_path(obj.digest).unlink()
    assert not store.outputs_valid(record)


def test_atomic_write_leaves_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    atomic_write_bytes(target, b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_clear_tmp_removes_leftovers_of_killed_steps(store: ArtifactStore) -> None:
    half = store.work_dir() / "audio.wav"
    half.write_bytes(b"half a wav")
    store.clear_tmp()
    assert list(store.tmp.iterdir()) == []


def test_source_digest_is_cached_by_stat_and_follows_edits(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "poster.png"
    source.write_bytes(b"v1")
    first = store.digest_source(source)
    assert store.digest_source(source) == first
    source.write_bytes(b"v2")
    assert store.digest_source(source) != first


def test_lockfile_round_trip_in_plan_order(tmp_path: Path) -> None:
    entries = {
        "b": LockEntry("k2", "c2", "voice/x@1", "r2", {"i": "d"}, {"audio": "o2"}),
        "a": LockEntry("k1", "c1", "image/y@2", "r1", {}, {"image": "o1"}),
    }
    path = tmp_path / "film.lock"
    write_lock(path, entries, ["a", "b"])
    text = path.read_text()
    assert text.startswith("# film.lock")
    assert text.index("  a:") < text.index("  b:")
    assert read_lock(path) == entries


def test_lockfile_rewrites_a_changed_entry_as_a_whole_dump_would(tmp_path: Path) -> None:
    from filmkit.store import lockfile

    def entry(n: int) -> LockEntry:
        digest = f"{n:064x}"
        return LockEntry(
            key=digest, config=digest, generator="voice/tone@1", outputs={"audio": digest}
        )

    path = tmp_path / "film.lock"
    order = [f"voice:s{n}/shot{n}/1" for n in range(50)]
    entries = {step_id: entry(n) for n, step_id in enumerate(order)}
    write_lock(path, entries, order)
    changed = {**entries, order[7]: entry(1000), "cut": entry(2000)}
    write_lock(path, changed, [*order, "cut"], previous=entries)
    whole = {"version": lockfile.LOCK_VERSION, "steps": {k: changed[k].as_dict() for k in changed}}
    assert path.read_text() == lockfile.HEADER + lockfile._yaml(whole)
    lockfile._parsed.clear()  # a new process: the parsed form comes from the store's cache
    assert read_lock(path) == changed
    (tmp_path / ".filmkit" / "state" / "film.lock.json").write_text("{}")
    lockfile._parsed.clear()
    assert read_lock(path) == changed  # a useless cache: the file is parsed again
