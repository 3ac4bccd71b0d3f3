"""Turn stored trials and scores into per-trial outcomes, then per-case values.

The rules that decide what counts (README of the run folder, DESIGN.md):

- **Task completion** of a trial: status ``ok`` and every completion scorer passed. When
  no scorer is flagged ``completion``, every scorer that reports pass/fail counts; with no
  scorer at all, completion is ``status == "ok"``. A definite failure of any completion
  scorer decides the trial (failed); otherwise a ``scorer_error``/``judge_error`` of a
  completion scorer makes completion undefined: the trial leaves that denominator and is
  counted in ``n_excluded``. (Excluding a trial that is known to have failed would bias
  the rate upwards, hence the three-valued AND.)
- **Non-ok trials** (``error``, ``timeout``, ``infra_error``) follow ``missing``: ``"fail"``
  counts them as 0 in completion, pass rates and mean scores; ``"exclude"`` drops them
  from those metrics and counts them in ``n_excluded``. Never silently.
- A per-metric pass rate / mean score leaves out trials whose scorer errored (counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from evalkit.errors import InputError
from evalkit.stats._judge import JudgeCalibration, judge_calibrations

__all__ = [
    "STATS_SCORE_COLUMNS",
    "STATS_TRIAL_COLUMNS",
    "ArmTrials",
    "CaseValues",
    "MissingPolicy",
    "prepare_arm",
]

MissingPolicy = Literal["fail", "exclude"]

_TRIAL_COLUMNS = ("case_id", "trial", "status")
_SCORE_COLUMNS = ("case_id", "trial", "scorer", "status")
#: The columns of the ``trials`` / ``scores`` tables the statistics read. A caller that
#: only summarises or compares can load just these (``output`` is read only when a judged
#: metric is corrected for judge error: the per-arm answer-length check).
STATS_TRIAL_COLUMNS = ("arm", "case_id", "trial", "status", "cluster", "tags", "outcome",
                       "latency_s", "cost_usd", "tool_calls", "tool_errors", "output")
STATS_SCORE_COLUMNS = ("arm", "case_id", "trial", "scorer", "metric", "status", "value",
                       "passed", "weight", "completion", "details")
_ERROR_STATUSES = ("scorer_error", "judge_error")
_TRIAL_STATUSES = ("ok", "error", "timeout", "infra_error")


@dataclass(frozen=True, slots=True)
class CaseValues:
    """One metric reduced per case.

    Attributes:
        case_ids: the cases that have at least one defined trial, sorted.
        clusters: the cluster label of each of those cases.
        mean: the case's mean over its defined trials (p̂_i).
        n: defined trials per case.
        successes: sum of the per-trial values per case (successes for binary metrics).
        var_within: unbiased variance of the case's trial values (NaN with one trial).
        n_excluded: trials of this arm left out of the metric (undefined / excluded).
    """

    case_ids: NDArray[np.object_]
    clusters: NDArray[np.object_]
    mean: NDArray[np.float64]
    n: NDArray[np.int64]
    successes: NDArray[np.float64]
    var_within: NDArray[np.float64]
    n_excluded: int

    @property
    def n_trials(self) -> int:
        """Defined trials behind the metric."""
        return int(self.n.sum())

    @property
    def clustered(self) -> bool:
        """Whether any cluster holds more than one trial (so a design effect applies)."""
        if self.n.size == 0:
            return False
        from evalkit.stats._metrics import cluster_codes

        codes, _ = cluster_codes(self.clusters)
        return bool(np.bincount(codes, weights=self.n).max() > 1)

    @classmethod
    def from_outcomes(
        cls,
        outcomes: Sequence[ArrayLike] | NDArray[np.float64],
        case_ids: Sequence[str] | None = None,
        clusters: Sequence[str] | None = None,
    ) -> CaseValues:
        """Per-case values straight from per-trial outcomes (one row or list per case).

        NaN outcomes are left out, like undefined trials. Handy for simulations that do not
        need the run tables.
        """
        rows = [np.asarray(r, dtype=float) for r in outcomes]
        rows = [r[~np.isnan(r)] for r in rows]
        n = np.array([r.size for r in rows], dtype=np.int64)
        keep = n > 0
        ids = np.array(
            list(case_ids) if case_ids is not None else [f"c{i}" for i in range(len(rows))],
            dtype=object,
        )
        cl = np.array(list(clusters), dtype=object) if clusters is not None else ids.copy()
        mean = np.array([r.mean() if r.size else math.nan for r in rows])
        var = np.array([r.var(ddof=1) if r.size > 1 else math.nan for r in rows])
        succ = np.array([r.sum() for r in rows])
        return cls(ids[keep], cl[keep], mean[keep], n[keep], succ[keep], var[keep],
                   int(sum(len(np.asarray(o)) for o in outcomes) - n.sum()))

    def subset(self, keep: NDArray[np.bool_]) -> CaseValues:
        """The same metric restricted to some cases."""
        return CaseValues(
            self.case_ids[keep],
            self.clusters[keep],
            self.mean[keep],
            self.n[keep],
            self.successes[keep],
            self.var_within[keep],
            self.n_excluded,
        )


@dataclass(frozen=True, slots=True)
class ArmTrials:
    """Per-trial outcomes of one arm, with NaN where a value is undefined or excluded.

    Attributes:
        arm: the arm name.
        table: one row per trial with ``case_id``, ``trial``, ``status``, ``cluster_key``,
            ``latency_s``, ``cost_usd``, ``tool_calls``, ``tool_errors``,
            ``any_tool_error`` (1.0 when the trial had at least one), ``completion``,
            and ``pass:<metric>`` / ``score:<metric>`` per scorer metric.
        pass_metrics: metrics that report pass/fail.
        score_metrics: every scorer metric.
        case_tags: tags of each case.
        has_clusters: whether the dataset's cluster field was set.
        counts: trials by status, scorer errors, outcomes.
        case_index: the arm's case ids, sorted; ``case_codes`` index into it.
        case_codes: per trial row, the position of its case in ``case_index``.
        case_clusters: the cluster key of each case in ``case_index``.
        judge_calibrations: judged metrics to correct for judge error, with the
            calibration stored beside their scores.
        median_output_chars: median length of the stored outputs (only measured when a
            judged metric is corrected: the per-arm answer-style check).
    """

    arm: str
    table: pd.DataFrame
    pass_metrics: tuple[str, ...]
    score_metrics: tuple[str, ...]
    case_tags: dict[str, tuple[str, ...]]
    has_clusters: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    case_index: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    case_codes: NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    case_clusters: NDArray[np.object_] = field(
        default_factory=lambda: np.empty(0, dtype=object)
    )
    judge_calibrations: dict[str, JudgeCalibration] = field(default_factory=dict)
    median_output_chars: float = math.nan

    @property
    def case_ids(self) -> list[str]:
        """Every case of the arm, sorted."""
        return [str(c) for c in self.case_index]

    def case_sums(self, column: str) -> NDArray[np.float64]:
        """Per-case sum of a per-trial column (in ``case_index`` order)."""
        values = self.table[column].to_numpy(dtype=float)
        sums = np.bincount(self.case_codes, weights=values, minlength=self.case_index.size)
        return sums.astype(np.float64)

    def per_case(self, column: str, *, cases: Iterable[str] | None = None) -> CaseValues:
        """Reduce a per-trial column to per-case values (NaN trials left out)."""
        values = self.table[column].to_numpy(dtype=float)
        codes = self.case_codes
        if cases is not None:
            wanted = np.isin(self.case_index.astype(str), np.asarray(list(cases), dtype=str))
            in_cases = wanted[codes]
            values, codes = values[in_cases], codes[in_cases]
        defined = ~np.isnan(values)
        n_excluded = int((~defined).sum())
        v, c = values[defined], codes[defined]
        size = self.case_index.size
        n = np.bincount(c, minlength=size)
        s = np.bincount(c, weights=v, minlength=size)
        ss = np.bincount(c, weights=v * v, minlength=size)
        keep = n > 0
        n_k, s_k = n[keep].astype(np.int64), s[keep].astype(np.float64)
        mean = s_k / n_k
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(n_k > 1, np.maximum(ss[keep] - s_k * mean, 0.0) / (n_k - 1), math.nan)
        return CaseValues(
            self.case_index[keep], self.case_clusters[keep], mean, n_k, s_k,
            var.astype(np.float64), n_excluded,
        )


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} is missing column(s) {', '.join(missing)}")


def _kleene_all(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Three-valued AND across columns: 0 if any 0, else NaN if any NaN, else 1."""
    out = np.ones(matrix.shape[0])
    if matrix.shape[1] == 0:
        return out
    out[np.isnan(matrix).any(axis=1)] = math.nan
    out[(matrix == 0).any(axis=1)] = 0.0
    return out


