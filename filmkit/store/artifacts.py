"""Content-addressed artifacts and the action cache under ``.filmkit/``.

Layout::

    .filmkit/
      objects/ab/cdef…     one file per distinct content, named by sha256,
                           read-only, mtime pinned to OBJECT_MTIME
      actions/ab/cdef….json  action key -> output digests, metadata, seconds
      tmp/                 work files of running steps (wiped at build start)
      resume/<key>/        checkpoints of interrupted long steps (training), by action key
      stat/                cached digests of source files by (size, mtime, inode)
      state/published.json what was copied to each product path, by its (size, mtime, inode)

Invariants:
* an object appears only by ``os.replace`` of a fully written, fsynced,
  hashed file, so no reader ever sees half an object;
* an action record is written (atomically) only after all its objects exist,
  so each finished step is committed on its own and survives ``kill -9``;
* objects are verified before use: size always, and the full hash whenever the
  mtime is not the pinned value (i.e. someone touched the file). A corrupt
  object is deleted and its step runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filmkit.store.files import atomic_write_text, fsync_path, hash_file

# A file at least this large is hashed while it is synced to disk (a film: both take long).
HASH_APART = 16 * 2**20

OBJECT_MTIME = 1_000_000_000
STORE_DIR = ".filmkit"
PUBLISHED = Path("state") / "published.json"


@dataclass(frozen=True)
class StoredObject:
    """A digest and size: how an output is referenced."""

    digest: str
    size: int


class ArtifactStore:
    """Objects, action records and scratch space of one project."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.actions = self.root / "actions"
        self.tmp = self.root / "tmp"
        # Running steps' progress reports (see filmkit.execution.ProgressFile).
        self.progress = self.tmp / "progress"
        self.stat = self.root / "stat"

    def ensure(self) -> None:
        """Create the directory layout."""
        for path in (self.objects, self.actions, self.tmp, self.stat):
            path.mkdir(parents=True, exist_ok=True)

    def clear_tmp(self) -> None:
        """Remove leftovers of killed steps (call only under the project lock)."""
        if self.tmp.is_dir():
            for child in self.tmp.iterdir():
                if child.is_dir():
                    for sub in sorted(child.rglob("*"), reverse=True):
                        sub.rmdir() if sub.is_dir() else sub.unlink()
                    child.rmdir()
                else:
                    child.unlink()

    def resume_dir(self, key: str) -> Path:
        """Where a step with action key ``key`` keeps what lets an interrupted run resume
        (not created here; removed when the step commits)."""
        return self.root / "resume" / key[:32]

    def work_dir(self) -> Path:
        """A fresh scratch directory for one step execution."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="step-", dir=self.tmp))

    # objects ---------------------------------------------------------------

    def object_path(self, digest: str) -> Path:
        """Where the object with ``digest`` lives."""
        return Path(f"{self.objects}/{digest[:2]}/{digest[2:]}")  # (pathlib's / is slower)

    def put(self, source: Path) -> StoredObject:
        """Move a finished work file into the store; returns its reference."""
        os.chmod(source, 0o644)
        size = source.stat().st_size
        synced = size >= HASH_APART
        if synced:  # the disk writes the file back while a thread reads it for its digest
            with ThreadPoolExecutor(1) as pool:
                hashing = pool.submit(hash_file, source)
                fsync_path(source)
                digest = hashing.result()
        else:
            digest = hash_file(source)
        if self.is_valid(StoredObject(digest, size)):
            source.unlink()  # stored already (a scene's clock that did not move): no sync
            return StoredObject(digest, size)
        if not synced:
            fsync_path(source)
        target = self.object_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.utime(source, (OBJECT_MTIME, OBJECT_MTIME))
        os.chmod(source, 0o444)
        os.replace(source, target)
        fsync_path(target.parent)
        return StoredObject(digest, size)

    def is_valid(self, obj: StoredObject) -> bool:
        """Is the object present and intact? Deletes it if it is corrupt."""
        path = self.object_path(obj.digest)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return False
        if info.st_size == obj.size and int(info.st_mtime) == OBJECT_MTIME:
            return True
        if info.st_size == obj.size and hash_file(path) == obj.digest:
            os.utime(path, (OBJECT_MTIME, OBJECT_MTIME))
            return True
        path.unlink(missing_ok=True)
        return False

    # action cache ----------------------------------------------------------

    def _action_path(self, key: str) -> Path:
        return self.actions / key[:2] / f"{key[2:]}.json"

    def get_action(self, key: str) -> dict[str, Any] | None:
        """The record of a finished action, or None."""
        try:
            return json.loads(self._action_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put_action(self, key: str, record: dict[str, Any]) -> None:
        """Commit an action record (its objects must already be stored)."""
        atomic_write_text(self._action_path(key), json.dumps(record, sort_keys=True, indent=1))

    def outputs_valid(self, record: dict[str, Any]) -> bool:
        """Are all outputs of an action record present and intact?"""
        return all(
            self.is_valid(StoredObject(out["digest"], out["size"]))
            for out in record["outputs"].values()
        )

    # source files ----------------------------------------------------------

    def digest_source(self, path: Path) -> str:
        """Digest of a project file, cached by (size, mtime, inode); of a folder (a
        dataset's photos), the digest of its files' names and digests, hidden ones left out."""
        if path.is_dir():
            listing = [
                f"{file.relative_to(path).as_posix()}\t{self.digest_source(file)}\n"
                for file in sorted(path.rglob("*"))
                if file.is_file()
                and not any(part.startswith(".") for part in file.relative_to(path).parts)
            ]
            return hashlib.sha256("".join(listing).encode()).hexdigest()
        stamp, cache = self._stat_entry(path)
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if cached["stamp"] == stamp:
                return str(cached["digest"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        digest = hash_file(path)
        atomic_write_text(cache, json.dumps({"stamp": stamp, "digest": digest}))
        return digest

    def _stat_entry(self, path: Path) -> tuple[str, Path]:
        """The file's (size, mtime, inode) stamp, and where its digest is cached."""
        cache = self.stat / f"{uuid.uuid5(uuid.NAMESPACE_URL, str(path.resolve())).hex}.json"
        return file_stamp(path), cache

    # published products ----------------------------------------------------

    def published(self) -> dict[str, list[str]]:
        """What each product path was last published as: ``{path: [stamp, made from (an
        object's digest), sha256 of the bytes written]}``.

        One file for every product, so a film of hundreds of stems checks them
        with a ``stat`` each, not a cache file each.
        """
        try:
            ledger = json.loads((self.root / PUBLISHED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return ledger if isinstance(ledger, dict) else {}

    def note_published(self, ledger: dict[str, list[str]]) -> None:
        """Save :meth:`published` (a crash may lose it: the next build compares content)."""
        atomic_write_text(self.root / PUBLISHED, json.dumps(ledger), durable=False)


def file_stamp(path: Path) -> str:
    """A file's (size, mtime, inode) stamp: it changes whenever the file is written."""
    info = os.stat(path)
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
