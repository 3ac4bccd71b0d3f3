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
from typing import Any, Literal

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
        clusters: the cluster of each of those cases: a label, or an integer code (what
            :func:`prepare_arm` gives; cheaper for every clustered statistic).
        mean: the case's mean over its defined trials (p̂_i).
        n: defined trials per case.
        successes: sum of the per-trial values per case (successes for binary metrics).
        var_within: unbiased variance of the case's trial values (NaN with one trial).
        n_excluded: trials of this arm left out of the metric (undefined / excluded).
        positions: where each case sits in its arm's ``case_index`` (None when the values
            were not reduced from an arm).
    """

    case_ids: NDArray[np.object_]
    clusters: NDArray[Any]
    mean: NDArray[np.float64]
    n: NDArray[np.int64]
    successes: NDArray[np.float64]
    var_within: NDArray[np.float64]
    n_excluded: int
    positions: NDArray[np.intp] | None = None

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
            None if self.positions is None else self.positions[keep],
        )


@dataclass(frozen=True, slots=True)
class ArmTrials:
    """Per-trial outcomes of one arm, with NaN where a value is undefined or excluded.

    Attributes:
        arm: the arm name.
        table: one row per trial, in ``case_codes`` order, with ``trial``, ``status``
            (categorical), ``latency_s``, ``cost_usd``, ``tool_calls``, ``tool_errors``,
            ``any_tool_error`` (1.0 when the trial had at least one), ``completion``,
            and ``pass:<metric>`` / ``score:<metric>`` per scorer metric.
        pass_metrics: metrics that report pass/fail.
        score_metrics: every scorer metric.
        case_tags: tags of each case.
        has_clusters: whether the dataset's cluster field was set.
        counts: trials by status, scorer errors, outcomes.
        case_index: the arm's case ids, sorted; ``case_codes`` index into it.
        case_codes: per trial row, the position of its case in ``case_index``.
        case_clusters: per case in ``case_index``, the code of its cluster in
            ``cluster_labels`` (integer codes are what every clustered statistic needs).
        cluster_labels: the cluster keys: ``cluster:<value>``, or ``case:<id>`` for a case
            without a cluster value (its own cluster).
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
    case_clusters: NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    cluster_labels: NDArray[np.object_] = field(
        default_factory=lambda: np.empty(0, dtype=object)
    )
    judge_calibrations: dict[str, JudgeCalibration] = field(default_factory=dict)
    median_output_chars: float = math.nan
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def case_ids(self) -> list[str]:
        """Every case of the arm, sorted."""
        return [str(c) for c in self.case_index]

    def positions(self, cases: NDArray[np.object_]) -> NDArray[np.intp]:
        """Where each of ``cases`` sits in ``case_index`` (−1 when the arm lacks it)."""
        index = self._memo.get("index")
        if index is None:
            index = self._memo["index"] = pd.Index(self.case_index, dtype=object)
        return np.asarray(index.get_indexer(pd.Index(np.asarray(cases, dtype=object))),
                          dtype=np.intp)

    def tag_masks(self) -> dict[str, NDArray[np.bool_]]:
        """Tag → which of ``case_index`` carry it (tags sorted)."""
        masks: dict[str, NDArray[np.bool_]] | None = self._memo.get("tags")
        if masks is None:
            hits: dict[str, list[int]] = {}
            for i, case in enumerate(self.case_index.tolist()):
                for tag in self.case_tags.get(case, ()):
                    hits.setdefault(tag, []).append(i)
            masks = {}
            for tag in sorted(hits):
                mask = np.zeros(self.case_index.size, dtype=bool)
                mask[hits[tag]] = True
                masks[tag] = mask
            self._memo["tags"] = masks
        return masks

    def memoized(
        self, key: tuple[Any, ...], inputs: tuple[NDArray[Any], ...], compute: Any
    ) -> Any:
        """``compute()``, reused while ``key`` and the ``inputs`` arrays are unchanged.

        A summary and a comparison of the same arm need some costly statistics twice
        (the latency-quantile bootstrap); the inputs are compared, not trusted.
        """
        hit = self._memo.get(key)
        if hit is not None and len(hit[0]) == len(inputs) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(hit[0], inputs,
                                                                       strict=True)):
            return hit[1]
        value = compute()
        self._memo[key] = (inputs, value)
        return value

    def case_sums(self, column: str) -> NDArray[np.float64]:
        """Per-case sum of a per-trial column (in ``case_index`` order)."""
        values = self.table[column].to_numpy(dtype=float)
        sums = np.bincount(self.case_codes, weights=values, minlength=self.case_index.size)
        return sums.astype(np.float64)

    def case_mask(self, cases: Iterable[str]) -> NDArray[np.bool_]:
        """Which of ``case_index`` are among ``cases``."""
        pos = self.positions(np.array([str(c) for c in cases], dtype=object))
        mask = np.zeros(self.case_index.size, dtype=bool)
        mask[pos[pos >= 0]] = True
        return mask

    def per_case(
        self, column: str, *, cases: Iterable[str] | None = None,
        case_mask: NDArray[np.bool_] | None = None,
    ) -> CaseValues:
        """Reduce a per-trial column to per-case values (NaN trials left out).

        ``cases`` (ids) or ``case_mask`` (over ``case_index``) restricts the cases.
        """
        values = self.table[column].to_numpy(dtype=float)
        codes = self.case_codes
        if cases is not None and case_mask is None:
            case_mask = self.case_mask(cases)
        if case_mask is not None:
            in_cases = case_mask[codes]
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
            var.astype(np.float64), n_excluded, np.flatnonzero(keep),
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
    n_trials: int, row: NDArray[np.intp], scorer: NDArray[np.intp],
    values: NDArray[np.float64], scorers: list[int],
) -> NDArray[np.float64]:
    """(trial × scorer) matrix of ``values`` with NaN for missing or errored rows."""
    out = np.full((n_trials, len(scorers)), math.nan)
    for j, code in enumerate(scorers):
        pick = scorer == code
        out[row[pick], j] = values[pick]
    return out