def _state_matrix(
    n_trials: int, row: NDArray[np.intp], scorer: NDArray[np.object_],
    values: NDArray[np.float64], scorers: list[str],
) -> NDArray[np.float64]:
    """(trial × scorer) matrix of ``values`` with NaN for missing or errored rows."""
    out = np.full((n_trials, len(scorers)), math.nan)
    for j, name in enumerate(scorers):
        pick = scorer == name
        out[row[pick], j] = values[pick]
    return out


def prepare_arm(
    trials: pd.DataFrame,
    scores: pd.DataFrame,
    arm: str | None = None,
    *,
    missing: MissingPolicy = "fail",
) -> ArmTrials:
    """Per-trial outcomes of one arm (see the module docstring for the rules).

    Args:
        trials: the run's ``trials`` table (any number of arms).
        scores: the run's ``scores`` table.
        arm: the arm to keep; None when the tables hold a single arm.
        missing: how non-ok trials count: ``"fail"`` (as 0) or ``"exclude"``.

    Raises:
        InputError: when columns are missing, the arm is absent, a (case, trial) pair
            repeats, or scores point at trials that do not exist.
    """
    if missing not in ("fail", "exclude"):
        raise InputError(f"missing must be 'fail' or 'exclude', got {missing!r}")
    _require(trials, _TRIAL_COLUMNS, "trials")
    if len(scores.columns):
        _require(scores, _SCORE_COLUMNS, "scores")
    t = trials
    s = scores if len(scores.columns) else pd.DataFrame(columns=list(_SCORE_COLUMNS))
    if arm is None:
        arms = t["arm"].unique().tolist() if "arm" in t.columns else []
        if len(arms) > 1:
            raise InputError(f"trials hold several arms ({', '.join(map(str, arms))}); name one")
        arm = str(arms[0]) if arms else "main"
    elif "arm" in t.columns:
        in_arm = (t["arm"] == arm).to_numpy(dtype=bool, na_value=False)
        if not in_arm.any():
            raise InputError(f"arm {arm!r} has no trials")
        t = t[in_arm]
        if "arm" in s.columns:
            s = s[s["arm"] == arm]
    if t.empty:
        raise InputError("there are no trials to summarise")
    unknown = sorted(set(map(str, t["status"].unique())) - set(_TRIAL_STATUSES))
    if unknown:
        raise InputError(f"trials have unknown status value(s) {unknown}")

    # Sort only the columns the statistics read: the stored outputs, versions and error
    # texts can be most of a run's memory (1,000,000 trials) and are not needed here,
    # except the outputs for the answer-length check of a corrected judge.
    wanted = ["arm", "case_id", "trial", "status", "cluster", "tags", "outcome",
              "latency_s", "cost_usd", "tool_calls", "tool_errors"]
    if "details" in scores.columns and len(scores) and judge_calibrations(
            scores, _metric_map(scores)):
        wanted.append("output")
    t = t[[c for c in wanted if c in t.columns]]
    t = t.sort_values(["case_id", "trial"], kind="stable").reset_index(drop=True)
    t = t.assign(case_id=t["case_id"].astype(str), trial=t["trial"].astype(np.int64))
    keys = pd.MultiIndex.from_frame(t[["case_id", "trial"]])
    if keys.has_duplicates:
        dup = keys[keys.duplicated()][0]
        raise InputError(f"trial {dup[1]} of case {dup[0]!r} appears more than once")

    # Scorer sets are suite-wide: decide them before narrowing to ok trials.
    all_scores = scores if len(scores.columns) else s
    scorer_names = sorted(map(str, all_scores["scorer"].unique())) if len(all_scores) else []
    metric_of = _metric_map(all_scores)
    reports_pass = _reports_pass(all_scores)
    flagged = _flagged_completion(all_scores)
    completion_scorers = flagged or [n for n in scorer_names if reports_pass.get(n, False)]

    s = s.assign(
        case_id=s["case_id"].astype(str),
        trial=s["trial"].astype(np.int64),
        scorer=s["scorer"].astype(str),
    )
    dup_scores = s.duplicated(["case_id", "trial", "scorer"])
    if dup_scores.any():
        first = s[dup_scores].iloc[0]
        raise InputError(
            f"scorer {first['scorer']!r} scored trial {first['trial']} of case "
            f"{first['case_id']!r} twice"
        )
    s_keys = pd.MultiIndex.from_frame(s[["case_id", "trial"]]) if len(s) else None
    row = keys.get_indexer(s_keys) if s_keys is not None else np.zeros(0, dtype=np.intp)
    if s_keys is not None and (row < 0).any():
        bad = s_keys[np.flatnonzero(row < 0)[0]]
        raise InputError(f"scores refer to trial {bad[1]} of case {bad[0]!r}, not in trials")
    scorer_col = s["scorer"].to_numpy(dtype=object)

    status = t["status"].to_numpy(dtype=object)
    ok = status == "ok"
    non_ok_value = 0.0 if missing == "fail" else math.nan

    errored = s["status"].isin(_ERROR_STATUSES).to_numpy() if len(s) else np.zeros(0, bool)
    passed = _passed_column(s, errored)
    value = s["value"].to_numpy(dtype=float) if "value" in s.columns else np.full(len(s), 1.0)
    value = np.where(errored, math.nan, value)
    weight = s["weight"].to_numpy(dtype=float) if "weight" in s.columns else np.ones(len(s))
    weighted = value * weight
    weight = np.where(errored, 0.0, weight)

    def matrix(values: NDArray[np.float64], names: list[str]) -> NDArray[np.float64]:
        return _state_matrix(len(t), row, scorer_col, values, names)

    columns: dict[str, NDArray[np.float64]] = {}
    if scorer_names:
        comp = _kleene_all(matrix(passed, completion_scorers))
    else:
        comp = np.ones(len(t))
    columns["completion"] = np.where(ok, comp, non_ok_value)

    metrics = sorted(set(metric_of.values()))
    pass_metrics: list[str] = []
    for metric in metrics:
        members = [n for n in scorer_names if metric_of[n] == metric]
        pass_members = [n for n in members if reports_pass.get(n, False)]
        if pass_members:
            pass_metrics.append(metric)
            p = _kleene_all(matrix(passed, pass_members))
            columns[f"pass:{metric}"] = np.where(ok, p, non_ok_value)
        num = matrix(weighted, members)
        den = matrix(weight, members)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = num.sum(axis=1) / den.sum(axis=1)  # NaN if any member is NaN
        columns[f"score:{metric}"] = np.where(ok, mean, non_ok_value)

    case_index, first_row, case_codes = np.unique(
        t["case_id"].to_numpy(dtype=str), return_index=True, return_inverse=True
    )
    cluster_keys = _cluster_keys(t)
    calibrations = {m: c for m, c in judge_calibrations(all_scores, metric_of).items()
                    if m in pass_metrics}
    output_chars = math.nan
    if calibrations and "output" in t.columns and len(t):
        output_chars = float(t["output"].fillna("").astype(str).str.len().median())
    table = pd.DataFrame(
        {
            "case_id": t["case_id"].to_numpy(dtype=object),
            "trial": t["trial"].to_numpy(),
            "status": status,
            "cluster_key": cluster_keys,
            "latency_s": _num(t, "latency_s"),
            "cost_usd": _num(t, "cost_usd"),
            "tool_calls": _num(t, "tool_calls", 0.0),
            "tool_errors": _num(t, "tool_errors", 0.0),
            "any_tool_error": (_num(t, "tool_errors", 0.0) > 0).astype(float),
            **columns,
        }
    )
    return ArmTrials(
        arm=str(arm),
        table=table,
        pass_metrics=tuple(pass_metrics),
        score_metrics=tuple(metrics),
        case_tags=_case_tags(t),
        has_clusters=_has_clusters(t),
        counts=_counts(t, s),
        case_index=case_index.astype(object),
        case_codes=case_codes.astype(np.intp),
        case_clusters=cluster_keys[first_row],
        judge_calibrations=calibrations,
        median_output_chars=output_chars,
    )


