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
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
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


def json_encoder(
    *,
    default: Callable[[Any], Any] | None = None,
    allow_nan: bool = True,
    check_circular: bool = True,
) -> Callable[[Any], str]:
    """``json.JSONEncoder(ensure_ascii=False, ...).encode`` without its per-call set-up.

    The output is the same (the same C encoder does the work); what is skipped is
    the encoder ``encode``/``iterencode`` build on every call, about a microsecond,
    which matters on the runner's hot path (two or three encodes per trial). Not
    thread-safe when ``check_circular``: give each event loop its own.
    """
    enc = json.JSONEncoder(
        ensure_ascii=False, allow_nan=allow_nan, default=default, check_circular=check_circular
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard path
        return enc.encode
    markers: dict[int, Any] | None = {} if check_circular else None
    c_encode = make(
        markers,
        enc.default,
        json.encoder.encode_basestring,
        None,
        enc.key_separator,
        enc.item_separator,
        False,
        False,
        allow_nan,
    )
    join = "".join

    if markers is None:

        def encode(obj: Any) -> str:
            return join(c_encode(obj, 0))

        return encode

    def encode_checked(obj: Any) -> str:
        try:
            return join(c_encode(obj, 0))
        except BaseException:
            # the C encoder leaves the ids it was inside of behind on an error;
            # they would flag unrelated objects as circular later
            markers.clear()
            raise

    return encode_checked


_JOURNAL_JSON = json_encoder(default=str, check_circular=False)


@dataclass
class RunTables:
    """Rows of a run held column-compatible, as tuples (see ``_schema``)."""

    trials: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)

    def add(
        self,
        trial: tuple[Any, ...],
        scores: Sequence[tuple[Any, ...]],
        spans: Sequence[tuple[Any, ...]],
    ) -> None:
        """Take one finished trial with its score and span rows."""
        self.trials.append(trial)
        if scores:
            self.scores.extend(scores)
        if spans:
            self.spans.extend(spans)

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
        self._fh.write(_JOURNAL_JSON([trial, scores, spans]) + "\n")
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
        del cols
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


_COLUMNS = {"trials": TRIAL_COLUMNS, "scores": SCORE_COLUMNS, "spans": SPAN_COLUMNS}
_TRIAL_GROUP_ROWS = 1 << 18
_TRIAL_ORDER = [("case_id", "ascending"), ("trial", "ascending"), ("arm", "ascending")]


