"""The ledger: every real generation, in SQLite (``.filmkit/ledger.sqlite``).

One row each time a generator actually ran (never for a result reused from
a cache): when, which step, backend and version, model, params, seed, the
request, what it used (characters, images, seconds, tokens: the backend's
metadata), the estimated cost, how long it took and the digests it produced.
Worker processes of a parallel build write to it concurrently; SQLite's own
locking serialises them.

The ledger is local and append-only: it is what this checkout spent, for
``filmkit ledger`` and for asserting in CI that a build generated nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEDGER_FILE = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    step TEXT NOT NULL,
    backend TEXT NOT NULL,
    version TEXT NOT NULL,
    model TEXT,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    request TEXT NOT NULL,
    usage TEXT NOT NULL,
    cost_usd REAL NOT NULL,
    seconds REAL NOT NULL,
    outputs TEXT NOT NULL,
    key TEXT NOT NULL
)
"""


class Ledger:
    """Append and read generation records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=60)) as db:
            with db:
                db.execute(_SCHEMA)
            yield db

    def record(
        self,
        *,
        step: str,
        backend: str,
        version: str,
        params: str,
        seed: int,
        request: str,
        usage: dict[str, float],
        cost: float,
        seconds: float,
        outputs: dict[str, str],
        key: str,
        model: str | None = None,
    ) -> None:
        """Append one generation."""
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            step,
            backend,
            version,
            model,
            params,
            seed,
            request,
            json.dumps(usage, sort_keys=True),
            cost,
            round(seconds, 3),
            json.dumps(outputs, sort_keys=True),
            key,
        )
        with self._connect() as db, db:
            db.execute(
                "INSERT INTO generations (at, step, backend, version, model, params, seed, "
                "request, usage, cost_usd, seconds, outputs, key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def rows(self) -> list[dict[str, Any]]:
        """Every generation, oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            found = db.execute("SELECT * FROM generations ORDER BY id").fetchall()
        out = []
        for row in found:
            item = dict(row)
            for name in ("usage", "outputs"):
                item[name] = json.loads(item[name])
            out.append(item)
        return out

    def count(self) -> int:
        """How many generations are recorded."""
        if not self.path.exists():
            return 0
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def totals(self) -> list[dict[str, Any]]:
        """Generations, seconds and cost per backend."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            found = db.execute(
                "SELECT backend, COUNT(*), SUM(seconds), SUM(cost_usd) FROM generations "
                "GROUP BY backend ORDER BY SUM(cost_usd) DESC, backend"
            ).fetchall()
        return [
            {"backend": b, "generations": n, "seconds": round(s, 3), "cost_usd": round(c, 6)}
            for b, n, s, c in found
        ]
