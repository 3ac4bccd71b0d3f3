"""Durable step checkpoints in SQLite, so a killed pipeline resumes where it stopped.

Each completed step of a run is written (with the budget used so far) before the
next step starts. A run is identified by its *run key*: a hash of the pipeline
parameters, the case id, the trial index and seed, and the arm. When a run with the
same key starts again:

* if it never finished, its completed steps are loaded instead of re-run, so no
  completed model or tool call is repeated;
* if it finished, it starts afresh: a finished run is history, and a later eval
  must not replay it (trial k must never become a copy of an old trial k).

Every model and tool call actually made is also logged (``calls`` table) with the
attempt number of the run, which is what tests and audits count.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DB_NAME = "checkpoints.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    trial INTEGER NOT NULL,
    arm TEXT NOT NULL,
    status TEXT NOT NULL,          -- running | done
    attempt INTEGER NOT NULL,      -- 1 on the first start, +1 on each resume or restart
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    run_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_key, step)
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,            -- llm | tool
    name TEXT NOT NULL,
    ok INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,          -- pending | approved | rejected | expired
    created_at REAL NOT NULL,
    sla_deadline REAL NOT NULL
);
"""


def run_key(
    params: Mapping[str, Any], case_id: str, trial: int, seed: int, arm: str = "main"
) -> str:
    """The key of one pipeline run (stable across processes)."""
    relevant = {k: v for k, v in params.items() if k != "checkpoint_dir"}
    blob = json.dumps([relevant, case_id, trial, seed, arm], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class CheckpointStore:
    """Steps, calls and approvals of pipeline runs in one SQLite file.

    ``path=None`` keeps everything in memory (no resume across processes).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self.path: Path | None = None
            self._db = sqlite3.connect(":memory:", isolation_level=None)
        else:
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CheckpointStore:
        """A store under ``params.checkpoint_dir``, or in memory when it is unset."""
        folder = params.get("checkpoint_dir")
        return cls(Path(str(folder)) / DB_NAME if folder else None)

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection (shared with the approval queue)."""
        return self._db

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- runs ----------------------------------------------------------------------

    def begin(self, key: str, *, case_id: str, trial: int, arm: str) -> tuple[int, bool]:
        """Start or resume run *key*; return ``(attempt, resumed)``.

        A finished run is wiped and started again; an unfinished one is resumed.
        """
        now = time.time()
        row = self._db.execute(
            "SELECT status, attempt FROM runs WHERE run_key = ?", (key,)
        ).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, 'running', 1, ?, ?)",
                (key, case_id, trial, arm, now, now),
            )
            return 1, False
        status, attempt = row
        attempt = int(attempt) + 1
        resumed = status != "done"
        if not resumed:
            self._db.execute("DELETE FROM steps WHERE run_key = ?", (key,))
        self._db.execute(
            "UPDATE runs SET status = 'running', attempt = ?, updated_at = ? WHERE run_key = ?",
            (attempt, now, key),
        )
        return attempt, resumed and self.has_steps(key)

    def finish(self, key: str) -> None:
        """Mark run *key* finished (a later start with this key starts afresh)."""
        self._db.execute(
            "UPDATE runs SET status = 'done', updated_at = ? WHERE run_key = ?",
            (time.time(), key),
        )

    # -- steps ---------------------------------------------------------------------

    def has_steps(self, key: str) -> bool:
        """Whether run *key* has any completed step."""
        row = self._db.execute("SELECT 1 FROM steps WHERE run_key = ? LIMIT 1", (key,)).fetchone()
        return row is not None

    def load(self, key: str) -> dict[str, Any]:
        """Completed steps of run *key*: ``{step: payload}`` in completion order."""
        rows = self._db.execute(
            "SELECT step, payload FROM steps WHERE run_key = ? ORDER BY seq", (key,)
        ).fetchall()
        return {step: json.loads(payload) for step, payload in rows}

    def save(self, key: str, step: str, payload: Any) -> None:
        """Persist a completed step (atomically; replaces an earlier save of it)."""
        seq = self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_key = ?", (key,)
        ).fetchone()[0]
        self._db.execute(
            "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)",
            (key, seq, step, json.dumps(payload, default=str), time.time()),
        )

    # -- calls ---------------------------------------------------------------------

    def log_call(self, key: str, attempt: int, step: str, kind: str, name: str, ok: bool) -> None:
        """Record one model or tool call actually made."""
        self._db.execute(
            "INSERT INTO calls (run_key, attempt, step, kind, name, ok, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, attempt, step, kind, name, int(ok), time.time()),
        )

    def calls(self, key: str | None = None) -> list[dict[str, Any]]:
        """Logged calls (of one run, or all), oldest first."""
        sql = "SELECT run_key, attempt, step, kind, name, ok FROM calls"
        args: tuple[Any, ...] = ()
        if key is not None:
            sql += " WHERE run_key = ?"
            args = (key,)
        rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            {"run_key": r[0], "attempt": r[1], "step": r[2], "kind": r[3], "name": r[4],
             "ok": bool(r[5])}
            for r in rows
        ]
