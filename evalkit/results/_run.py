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
        import pyarrow.parquet as pq

        path = self.path / f"{name}.parquet"
        try:
            frame: pd.DataFrame = pq.read_table(path).to_pandas()
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


def open_run(path: str | Path) -> RunData:
    """Open a run folder (``reports/<suite>/<run-id>``)."""
    return RunData(path)
