"""Open a stored run and read its tables as pandas DataFrames."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import RunFolderError
from evalkit.results._store import TABLES, read_manifest

if TYPE_CHECKING:
    import pandas as pd


class RunData:
    """A run folder: ``manifest`` plus ``trials``, ``scores`` and ``spans`` DataFrames.

    Tables load on first access. Example::

        run = evalkit.open_run("reports/pydocs_smoke/20261123T233000-1a2b3c")
        run.trials.groupby("case_id").status.value_counts()
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

    def _read(self, name: str) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path / f"{name}.parquet"
        try:
            table = pq.read_table(path)
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
