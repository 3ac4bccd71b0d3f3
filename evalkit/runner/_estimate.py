"""Before a run: how many trials it plans, and what they should cost and take.

The projection comes from a previous run of the same suite (the newest complete one under
``reports/<suite>/``, or a run folder named with ``--estimate-from``): the mean per trial
of cost, tokens and latency, averaged per case first, so cases weigh as they will in the
new run, with a 95% interval that treats cases (or dataset clusters) as the sampling unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evalkit.runner._engine import Arm

__all__ = ["Projection", "RunEstimate", "estimate_run"]

# trial column → label; summed per trial in the new run
_PROJECTED = (
    ("cost_usd", "cost (USD)"),
    ("input_tokens", "input tokens"),
    ("output_tokens", "output tokens"),
    ("llm_calls", "model calls"),
    ("latency_s", "trial latency (s)"),
)


@dataclass(frozen=True, slots=True)
class Projection:
    """One quantity of the planned run, projected from a previous run.

    Attributes:
        column: the trials column (``cost_usd`` …).
        label: what it is, for people.
        per_trial: mean per trial in the basis run (cases weighted equally).
        total: ``per_trial`` × the planned trials.
        low: lower end of the 95% interval of ``total``.
        high: upper end.
    """

    column: str
    label: str
    per_trial: float
    total: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (NaN as None)."""
        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"label": self.label, "per_trial": clean(self.per_trial),
                "total": clean(self.total), "ci_low": clean(self.low),
                "ci_high": clean(self.high)}


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """What a run of the suite would do, without running it.

    Attributes:
        suite: the suite's name.
        n_cases: cases selected.
        trials_per_case: K.
        arms: the arms, each running every case K times.
        concurrency: trials in flight.
        basis: the run folder the projection comes from (None: no previous run).
        notes: why there is no projection, or what may make it wrong.
        projections: column → projection.
        wall_s: projected wall time, ``trials × mean latency / min(concurrency, trials)``
            (a lower bound: rate limits, retries and queueing only add to it).
    """

    suite: str
    n_cases: int
    trials_per_case: int
    arms: tuple[str, ...]
    concurrency: int
    basis: str | None = None
    notes: tuple[str, ...] = ()
    projections: dict[str, Projection] = field(default_factory=dict)
    wall_s: float | None = None

    @property
    def n_trials(self) -> int:
        """Trials planned: cases × K × arms."""
        return self.n_cases * self.trials_per_case * len(self.arms)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "suite": self.suite,
            "n_cases": self.n_cases,
            "trials_per_case": self.trials_per_case,
            "arms": list(self.arms),
            "n_trials": self.n_trials,
            "concurrency": self.concurrency,
            "basis": self.basis,
            "notes": list(self.notes),
            "projections": {k: p.to_dict() for k, p in self.projections.items()},
            "wall_s": self.wall_s,
        }


def estimate_run(
    suite: Any,
    *,
    arms: Sequence[Arm] | None = None,
    case_ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    basis: str | Path | None = None,
    reports_root: str | Path = "reports",
) -> RunEstimate:
    """Plan a run of *suite* and project its cost, tokens and time from a previous run.

    Args:
        suite: the loaded suite.
        arms: the arms (default one arm ``main``).
        case_ids: only these cases (as ``evalkit run --cases``).
        tags: only cases with these tags.
        basis: a run folder to project from; default the newest complete run of this
            suite under ``reports_root/<suite name>/``.
        reports_root: where run folders live.

    Raises:
        ConfigError, DatasetError: bad suite or selection (as ``evalkit run`` would).
        RunFolderError: when ``basis`` is not a readable run folder.
    """
    from evalkit.runner._runner import _select_cases

    spec = suite.spec
    dataset = suite.load_dataset()
    cases = _select_cases(suite, dataset, case_ids, tags)
    arm_names = tuple(a.name for a in (arms or [Arm("main", {})]))
    plan = RunEstimate(suite.name, len(cases), int(spec.trials), arm_names,
                       int(spec.concurrency))
    notes: list[str] = []
    folder = Path(basis) if basis is not None else _newest_run(Path(reports_root) / suite.name)
    if folder is None:
        notes.append(f"no complete run of {suite.name!r} under {reports_root}/{suite.name}/ "
                     "to project from: run a pilot (e.g. --trials 1 --cases a,b) first, "
                     "or name one with --estimate-from")
        return replace(plan, notes=tuple(notes))

    from evalkit.results import open_run

    run = open_run(folder)
    if run.dataset_hash and run.dataset_hash != dataset.hash:
        notes.append(f"the basis run used another version of dataset {dataset.name} "
                     f"({run.dataset_hash[:19]}, now {dataset.hash[:19]})")
    if run.manifest.get("status") != "complete":
        notes.append(f"the basis run is {run.manifest.get('status', 'not complete')}")
    columns = [c for c, _ in _PROJECTED]
    trials = run.table("trials", _present(run, ["case_id", "cluster", *columns]))
    selected = {c.id for c in cases}
    mine = trials[trials["case_id"].astype(str).isin(selected)]
    if len(mine) and mine["case_id"].nunique() >= 2:
        trials = mine
    else:
        notes.append("the basis run has fewer than 2 of the selected cases: projected "
                     "from all of its cases")
    projections = {}
    n = plan.n_trials
    for column, label in _PROJECTED:
        if column in trials.columns:
            projections[column] = _project(trials, column, label, n)
    wall = None
    lat = projections.get("latency_s")
    if lat is not None and math.isfinite(lat.per_trial) and n:
        wall = n * lat.per_trial / min(plan.concurrency, n)
    return replace(plan, basis=str(folder), notes=tuple(notes), projections=projections,
                   wall_s=wall)


def _present(run: Any, wanted: Sequence[str]) -> list[str]:
    names = set(run._schema("trials").names)  # a RunFolderError names an unreadable file
    return [c for c in dict.fromkeys(wanted) if c in names]


def _newest_run(folder: Path) -> Path | None:
    from evalkit.results._store import iter_run_dirs, read_manifest

    if not folder.is_dir():
        return None
    for run_dir in iter_run_dirs(folder):
        try:
            if read_manifest(run_dir).get("status") == "complete":
                return run_dir
        except Exception:  # an unreadable folder is not a basis; try the next
            continue
    return None


def _project(trials: Any, column: str, label: str, n_trials: int) -> Projection:
    """Mean per trial (per case first), and its 95% interval scaled to *n_trials*."""
    import numpy as np

    from evalkit.stats import clustered_mean
    from evalkit.stats._intervals import t_quantile

    values = trials[column].astype(float)
    keep = values.notna().to_numpy()
    frame = trials.loc[keep]
    if not len(frame):
        return Projection(column, label, math.nan, math.nan, math.nan, math.nan)
    per_case = frame.assign(_v=values[keep]).groupby(frame["case_id"].astype(str),
                                                      sort=True)
    means = per_case["_v"].mean()
    clusters = None
    if "cluster" in frame.columns:
        first = per_case["cluster"].first()
        clusters = np.where(first.notna(), "cluster:" + first.astype(str),
                            "case:" + first.index.astype(str))
    cm = clustered_mean(means.to_numpy(dtype=float), clusters)
    per_trial = cm.mean
    if math.isfinite(cm.se) and cm.n_clusters >= 2:
        half = t_quantile(0.975, cm.n_clusters - 1) * cm.se
        low, high = max(0.0, per_trial - half), per_trial + half
    else:
        low = high = math.nan
    return Projection(column, label, per_trial, per_trial * n_trials, low * n_trials,
                      high * n_trials)
