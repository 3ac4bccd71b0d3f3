"""Open a stored run and read its tables as pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import RunFolderError
from evalkit.results._store import TABLES, read_manifest

if TYPE_CHECKING:
    import pandas as pd

#: String columns that :meth:`RunData.stats_frames` reads as categoricals: the statistics
#: only compare, sort and group them, and a code per row is far smaller than a string per
#: row (1,000,000 trials: ~100 MiB less at the peak of a summary).
_STATS_CATEGORICAL = {"trials": ("arm", "case_id", "status"),
                      "scores": ("arm", "case_id", "scorer", "status")}
#: A scores ``details`` value holding this asks for the judge-error correction, which
#: needs the trials' ``output`` (the per-arm answer-length check).
_JUDGE_FLAG = '"correct_for_judge_error"'


class RunData:
    """A run folder: ``manifest`` plus ``trials``, ``scores`` and ``spans`` DataFrames.

    Tables load on first access, every column. :meth:`table` reads only some columns and
    :meth:`stats_frames` only what the statistics read, a fraction of the memory of a
    large run. Example::

        run = evalkit.open_run("reports/pydocs_smoke/20261123T233000-1a2b3c")
        run.trials.groupby("case_id").status.value_counts()
        run.table("trials", columns=["case_id", "latency_s"])
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = read_manifest(self.path)
        status = self.manifest.get("status")
        missing = [t for t in TABLES if not (self.path / f"{t}.parquet").is_file()]
        if missing:
            hint = (
                f" (the run did not finish: resume it with 'evalkit run --resume {self.path}')"
                if status in {"running", "interrupted"}
                else ""
            )
            raise RunFolderError(
                f"missing {', '.join(m + '.parquet' for m in missing)}{hint}", path=self.path
            )

    def table(
        self, name: str, columns: Iterable[str] | None = None, *,
        categorical: Iterable[str] = (),
    ) -> pd.DataFrame:
        """One table read afresh from its Parquet file, optionally only some columns.

        Args:
            name: ``trials``, ``scores`` or ``spans``.
            columns: the columns to read, in this order (default: all of them).
            categorical: string columns to read as pandas categoricals, categories in
                sorted order (so sorting by them orders rows as sorting the strings would).

        Raises:
            RunFolderError: when the table or a column does not exist (the message names
                the file and the column), a categorical column is not a string column, or
                the file cannot be read.

        Example::

            run.table("trials", ["case_id", "trial", "latency_s"], categorical=["case_id"])
        """
        if name not in TABLES:
            raise RunFolderError(f"no table {name!r} (tables: {', '.join(TABLES)})",
                                 path=self.path)
        schema = self._schema(name)
        if isinstance(columns, str):
            columns = [columns]
        wanted = list(schema.names) if columns is None else list(dict.fromkeys(columns))
        cats = list(dict.fromkeys([categorical] if isinstance(categorical, str)
                                  else categorical))
        file = self.path / f"{name}.parquet"
        unknown = [c for c in (*wanted, *cats) if c not in schema.names]
        if unknown:
            raise RunFolderError(
                f"no column {', '.join(map(repr, dict.fromkeys(unknown)))} (the columns are "
                f"{', '.join(schema.names)})", path=file)
        for c in cats:
            if c not in wanted:
                raise RunFolderError(f"categorical column {c!r} is not among the columns "
                                     "read", path=file)
            kind = schema.field(c).type
            if not _is_string(kind):
                raise RunFolderError(f"column {c!r} is {kind}, not a string column; only "
                                     "string columns can be read as categorical", path=file)
        return self._read(name, wanted, cats)

    def stats_frames(self, *, output: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(trials, scores)`` with only the columns the statistics read.

        For :func:`evalkit.stats.summarize_run`, :func:`~evalkit.stats.compare_runs`,
        :func:`~evalkit.stats.compare_frames` and the gate, which give the same results on
        these frames as on :attr:`trials` / :attr:`scores`. The columns are
        ``STATS_TRIAL_COLUMNS`` / ``STATS_SCORE_COLUMNS`` (``evalkit.stats._trials``) that
        the files have; ``arm``, ``case_id``, ``status`` and ``scorer`` are categoricals
        with sorted categories. Loaded once, on first call.

        Args:
            output: whether to load the trials' ``output``, which only the judge-error
                correction reads. None: when this run asks for it
                (:meth:`asks_judge_correction`). Comparing two stored runs, pass True to
                both when either asks: the correction then applies to both arms.
        """
        scores = self._stats_scores()
        if output is None:
            output = self.asks_judge_correction()
        cached: tuple[bool, pd.DataFrame] | None = self.__dict__.get("_stats_trials")
        if cached is None or (output and not cached[0]):
            from evalkit.stats._trials import STATS_TRIAL_COLUMNS

            columns = [c for c in STATS_TRIAL_COLUMNS if output or c != "output"]
            cached = (output, self._stats_table("trials", columns))
            self.__dict__["_stats_trials"] = cached
        return cached[1], scores

    def asks_judge_correction(self) -> bool:
        """Whether a scorer of this run asked for the judge-error correction.

        True when any ``details`` of the scores holds ``"correct_for_judge_error"`` (a
        superset of what the statistics act on, so loading ``output`` on it never changes
        a result).
        """
        scores = self._stats_scores()
        if "details" not in scores.columns or not len(scores):
            return False
        details = scores["details"]
        if details.dtype == object:
            details = details.dropna().astype(str)
        return bool(details.str.contains(_JUDGE_FLAG, regex=False).fillna(False).any())

    def _stats_scores(self) -> pd.DataFrame:
        frame: pd.DataFrame | None = self.__dict__.get("_stats_scores_frame")
        if frame is None:
            from evalkit.stats._trials import STATS_SCORE_COLUMNS

            frame = self._stats_table("scores", STATS_SCORE_COLUMNS)
            self.__dict__["_stats_scores_frame"] = frame
        return frame

    def _stats_table(self, name: str, columns: Iterable[str]) -> pd.DataFrame:
        schema = self._schema(name)
        present = [c for c in columns if c in schema.names]
        cats = [c for c in _STATS_CATEGORICAL[name] if c in present
                and _is_string(schema.field(c).type)]
        return self._read(name, present, cats)

    def _schema(self, name: str) -> Any:
        import pyarrow.parquet as pq

        path = self.path / f"{name}.parquet"
        try:
            return pq.read_schema(path)
        except Exception as exc:
            raise RunFolderError(f"cannot read {name}.parquet: {exc}", path=self.path) from exc

    def _read(self, name: str, columns: list[str] | None = None,
              categorical: list[str] | None = None) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path / f"{name}.parquet"
        try:
            table = pq.read_table(path, columns=columns, read_dictionary=categorical or None)
            tags = None
            if "tags" in table.column_names:
                pos = table.column_names.index("tags")
                try:
                    tags = _shared_lists(table.column("tags"))
                except (pa.ArrowException, TypeError, ValueError):
                    tags = None  # an unusual tags column: the default conversion
                if tags is not None:
                    table = table.remove_column(pos)
            # self_destruct frees each Arrow column once converted: a lower peak
            frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)
            del table
            if tags is not None:
                frame.insert(pos, "tags", tags)
            for column in categorical or ():
                frame[column] = _sorted_categories(frame[column])
            return frame
        except Exception as exc:
            raise RunFolderError(f"cannot read {name}.parquet: {exc}", path=self.path) from exc

    @cached_property
    def trials(self) -> pd.DataFrame:
        """One row per (arm, case, trial)."""
        return self._read("trials")

    @cached_property
    def scores(self) -> pd.DataFrame:
        """One row per (arm, case, trial, scorer) for trials that ran ``ok``."""
        return self._read("scores")

    @cached_property
    def spans(self) -> pd.DataFrame:
        """One row per span (LLM call, tool call, agent step)."""
        return self._read("spans")

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.manifest.get("run_id", self.path.name))

    @property
    def arms(self) -> list[str]:
        """Arm names in this run (``main``, or ``baseline`` and ``candidate``)."""
        return list(self.manifest.get("arms", {}) or ["main"])

    @property
    def dataset_hash(self) -> str | None:
        """Content hash of the dataset the run used."""
        ds = self.manifest.get("dataset") or {}
        value = ds.get("hash")
        return str(value) if value else None

    def __repr__(self) -> str:
        return f"RunData({str(self.path)!r})"


def _is_string(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _sorted_categories(column: pd.Series) -> pd.Series:
    """A categorical column with its categories in sorted order (Arrow keeps first-seen)."""
    categories = column.cat.categories
    ordered = categories.sort_values()
    if ordered.equals(categories):
        return column
    return column.cat.reorder_categories(ordered)


def _shared_lists(column: Any) -> Any:
    """A list<string> column as an object array whose equal lists share one array.

    ``to_pandas`` builds one NumPy array per row; every trial of a case carries the
    same tags, so a million trials would hold a million small arrays (~110 MB).
    Equal lists get one read-only array instead (null lists stay None). Returns
    None, for the default conversion, when a list holds a null element.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(column) == 0 or pc.list_flatten(column).null_count:
        return None
    value_type = getattr(column.type, "value_type", None)
    if value_type is None:
        return None
    if pa.types.is_null(value_type):
        # list<null>: every list is empty (null elements were ruled out above)
        column = column.cast(pa.list_(pa.string()))
    elif not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        return None  # e.g. list<int64>: keep the default conversion and its values
    # key: the joined strings and the length (so [] and [""] differ); null for null
    joined = pc.binary_join(column, "\x1f")
    length = pc.cast(pc.list_value_length(column), pa.string())
    key = pc.binary_join_element_wise(joined, length, "\x1e")
    if isinstance(key, pa.ChunkedArray):
        key = key.combine_chunks()
    codes = pc.dictionary_encode(key).indices.fill_null(-1).to_numpy(zero_copy_only=False)
    present = codes >= 0
    uniq, first = np.unique(codes[present], return_index=True)
    rows = np.flatnonzero(present)[first]
    values = np.empty(len(uniq) + 1, dtype=object)  # the last slot (code -1) is None
    for i, items in enumerate(column.take(pa.array(rows)).to_pylist()):
        arr = np.array(items, dtype=object)
        arr.flags.writeable = False
        values[uniq[i]] = arr
    return values[codes]


def open_run(path: str | Path) -> RunData:
    """Open a run folder (``reports/<suite>/<run-id>``)."""
    return RunData(path)
