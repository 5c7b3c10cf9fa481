"""The no-op fast path: is everything exactly as the last complete build left it?

A build that finishes every step writes a stamp: the size and modification
time of every file in the project (hidden folders and the build output
folder aside), of every object in the artifact store, of every published
product and of filmkit's own code, with the build's report. The next build
compares the stamp with the disk before reading any YAML; when nothing
differs there is nothing to plan, so it answers from the stamp in the time
it takes to list the project's files, whatever the film's length. Any
difference, even a file touched without changing, falls back to the full
check, which decides from content.

Starting a build removes the stamp, so an interrupted or failed build
never leaves one behind.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import filmkit
from filmkit.store.files import atomic_write_text

STAMP = Path("state") / "up-to-date.json"


def _stat(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _walk(folder: Path, skip: set[str], into: dict[str, list[int]], prefix: str = "") -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = prefix + entry.name
        if entry.name.startswith(".") or entry.name == "__pycache__" or name in skip:
            continue
        if entry.is_dir(follow_symlinks=False):
            _walk(Path(entry.path), skip, into, name + "/")
        elif entry.is_file():
            info = entry.stat()
            into[name] = [info.st_size, info.st_mtime_ns]


def fingerprint(root: Path, store_root: Path, skip: Iterable[str], salt: str) -> dict[str, Any]:
    """What the project (less the ``skip`` folders), its stored objects and filmkit's
    code look like on disk now."""
    found: dict[str, dict[str, list[int]]] = {"files": {}, "objects": {}, "code": {}}
    _walk(root, set(skip), found["files"])
    _walk(store_root / "objects", set(), found["objects"])
    _walk(Path(filmkit.__file__).parent, set(), found["code"])
    return {"salt": f"{salt}|{sys.version}", **found}


def clear(store_root: Path) -> None:
    """Forget the stamp (a build is starting)."""
    (store_root / STAMP).unlink(missing_ok=True)


def save(
    store_root: Path,
    root: Path,
    skip: Iterable[str],
    now: dict[str, Any],
    products: Iterable[str],
    report: dict[str, Any],
) -> None:
    """Stamp a complete build, once everything it writes is written; ``now`` is the
    :func:`fingerprint` taken (with ``skip``) after the last write."""
    stamp = {
        **now,
        "skip": sorted(set(skip)),
        "products": {p: _stat(root / p) for p in products},
        "report": report,
    }
    atomic_write_text(store_root / STAMP, json.dumps(stamp), durable=False)


def current(
    store_root: Path, root: Path, salt: str, skip: Iterable[str]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The stamped report, if the project is exactly as the last complete build left it;
    and the fingerprint compared (less the stamp's folders, or ``skip`` without a stamp),
    for the build that follows when it is not."""
    try:
        stamp = json.loads((store_root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, fingerprint(root, store_root, skip, salt)
    now = fingerprint(root, store_root, stamp.get("skip", []), salt)
    if any(stamp.get(k) != now[k] for k in ("salt", "files", "objects", "code")):
        return None, now
    products = stamp.get("products", {})
    if not products or any(_stat(root / p) != s for p, s in products.items()):
        return None, now
    return stamp["report"], now
