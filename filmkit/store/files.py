"""Atomic file writes, content hashing, and JSON text for the files people read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's data, or the renames inside a directory, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half.

    ``durable=False`` skips the fsyncs, for scratch files a crash may lose.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_path(path.parent)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write; it becomes ``target`` (one rename) if
    the block finishes, and is removed if it fails. No fsync: for products, which a crash
    may lose (never half of one) and the next build publishes again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (see :func:`atomic_output`).

    For products: copies of stored objects; syncing a feature's worth of bytes
    to disk on every build would cost more than the copy.
    """
    with atomic_output(target) as tmp:
        shutil.copyfile(source, tmp)  # in the kernel where it can (sendfile)


def json_text(data: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    """``data`` as JSON text a person can read and a build writes fast: a key a line,
    and a list's (or mapping's) entries one a line, each written compactly.

    NOTE: ``json.dumps`` with ``indent`` takes the pure-Python encoder, several
    times slower than the C one: too slow for a report of thousands of steps.
    """

    def one(value: Any) -> str:
        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False)

    def entries(value: Any) -> str:
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join(f"    {one(v)}" for v in value) + "\n  ]"
        if isinstance(value, Mapping) and value:
            items = sorted(value.items()) if sort_keys else value.items()
            return "{\n" + ",\n".join(f"    {one(k)}: {one(v)}" for k, v in items) + "\n  }"
        return one(value)

    items = sorted(data.items()) if sort_keys else data.items()
    return "{\n" + ",\n".join(f"  {one(k)}: {entries(v)}" for k, v in items) + "\n}\n"