@dataclass(frozen=True, slots=True)
class ScorerInfo:
    """What the suite's scorers are, decided over every arm's scores (suite-wide).

    Computed once per scores table: :func:`compare_runs` prepares two arms from the same
    table and passes it to both.
    """

    names: tuple[str, ...]
    metric_of: dict[str, str]
    reports_pass: dict[str, bool]
    completion: tuple[str, ...]
    calibrations: dict[str, JudgeCalibration]
    calibrations_by_arm: dict[str, dict[str, JudgeCalibration]] = field(default_factory=dict)

    @classmethod
    def of(cls, scores: pd.DataFrame) -> ScorerInfo:
        """The scorer facts of a ``scores`` table (any number of arms)."""
        if not len(scores.columns) or not len(scores):
            return cls((), {}, {}, (), {})
        names = tuple(sorted(map(str, scores["scorer"].unique())))
        metric_of = _metric_map(scores)
        reports_pass = _reports_pass(scores)
        flagged = _flagged_completion(scores)
        completion = flagged or [n for n in names if reports_pass.get(n, False)]
        # The correction is asked for per scorer and stored with each arm's scores: two
        # stored runs compared may differ (one asked, the other did not).
        by_arm: dict[str, dict[str, JudgeCalibration]] = {}
        if "arm" in scores.columns:
            arm_codes, arms = pd.factorize(scores["arm"].astype(str))
            for i, arm in enumerate(arms):
                by_arm[str(arm)] = judge_calibrations(scores, metric_of,
                                                      within=arm_codes == i)
            merged: dict[str, JudgeCalibration] = {}
            for cals in by_arm.values():
                merged.update({m: c for m, c in cals.items() if m not in merged})
        else:
            merged = judge_calibrations(scores, metric_of)
        return cls(names, metric_of, reports_pass, tuple(completion), merged, by_arm)

    def calibrations_of(self, arm: str) -> dict[str, JudgeCalibration]:
        """The calibrations stored with one arm's scores (all, without an arm column)."""
        return self.calibrations_by_arm.get(arm, {}) if self.calibrations_by_arm \
            else self.calibrations


def _as_str(column: pd.Series) -> pd.Series:
    """The column as strings (ids may be stored as numbers by a hand-made table)."""
    if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
        return column
    return column.astype(str)


