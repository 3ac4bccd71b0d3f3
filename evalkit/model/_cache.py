"""Content-addressed response cache in SQLite.

The key is the SHA-256 of the canonical JSON of everything that decides a response:
model, endpoint, sampling parameters, seed, stop sequences, messages, output schema —
and the **trial index**, so trial k is never served trial j's response. API keys are
never part of it.

The database runs in WAL mode with a busy timeout, and every operation opens its own
connection, so threads and processes (``pytest-xdist`` workers, parallel runs) can
share one cache folder. Creating the database and switching it to WAL happens once,
under a process-wide lock and an ``flock`` on a lock file beside it: SQLite answers
``database is locked`` at once (without waiting for the busy timeout) when two
connections race to change the journal mode.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from evalkit.errors import ConfigError

CacheMode = Literal["read-write", "read-only", "off"]
CACHE_MODES: tuple[str, ...] = get_args(CacheMode)
DEFAULT_CACHE_DIR = ".evalkit-cache"
_DB_NAME = "responses.sqlite3"
_KEY_VERSION = 1
_BUSY_TIMEOUT_S = 30.0
_INIT_LOCK = threading.Lock()
_INITIALISED: set[Path] = set()
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """What the cache stores for one call: the backend's raw answer, not the parse."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None
    latency_s: float


def check_cache_mode(mode: str) -> CacheMode:
    """Return *mode* if it is one of ``read-write``, ``read-only``, ``off``.

    Raises:
        ConfigError: any other value; the message lists the accepted ones.
    """
    if mode not in CACHE_MODES:
        raise ConfigError(
            f"unknown cache mode {mode!r}; expected one of {', '.join(CACHE_MODES)}",
            key="cache_mode",
        )
    return mode  # type: ignore[return-value]


def cache_key(
    *,
    model: str,
    endpoint: str,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    stop: Sequence[str] | None,
    messages: Sequence[Mapping[str, str]],
    schema: Mapping[str, Any] | None,
    trial: int | None,
) -> str:
    """SHA-256 (hex) of the canonical JSON of one request.

    Args:
        model: the model identity (client name plus, for local files, file name and size).
        endpoint: ``host:port/path`` of the server (``""`` for embedded models).
        temperature: sampling temperature.
        max_tokens: output token limit.
        seed: the seed sent to the backend.
        stop: stop sequences.
        messages: chat messages, in order.
        schema: JSON schema of the structured output, if any.
        trial: trial index; part of the key so trials stay independent.
    """
    document = {
        "v": _KEY_VERSION,
        "model": model,
        "endpoint": endpoint,
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "seed": seed,
        "stop": list(stop) if stop else None,
        "messages": [dict(m) for m in messages],
        "schema": schema,
        "trial": trial,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """A response cache folder.

    Example::

        cache = ResponseCache(".evalkit-cache", mode="read-write")
        hit = cache.get(key)          # None on a miss or when mode is "off"
        cache.put(key, response)      # ignored unless mode is "read-write"
    """

    __slots__ = ("directory", "mode")

    def __init__(self, directory: str | Path = DEFAULT_CACHE_DIR, *, mode: str = "read-write"):
        self.directory = Path(directory)
        self.mode: CacheMode = check_cache_mode(mode)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r}, mode={self.mode!r})"

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self.directory / _DB_NAME

    @property
    def readable(self) -> bool:
        """Whether lookups are made."""
        return self.mode != "off"

    @property
    def writable(self) -> bool:
        """Whether new responses are stored."""
        return self.mode == "read-write"

    def _initialise(self) -> None:
        """Create the database in WAL mode once, serialised across threads and processes."""
        path = self.path.absolute()
        if path in _INITIALISED and path.exists():
            return
        with _INIT_LOCK:
            if path in _INITIALISED and path.exists():
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / (_DB_NAME + ".lock"), "a+b") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)
                    try:
                        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                        if str(mode).lower() != "wal":
                            conn.execute("PRAGMA journal_mode=WAL")
                        conn.execute(_SCHEMA)
                        conn.commit()
                    finally:
                        conn.close()
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
            _INITIALISED.add(path)

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        if write:
            self._initialise()
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)
            conn.execute("PRAGMA synchronous=NORMAL")
        else:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=_BUSY_TIMEOUT_S)
        return conn

    def get(self, key: str) -> CachedResponse | None:
        """The stored response for *key*, or None."""
        if not self.readable or not self.path.exists():
            return None
        conn = self._connect(write=False)
        try:
            row = conn.execute("SELECT payload FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        finally:
            conn.close()
        if row is None:
            return None
        return CachedResponse(**json.loads(row[0]))

    def put(self, key: str, response: CachedResponse) -> bool:
        """Store *response* under *key*; returns False when the mode forbids writing."""
        if not self.writable:
            return False
        payload = json.dumps(asdict(response), ensure_ascii=False, sort_keys=True)
        conn = self._connect(write=True)
        try:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO responses (key, model, created, payload) "
                    "VALUES (?, ?, ?, ?)",
                    (key, response.model, time.time(), payload),
                )
        finally:
            conn.close()
        return True

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        conn = self._connect(write=False)
        try:
            (count,) = conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()
        return int(count)