def _num(t: pd.DataFrame, column: str, default: float = math.nan) -> NDArray[np.float64]:
    if column not in t.columns:
        return np.full(len(t), default)
    return pd.to_numeric(t[column], errors="coerce").to_numpy(dtype=float)


def _metric_map(scores: pd.DataFrame) -> dict[str, str]:
    if not len(scores):
        return {}
    names = scores["scorer"].astype(str)
    if "metric" in scores.columns:
        metric = scores["metric"].where(scores["metric"].notna(), names).astype(str)
        metric = metric.where(metric != "", names)
    else:
        metric = names
    pairs = pd.DataFrame({"scorer": names, "metric": metric}).drop_duplicates()
    clash = pairs[pairs["scorer"].duplicated()]
    if len(clash):
        raise InputError(f"scorer {clash['scorer'].iloc[0]!r} reports several metric names")
    return dict(zip(pairs["scorer"], pairs["metric"], strict=True))


def _reports_pass(scores: pd.DataFrame) -> dict[str, bool]:
    if not len(scores) or "passed" not in scores.columns:
        return {}
    has = scores["passed"].notna()
    return {str(k): bool(v) for k, v in has.groupby(scores["scorer"].astype(str)).any().items()}


def _flagged_completion(scores: pd.DataFrame) -> list[str]:
    if not len(scores) or "completion" not in scores.columns:
        return []
    flag = scores["completion"].fillna(False).astype(bool)
    return sorted(map(str, scores.loc[flag, "scorer"].unique()))