def _int_column(frame: pd.DataFrame, column: str, what: str) -> NDArray[np.int64]:
    values = frame[column].to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    try:
        as_float = pd.to_numeric(frame[column], errors="raise").to_numpy(
            dtype=float, na_value=math.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} column {column!r} must hold whole numbers: {exc}") from exc
    bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{what} column {column!r} must hold whole numbers; row {i} holds "
            f"{frame[column].iloc[i]!r}"
        )
    return as_float.astype(np.int64)


def prepare_arm(
    trials: pd.DataFrame,
    scores: pd.DataFrame,
    arm: str | None = None,
    *,
    missing: MissingPolicy = "fail",
    scorer_info: ScorerInfo | None = None,
) -> ArmTrials:
    """Per-trial outcomes of one arm (see the module docstring for the rules).

    Everything per trial is numpy: cases and clusters become integer codes, so 1,000,000
    trials cost a few numeric arrays, not a million strings.

    Args:
        trials: the run's ``trials`` table (any number of arms).
        scores: the run's ``scores`` table.
        arm: the arm to keep; None when the tables hold a single arm.
        missing: how non-ok trials count: ``"fail"`` (as 0) or ``"exclude"``.
        scorer_info: :meth:`ScorerInfo.of` ``scores``, when the caller already has it.

    Raises:
        InputError: when columns are missing, the arm is absent, a (case, trial) pair
            repeats, or scores point at trials that do not exist.
    """
    if missing not in ("fail", "exclude"):
        raise InputError(f"missing must be 'fail' or 'exclude', got {missing!r}")
    _require(trials, _TRIAL_COLUMNS, "trials")
    has_scores = bool(len(scores.columns))
    if has_scores:
        _require(scores, _SCORE_COLUMNS, "scores")
    info = scorer_info if scorer_info is not None else ScorerInfo.of(scores)

    # Only the columns the statistics read, before any row is copied: the stored outputs,
    # versions and error texts can be most of a run's memory and are not needed here
    # (the outputs only for the answer-length check of a corrected judge).
    t_cols = [c for c in STATS_TRIAL_COLUMNS if c in trials.columns
              and (c != "output" or info.calibrations)]
    t = trials[t_cols]
    s_cols = [c for c in ("arm", "case_id", "trial", "scorer", "status", "value", "passed",
                          "weight") if has_scores and c in scores.columns]
    s = scores[s_cols] if has_scores else pd.DataFrame(
        {c: pd.Series(dtype=object) for c in _SCORE_COLUMNS})
    if arm is None:
        arms = t["arm"].unique().tolist() if "arm" in t.columns else []
        if len(arms) > 1:
            raise InputError(f"trials hold several arms ({', '.join(map(str, arms))}); name one")
        arm = str(arms[0]) if arms else "main"
    elif "arm" in t.columns:
        in_arm = (t["arm"] == arm).to_numpy(dtype=bool, na_value=False)
        if not in_arm.any():
            raise InputError(f"arm {arm!r} has no trials")
        if not in_arm.all():
            t = t[in_arm]
        if "arm" in s.columns and len(s):
            s_in = (s["arm"] == arm).to_numpy(dtype=bool, na_value=False)
            if not s_in.all():
                s = s[s_in]
    if t.empty:
        raise InputError("there are no trials to summarise")
    n = len(t)

    status_codes, status_values = pd.factorize(t["status"])
    unknown = sorted({str(v) for v in status_values} - set(_TRIAL_STATUSES))
    if unknown or (status_codes < 0).any():
        raise InputError(f"trials have unknown status value(s) {unknown or [None]}")
    # Status codes in the fixed order of _TRIAL_STATUSES.
    remap = np.array([_TRIAL_STATUSES.index(str(v)) for v in status_values], dtype=np.int8)
    status = remap[status_codes]

    # Cases: integer codes in sorted-id order; rows ordered by (case, trial).
    case_col = _as_str(t["case_id"])
    if case_col.isna().any():
        raise InputError("trials have a row without a case_id")
    codes, case_uniques = pd.factorize(case_col, sort=True)
    case_index = np.asarray(case_uniques, dtype=object)
    trial_no = _int_column(t, "trial", "trials")
    t_min = int(trial_no.min())
    span = int(trial_no.max()) - t_min + 1
    if span > 2**31:
        raise InputError(f"trial numbers run from {t_min} to {int(trial_no.max())}; "
                         "expected 0..K-1")
    key = codes.astype(np.int64) * span + (trial_no - t_min)
    order: NDArray[np.intp] | None = None
    if key.size > 1 and (np.diff(key) < 0).any():
        order = np.argsort(key, kind="stable")
        key = key[order]
    repeats = np.flatnonzero(np.diff(key) == 0) if key.size > 1 else np.zeros(0, np.intp)
    if repeats.size:
        k = int(key[repeats[0]])
        raise InputError(
            f"trial {k % span + t_min} of case {case_index[k // span]!r} appears more than once"
        )

    def rows(values: NDArray[Any]) -> NDArray[Any]:
        return values if order is None else values[order]

    case_codes = rows(codes).astype(np.intp)
    status = rows(status)
    trial_no = rows(trial_no)
    ok = status == 0
    non_ok_value = 0.0 if missing == "fail" else math.nan

    # Scores → their trial's row, by the same integer key.
    if len(s):
        s_case = pd.Index(case_index).get_indexer(_as_str(s["case_id"]))
        s_trial = _int_column(s, "trial", "scores")
        valid = (s_case >= 0) & (s_trial >= t_min) & (s_trial < t_min + span)
        s_key = s_case.astype(np.int64) * span + (s_trial - t_min)
        row = np.searchsorted(key, s_key)
        row = np.minimum(row, n - 1)
        valid &= key[row] == s_key
        if not valid.all():
            bad = int(np.flatnonzero(~valid)[0])
            raise InputError(
                f"scores refer to trial {s_trial[bad]} of case "
                f"{str(s['case_id'].iloc[bad])!r}, not in trials"
            )
        scorer_codes, scorer_values = pd.factorize(_as_str(s["scorer"]))
        scorer_names = [str(v) for v in scorer_values]
        pair = row.astype(np.int64) * max(len(scorer_names), 1) + scorer_codes
        dup = pd.Index(pair).duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"scorer {scorer_names[scorer_codes[i]]!r} scored trial {s_trial[i]} of case "
                f"{str(s['case_id'].iloc[i])!r} twice"
            )
        errored = s["status"].isin(_ERROR_STATUSES).to_numpy(dtype=bool)
    else:
        row = np.zeros(0, dtype=np.intp)
        scorer_codes = np.zeros(0, dtype=np.intp)
        scorer_names = []
        errored = np.zeros(0, dtype=bool)
    code_of = {name: i for i, name in enumerate(scorer_names)}

    passed = _passed_column(s, errored)
    value = s["value"].to_numpy(dtype=float) if "value" in s.columns else np.full(len(s), 1.0)
    value = np.where(errored, math.nan, value)
    weight = s["weight"].to_numpy(dtype=float) if "weight" in s.columns else np.ones(len(s))
    weighted = value * weight
    weight = np.where(errored, 0.0, weight)

    def matrix(values: NDArray[np.float64], names: Iterable[str]) -> NDArray[np.float64]:
        # A scorer with no row in this arm contributes a NaN column (undefined).
        return _state_matrix(n, row, scorer_codes, values,
                             [code_of.get(name, -1) for name in names])

    columns: dict[str, NDArray[np.float64]] = {}
    if info.names:
        comp = _kleene_all(matrix(passed, info.completion))
    else:
        comp = np.ones(n)
    columns["completion"] = np.where(ok, comp, non_ok_value)

    metrics = sorted(set(info.metric_of.values()))
    pass_metrics: list[str] = []
    for metric in metrics:
        members = [name for name in info.names if info.metric_of[name] == metric]
        pass_members = [name for name in members if info.reports_pass.get(name, False)]
        if pass_members:
            pass_metrics.append(metric)
            p = _kleene_all(matrix(passed, pass_members))
            columns[f"pass:{metric}"] = np.where(ok, p, non_ok_value)
        num = matrix(weighted, members)
        den = matrix(weight, members)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = num.sum(axis=1) / den.sum(axis=1)  # NaN if any member is NaN
        columns[f"score:{metric}"] = np.where(ok, mean, non_ok_value)

    # Per case, from its first row: tags and cluster belong to the case.
    first = np.flatnonzero(np.r_[True, case_codes[1:] != case_codes[:-1]])
    first_src = first if order is None else order[first]
    cluster_labels, case_clusters, has_clusters = _case_clusters(t, first_src, case_index)
    calibrations = {m: c for m, c in info.calibrations_of(str(arm)).items()
                    if m in pass_metrics}
    output_chars = math.nan
    if info.calibrations and "output" in t.columns and n:  # either arm: the style check
        output_chars = float(t["output"].fillna("").astype(str).str.len().median())
    tool_errors = rows(_num(t, "tool_errors", 0.0))
    table = pd.DataFrame(
        {
            "trial": trial_no,
            "status": pd.Categorical.from_codes(
                status.astype(np.intp), categories=pd.Index(list(_TRIAL_STATUSES))),
            "latency_s": rows(_num(t, "latency_s")),
            "cost_usd": rows(_num(t, "cost_usd")),
            "tool_calls": rows(_num(t, "tool_calls", 0.0)),
            "tool_errors": tool_errors,
            "any_tool_error": (tool_errors > 0).astype(float),
            **columns,
        }
    )
    return ArmTrials(
        arm=str(arm),
        table=table,
        pass_metrics=tuple(pass_metrics),
        score_metrics=tuple(metrics),
        case_tags=_case_tags(t, first_src, case_index),
        has_clusters=has_clusters,
        counts=_counts(t, s, status),
        case_index=case_index,
        case_codes=case_codes,
        case_clusters=case_clusters,
        cluster_labels=cluster_labels,
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


def _case_clusters(
    t: pd.DataFrame, first: NDArray[np.intp], case_index: NDArray[np.object_]
) -> tuple[NDArray[np.object_], NDArray[np.intp], bool]:
    """(cluster labels, each case's code into them, whether the cluster field was set).

    A case without a cluster value is its own cluster (``case:<id>``); dataset clusters
    are ``cluster:<value>``.
    """
    if "cluster" in t.columns:
        cl = t["cluster"].iloc[first]
        present = cl.notna().to_numpy(dtype=bool)
        values = cl.astype(object).to_numpy(dtype=object)
    else:
        present = np.zeros(case_index.size, dtype=bool)
        values = np.empty(case_index.size, dtype=object)
    labels = np.array(["case:" + str(c) for c in case_index.tolist()], dtype=object)
    if present.any():
        labels[present] = ["cluster:" + str(v) for v in values[present].tolist()]
    codes, uniques = pd.factorize(labels, sort=False)
    return np.asarray(uniques, dtype=object), codes.astype(np.intp), bool(present.any())


def _case_tags(
    t: pd.DataFrame, first: NDArray[np.intp], case_index: NDArray[np.object_]
) -> dict[str, tuple[str, ...]]:
    if "tags" not in t.columns:
        return {str(c): () for c in case_index}
    # Tags belong to the case (the runner copies the case's tags onto each trial), so the
    # first row of each case holds them: 10,000 cases cost 10,000 look-ups, not 10 x.
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[int, tuple[str, ...]] = {}  # runs share one array per distinct tag list
    values = t["tags"].iloc[first].to_numpy(dtype=object)
    for case, value in zip(case_index.tolist(), values.tolist(), strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[case] = ()
            continue
        hit = seen.get(id(value))
        if hit is None:
            hit = tuple(sorted({str(v) for v in value}))
            seen[id(value)] = hit
        out[case] = hit
    return out


def _counts(
    t: pd.DataFrame, s: pd.DataFrame, status: NDArray[np.int8]
) -> dict[str, dict[str, int]]:
    per = np.bincount(status, minlength=len(_TRIAL_STATUSES))
    by_status = {k: int(per[i]) for i, k in enumerate(_TRIAL_STATUSES)}
    if len(s):
        vc = s["status"].value_counts()
        scorer_status = {k: int(vc.get(k, 0)) for k in _ERROR_STATUSES}
    else:
        scorer_status = {k: 0 for k in _ERROR_STATUSES}
    outcomes: dict[str, int] = {}
    if "outcome" in t.columns:
        vc = t["outcome"].dropna().astype(str).value_counts()
        outcomes = {str(k): int(v) for k, v in vc.items()}
    return {"trials": by_status, "scores": scorer_status, "outcomes": outcomes}
