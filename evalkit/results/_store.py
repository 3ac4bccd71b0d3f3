"""Run folders: the journal written as trials finish, and the Parquet tables at the end.

A run folder ``reports/<suite>/<run-id>/`` holds ``manifest.json``, ``trials.parquet``,
``scores.parquet``, ``spans.parquet`` and ``journal.jsonl``. The journal is
append-only: one JSON line per finished trial (its trial row, score rows and span
rows), flushed in small batches, so a ``kill -9`` loses at most the trials in flight
and the unflushed tail; ``--resume`` reads it back, skips what is done and runs the
rest. Parquet tables and the manifest are written atomically (temp file + rename).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evalkit.errors import RunFolderError
from evalkit.results._atomic import atomic_write_bytes, atomic_write_text
from evalkit.results._schema import SCORE_COLUMNS, SPAN_COLUMNS, TRIAL_COLUMNS, arrow_schemas

JOURNAL = "journal.jsonl"
MANIFEST = "manifest.json"
TABLES = ("trials", "scores", "spans")
JOURNAL_VERSION = 1

TrialKey = tuple[str, str, int]
_JOURNAL_JSON = json.JSONEncoder(ensure_ascii=False, default=str, check_circular=False).encode


@dataclass
class RunTables:
    """Rows of a run held column-compatible, as tuples (see ``_schema``)."""

    trials: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)

    def keys(self) -> set[TrialKey]:
        """(arm, case_id, trial) of every trial held."""
        return {(t[0], t[1], t[2]) for t in self.trials}


class Journal:
    """Append-only JSON-lines log of finished trials, flushed in small batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8")
        self._flush_pending = False

    def write_header(self, header: dict[str, Any]) -> None:
        """First line of a new journal: what run it belongs to."""
        self._fh.write(json.dumps({"journal": JOURNAL_VERSION, **header}) + "\n")
        self.flush()

    def append(
        self,
        trial: tuple[Any, ...],
        scores: Sequence[tuple[Any, ...]],
        spans: Sequence[tuple[Any, ...]],
    ) -> None:
        """Record one finished trial.

        Inside an event loop the flush is scheduled once per loop iteration, so a
        burst of trials finishing together costs one write; a ``kill -9`` can lose
        only trials that finished in that same iteration (at most the ones in
        flight). Outside a loop every record is flushed at once.
        """
        self._fh.write(_JOURNAL_JSON([trial, scores, spans]))
        self._fh.write("\n")
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand buffered lines to the OS (survives a killed process)."""
        self._flush_pending = False
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        """Flush and close."""
        if not self._fh.closed:
            self.flush()
            self._fh.close()


def read_journal(path: Path) -> tuple[dict[str, Any], RunTables, int]:
    """Read a journal back: header, tables, and the count of unreadable tail lines.

    A truncated last line (the process died mid-write) is skipped: that trial runs
    again. A repeated (arm, case, trial) keeps its first record, so nothing is
    duplicated.
    """
    if not path.is_file():
        raise RunFolderError("no journal.jsonl: this run cannot be resumed", path=path.parent)
    tables = RunTables()
    seen: set[TrialKey] = set()
    header: dict[str, Any] | None = None
    bad = 0
    with path.open(encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if lineno >= len(lines) - 1:
                bad += 1
                continue
            raise RunFolderError(f"journal line {lineno} is corrupt", path=path) from None
        if header is None:
            if not isinstance(record, dict) or record.get("journal") != JOURNAL_VERSION:
                raise RunFolderError("journal has no valid header line", path=path)
            header = record
            continue
        trial, scores, spans = record
        key = (trial[0], trial[1], trial[2])
        if key in seen:
            continue
        seen.add(key)
        tables.trials.append(tuple(trial))
        tables.scores.extend(tuple(s) for s in scores)
        tables.spans.extend(tuple(s) for s in spans)
    if header is None:
        raise RunFolderError("journal is empty", path=path)
    return header, tables, bad


def _table(name: str, rows: list[tuple[Any, ...]], columns: Sequence[str], run_id: str) -> Any:
    import pyarrow as pa

    schema = arrow_schemas()[name]
    n = len(rows)
    arrays: dict[str, Any] = {"run_id": [run_id] * n}
    if n:
        cols = list(zip(*rows, strict=True))
        for idx, col in enumerate(columns):
            arrays[col] = list(cols[idx])
    else:
        for col in columns:
            arrays[col] = []
    try:
        return pa.table(arrays, schema=schema)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # a non-string value in a text column (rare): store it as JSON text
        for col, typ in zip(schema.names, schema.types, strict=True):
            if pa.types.is_string(typ):
                arrays[col] = [
                    v if v is None or isinstance(v, str) else json.dumps(v, default=str)
                    for v in arrays[col]
                ]
        return pa.table(arrays, schema=schema)


def write_tables(run_dir: Path, run_id: str, tables: RunTables) -> dict[str, int]:
    """Write ``trials/scores/spans.parquet`` atomically; returns row counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    counts = {}
    for name, rows, columns in (
        ("trials", tables.trials, TRIAL_COLUMNS),
        ("scores", tables.scores, SCORE_COLUMNS),
        ("spans", tables.spans, SPAN_COLUMNS),
    ):
        table = _table(name, rows, columns, run_id)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(run_dir / f"{name}.parquet", sink.getvalue().to_pybytes())
        counts[name] = table.num_rows
    return counts


def write_scores(
    run_dir: str | Path,
    rows: Iterable[tuple[Any, ...]],
    run_id: str | None = None,
    *,
    filename: str = "scores.parquet",
) -> int:
    """Replace a run's scores table (used by ``evalkit score`` to re-score a run)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    if run_id is None:
        run_id = str(read_manifest(run_dir).get("run_id", run_dir.name))
    table = _table("scores", list(rows), SCORE_COLUMNS, run_id)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(run_dir / filename, sink.getvalue().to_pybytes())
    return int(table.num_rows)


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    atomic_write_text(run_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """Read ``manifest.json``; RunFolderError when missing or corrupt."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise RunFolderError("not a run folder (no manifest.json)", path=run_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"manifest.json is not valid JSON ({exc.msg}, line {exc.lineno})", path=path
        ) from None
    if not isinstance(data, dict):
        raise RunFolderError("manifest.json is not an object", path=path)
    return data


def iter_run_dirs(root: Path) -> Iterator[Path]:
    """Run folders under *root*, newest first."""
    dirs = [p.parent for p in root.glob("**/" + MANIFEST)]
    yield from sorted(dirs, key=lambda p: p.name, reverse=True)