def _passed_column(s: pd.DataFrame, errored: NDArray[np.bool_]) -> NDArray[np.float64]:
    if "passed" not in s.columns or not len(s):
        return np.full(len(s), math.nan)
    col = s["passed"]
    try:
        out = col.astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=math.nan)
    except (TypeError, ValueError):
        raw = col.to_numpy(dtype=object)
        out = np.array([math.nan if v is None or v is pd.NA or v != v else float(bool(v))
                        for v in raw])
    return np.where(errored, math.nan, out)


def _cluster_keys(t: pd.DataFrame) -> NDArray[np.object_]:
    case = t["case_id"].to_numpy(dtype=object)
    if "cluster" not in t.columns:
        return case
    cl = t["cluster"]
    # A case without a cluster value is its own cluster.
    keys = ("cluster:" + cl.astype(object).astype(str)).where(
        cl.notna(), "case:" + pd.Series(case, index=cl.index).astype(str))
    return keys.to_numpy(dtype=object)


def _has_clusters(t: pd.DataFrame) -> bool:
    return "cluster" in t.columns and bool(t["cluster"].notna().any())


def _case_tags(t: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    if "tags" not in t.columns:
        return {str(c): () for c in t["case_id"].unique()}
    # Tags belong to the case (the runner copies the case's tags onto each trial), so
    # the first row of each case holds them: 10,000 cases cost 10,000 look-ups, not 10 x.
    first = ~t["case_id"].duplicated().to_numpy()
    out: dict[str, tuple[str, ...]] = {}
    cases = t["case_id"].to_numpy(dtype=object)[first]
    values = t["tags"].to_numpy(dtype=object)[first]
    for case, value in zip(cases, values, strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[str(case)] = ()
        else:
            out[str(case)] = tuple(sorted({str(v) for v in value}))
    return out


def _counts(t: pd.DataFrame, s: pd.DataFrame) -> dict[str, dict[str, int]]:
    by_status = {k: int((t["status"] == k).sum()) for k in _TRIAL_STATUSES}
    scorer_status = {k: int((s["status"] == k).sum()) for k in _ERROR_STATUSES} if len(s) else {
        k: 0 for k in _ERROR_STATUSES
    }
    outcomes: dict[str, int] = {}
    if "outcome" in t.columns:
        vc = t["outcome"].dropna().astype(str).value_counts()
        outcomes = {str(k): int(v) for k, v in vc.items()}
    return {"trials": by_status, "scores": scorer_status, "outcomes": outcomes}
