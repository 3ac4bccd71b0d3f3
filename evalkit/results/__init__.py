"""Run folders: manifest, journal, and the trials / scores / spans Parquet tables."""

from evalkit.results._atomic import atomic_write_bytes, atomic_write_text
from evalkit.results._run import RunData, open_run
from evalkit.results._schema import SCORE_COLUMNS, SPAN_COLUMNS, TRIAL_COLUMNS
from evalkit.results._store import (
    Journal,
    RunTables,
    TableWriter,
    iter_run_dirs,
    read_journal,
    read_manifest,
    read_tables,
    write_manifest,
    write_scores,
    write_tables,
)

__all__ = [
    "SCORE_COLUMNS",
    "SPAN_COLUMNS",
    "TRIAL_COLUMNS",
    "Journal",
    "RunData",
    "RunTables",
    "TableWriter",
    "atomic_write_bytes",
    "atomic_write_text",
    "iter_run_dirs",
    "open_run",
    "read_journal",
    "read_manifest",
    "read_tables",
    "write_manifest",
    "write_scores",
    "write_tables",
]