class TableWriter:
    """Writes a run's three Parquet tables as rows arrive, in bounded memory.

    Rows are buffered as tuples and converted to Arrow every ``convert_rows`` rows
    (small steps, so that a latency-bound run does the conversion while its event
    loop would otherwise wait, not all at the end). Score and span rows are written
    as Parquet row groups of ``batch_rows``; trial rows are kept as compact Arrow
    batches (under 200 bytes per trial instead of a tuple of Python objects) and,
    with ``sort_trials``, written in (case_id, trial, arm) order by :meth:`finish`.
    Everything is written to hidden ``.<table>.parquet.tmp`` files first;
    :meth:`finish` fsyncs and renames them into place, :meth:`abort` removes them,
    so a run folder never shows a half-written table.
    """

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        *,
        batch_rows: int = 65_536,
        convert_rows: int = 2_048,
        sort_trials: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.convert_rows = min(convert_rows, batch_rows)
        self.sort_trials = sort_trials
        self.rows = {name: 0 for name in TABLES}
        self.status_counts: dict[str, int] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
        self._converted: dict[str, list[Any]] = {"scores": [], "spans": []}
        self._trial_batches: list[Any] = []
        self._writers: dict[str, Any] = {}

    def _tmp(self, name: str) -> Path:
        return self.run_dir / f".{name}.parquet.tmp"

    def add(
        self,
        trial: tuple[Any, ...],
        scores: Sequence[tuple[Any, ...]],
        spans: Sequence[tuple[Any, ...]],
    ) -> None:
        """Take one finished trial with its score and span rows."""
        pending = self._pending
        trials = pending["trials"]
        trials.append(trial)
        status = trial[4]
        counts = self.status_counts
        counts[status] = counts.get(status, 0) + 1
        if trial[20]:
            self._count_versions(trial[20])
        limit = self.convert_rows
        if len(trials) >= limit:
            self._flush("trials")
        if scores:
            rows = pending["scores"]
            rows.extend(scores)
            if len(rows) >= limit:
                self._flush("scores")
        if spans:
            rows = pending["spans"]
            rows.extend(spans)
            if len(rows) >= limit:
                self._flush("spans")

    def add_tables(self, tables: RunTables) -> None:
        """Take every row of *tables* (trial rows with their scores and spans)."""
        for trial in tables.trials:
            self.add(trial, (), ())
        for name, rows in (("scores", tables.scores), ("spans", tables.spans)):
            for start in range(0, len(rows), self.convert_rows):
                self._pending[name].extend(rows[start : start + self.convert_rows])
                self._flush(name)

    def _count_versions(self, versions: Any) -> None:
        """Prompt/model versions reported by the target: component -> {version: trials}."""
        data = json.loads(versions) if isinstance(versions, str) else versions
        for comp, info in data.items():
            key = info.get("version", "?")
            entry = self.versions.setdefault(comp, {}).setdefault(
                key, {"trials": 0, "hash": info.get("hash")}
            )
            entry["trials"] += 1

    def _flush(self, name: str, *, final: bool = False) -> None:
        """Convert pending rows to Arrow; write a row group once enough are converted."""
        rows = self._pending[name]
        if rows:
            table = _table(name, rows, _COLUMNS[name], self.run_id)
            self._pending[name] = []
            self.rows[name] += table.num_rows
            if name == "trials":
                self._trial_batches.append(table.drop_columns(["run_id"]))
            else:
                self._converted[name].append(table)
        if name == "trials":
            return
        converted = self._converted[name]
        if converted and (final or sum(t.num_rows for t in converted) >= self.batch_rows):
            import pyarrow as pa

            self._converted[name] = []
            self._write(name, pa.concat_tables(converted))

    def _write(self, name: str, table: Any) -> None:
        import pyarrow.parquet as pq

        writer = self._writers.get(name)
        if writer is None:
            writer = pq.ParquetWriter(
                str(self._tmp(name)), arrow_schemas()[name], compression="zstd"
            )
            self._writers[name] = writer
        writer.write_table(table, row_group_size=max(self.batch_rows, table.num_rows))

    def _write_trials(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = arrow_schemas()["trials"]
        batches, self._trial_batches = self._trial_batches, []
        if not batches:
            self._write("trials", schema.empty_table())
            return
        table = pa.concat_tables(batches)
        del batches
        order = None
        if self.sort_trials and table.num_rows > 1:
            import numpy as np

            indices = pc.sort_indices(table, sort_keys=_TRIAL_ORDER)
            if not np.array_equal(indices.to_numpy(), np.arange(len(indices))):
                order = indices
        # few, large row groups: a reader converts them with less memory than many
        # small ones; the sorted copy is made one group at a time
        group = max(self.batch_rows, _TRIAL_GROUP_ROWS)
        for start in range(0, table.num_rows, group):
            if order is None:
                chunk = table.slice(start, group)
            else:
                chunk = table.take(order.slice(start, group))
            chunk = chunk.add_column(0, "run_id", pa.repeat(self.run_id, chunk.num_rows))
            self._write("trials", chunk.cast(schema))
            del chunk

    def finish(self) -> dict[str, int]:
        """Write what is left, fsync and rename the tables into place; row counts.

        The score and span tables are finished in a helper thread while this one
        sorts and writes the trials (Parquet encoding and fsync release the GIL):
        the run's last step, and on two cores about half the time. Nothing is
        renamed until all three are written and synced.
        """
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit-tables") as pool:
            side = pool.submit(self._finish_tables, ("scores", "spans"))
            self._finish_tables(("trials",))  # on an error, leaving the block waits for side
            side.result()
        for name in TABLES:
            os.replace(self._tmp(name), self.run_dir / f"{name}.parquet")
        return dict(self.rows)

    def _finish_tables(self, names: Sequence[str]) -> None:
        """Write the rest of *names*, close their writers and fsync their temp files."""
        for name in names:
            if name == "trials":
                self._flush(name)
                self._write_trials()
            else:
                self._flush(name, final=True)
                if name not in self._writers:
                    self._write(name, arrow_schemas()[name].empty_table())
            self._writers.pop(name).close()
            with self._tmp(name).open("rb+") as fh:
                os.fsync(fh.fileno())

    def abort(self) -> None:
        """Drop everything written so far (the journal still holds the rows)."""
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception:  # best effort on the way out
                pass
        self._writers.clear()
        self._trial_batches.clear()
        self._converted = {"scores": [], "spans": []}
        for name in TABLES:
            self._pending[name] = []
            self._tmp(name).unlink(missing_ok=True)


def write_tables(run_dir: Path, run_id: str, tables: RunTables) -> dict[str, int]:
    """Write ``trials/scores/spans.parquet`` atomically, rows in the order given."""
    writer = TableWriter(Path(run_dir), run_id, sort_trials=False)
    try:
        writer.add_tables(tables)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def read_tables(run_dir: str | Path) -> RunTables:
    """A run folder's Parquet tables back as row tuples (the ``RunTables`` layout)."""
    import pyarrow.parquet as pq

    out = RunTables()
    for name, target in (("trials", out.trials), ("scores", out.scores), ("spans", out.spans)):
        table = pq.read_table(Path(run_dir) / f"{name}.parquet", columns=list(_COLUMNS[name]))
        target.extend(zip(*(col.to_pylist() for col in table.columns), strict=True))
    return out


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
