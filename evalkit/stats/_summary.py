"""Summarise one arm of a run: every metric with an interval that respects the trials.

Reduce per case first, then aggregate across cases or clusters (STATISTICS.md §1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from evalkit.errors import StatsError
from evalkit.stats._estimates import (
    DEFAULT_RESAMPLES,
    MetricEstimate,
    latency_estimates,
    mean_estimate,
    pass_k_estimates,
    rate_estimate,
    tool_error_estimates,
)
from evalkit.stats._intervals import RateMethod
from evalkit.stats._judge import CORRECTED_PREFIX, corrected_estimate, judge_notes
from evalkit.stats._trials import ArmTrials, MissingPolicy, prepare_arm

__all__ = ["CaseOutcome", "RunSummary", "summarize_arm", "summarize_run"]

class CaseOutcome(NamedTuple):
    """Task completion of one case over its trials.

    A named tuple (immutable), since a summary of 10,000 cases builds 10,000 of them.

    Attributes:
        case_id: the case.
        successes: completed trials.
        n: trials with a defined completion.
        n_excluded: trials left out (undefined or excluded by policy).
        tags: the case's tags.
        cluster: the cluster key (``case:<id>`` when the case is its own cluster).
    """

    case_id: str
    successes: int
    n: int
    n_excluded: int
    tags: tuple[str, ...]
    cluster: str

    @property
    def rate(self) -> float:
        """Completion rate of the case (NaN with no defined trial)."""
        return self.successes / self.n if self.n else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "case_id": self.case_id,
            "successes": self.successes,
            "n": self.n,
            "n_excluded": self.n_excluded,
            "tags": list(self.tags),
        }


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Every metric of one arm.

    Attributes:
        arm: the arm summarised.
        n_cases: cases in the arm.
        n_trials: trials in the arm (all statuses).
        trials_per_case: K when every case has the same number of trials, else the mean.
        trials_per_case_range: (min, max) trials per case.
        missing: the policy for non-ok trials.
        confidence: two-sided confidence level of every interval.
        metrics: metric name → estimate.
        by_tag: tag → completion rate over the cases carrying the tag.
        counts: trials by status, scorer/judge errors, reported outcomes.
        cases: per-case completion counts (for k-of-n rules and flip lists).
        notes: caveats to print with the metrics (e.g. a weak judge calibration).
    """

    arm: str
    n_cases: int
    n_trials: int
    trials_per_case: float
    trials_per_case_range: tuple[int, int]
    missing: MissingPolicy
    confidence: float
    metrics: dict[str, MetricEstimate]
    by_tag: dict[str, MetricEstimate] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    cases: tuple[CaseOutcome, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        k = self.trials_per_case
        return {
            "arm": self.arm,
            "n_cases": self.n_cases,
            "n_trials": self.n_trials,
            "trials_per_case": int(k) if float(k).is_integer() else k,
            "trials_per_case_range": list(self.trials_per_case_range),
            "missing": self.missing,
            "confidence": self.confidence,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "by_tag": {tag: m.to_dict() for tag, m in self.by_tag.items()},
            "counts": self.counts,
            "notes": list(self.notes),
        }


def summarize_arm(
    arm: ArmTrials,
    *,
    missing: MissingPolicy = "fail",
    confidence: float = 0.95,
    ks: Sequence[int] = (1, 3, 5),
    seed: int = 0,
    interval: RateMethod = "wilson",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> RunSummary:
    """Summarise prepared trials of one arm (see :func:`summarize_run`)."""
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be in (0, 1), got {confidence}")
    tab = arm.table
    metrics: dict[str, MetricEstimate] = {}
    comp = arm.per_case("completion")
    completion = rate_estimate("completion_rate", comp, confidence=confidence, interval=interval)
    metrics["completion_rate"] = completion
    for metric in arm.pass_metrics:
        cv = arm.per_case(f"pass:{metric}")
        metrics[f"pass_rate:{metric}"] = rate_estimate(
            f"pass_rate:{metric}", cv, confidence=confidence, interval=interval
        )
    for metric in arm.score_metrics:
        cv = arm.per_case(f"score:{metric}")
        metrics[f"score:{metric}"] = mean_estimate(
            f"score:{metric}", cv, confidence=confidence, bounds=(0.0, 1.0)
        )
    for metric, cal in arm.judge_calibrations.items():
        judged = metrics.get(f"pass_rate:{metric}")
        if judged is not None:
            metrics[CORRECTED_PREFIX + metric] = corrected_estimate(judged, cal)
    metrics.update(tool_error_estimates(arm, confidence=confidence, interval=interval))
    metrics.update(
        pass_k_estimates(
            comp, ks, confidence=confidence, seed=seed, n_resamples=n_resamples,
            completion=completion,
        )
    )
    metrics.update(
        latency_estimates(arm, confidence=confidence, seed=seed, n_resamples=n_resamples)
    )
    cost = arm.per_case("cost_usd")
    metrics["cost_per_trial_usd"] = mean_estimate(
        "cost_per_trial_usd", cost, confidence=confidence, bounds=(0.0, math.inf)
    )

    k_values = np.bincount(arm.case_codes, minlength=arm.case_index.size)
    excluded_by_case = np.bincount(
        arm.case_codes, weights=np.isnan(tab["completion"].to_numpy(dtype=float)),
        minlength=arm.case_index.size,
    )
    # Per case of the arm (comp covers the cases with a defined completion): plain lists,
    # since 10,000 cases make 10,000 objects.
    succ = np.zeros(arm.case_index.size)
    n_def = np.zeros(arm.case_index.size, dtype=np.int64)
    at = np.searchsorted(arm.case_index, comp.case_ids)
    succ[at] = comp.successes
    n_def[at] = comp.n
    labels = arm.cluster_labels[arm.case_clusters].tolist()
    cases = tuple(
        CaseOutcome(cid, round(s_i), n_i, int(x_i), arm.case_tags.get(cid, ()), cl)
        for cid, s_i, n_i, x_i, cl in zip(
            arm.case_index.tolist(), succ.tolist(), n_def.tolist(), excluded_by_case.tolist(),
            labels, strict=True,
        )
    )
    by_tag: dict[str, MetricEstimate] = {}
    for tag, mask in arm.tag_masks().items():
        keep = mask[comp.positions] if comp.positions is not None else mask[at]
        by_tag[tag] = rate_estimate(
            f"completion_rate[{tag}]", comp.subset(keep), confidence=confidence,
            interval=interval,
        )
    return RunSummary(
        arm=arm.arm,
        n_cases=int(arm.case_index.size),
        n_trials=len(tab),
        trials_per_case=float(k_values.mean()),
        trials_per_case_range=(int(k_values.min()), int(k_values.max())),
        missing=missing,
        confidence=confidence,
        metrics=metrics,
        by_tag=by_tag,
        counts=arm.counts,
        cases=cases,
        notes=tuple(judge_notes(arm.judge_calibrations, paired=False)),
    )


def summarize_run(
    trials: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    arm: str | None = None,
    missing: MissingPolicy = "fail",
    confidence: float = 0.95,
    ks: Sequence[int] = (1, 3, 5),
    seed: int = 0,
    interval: Literal["wilson", "clopper-pearson"] = "wilson",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> RunSummary:
    """Summarise one arm of a run: rates, scores, pass@k/pass^k, tool errors, latency, cost.

    Which trials count: completion, ``pass_rate:*``, ``score:*`` and pass@k/pass^k follow
    ``missing`` (and leave out trials whose scorer errored, counted in ``n_excluded``);
    tool-error metrics and cost use every trial (failed trials make tool calls and cost
    money too); latency uses every trial but ``infra_error`` ones (the harness, not the
    target, failed). Intervals: Wilson (or Clopper–Pearson) on the effective sample size
    for rates, clustered t for means, linearised ratio variance for the tool-error rate,
    cluster bootstrap for pass@k/pass^k (k ≥ 2) and latency quantiles.

    Args:
        trials: the run's ``trials`` table.
        scores: the run's ``scores`` table.
        arm: which arm to summarise; None when the run has a single arm.
        missing: ``"fail"`` counts error/timeout/infra_error trials as failures;
            ``"exclude"`` leaves them out (and reports how many).
        confidence: two-sided confidence level of every interval.
        ks: the k values for pass@k and pass^k (only k ≤ K are reported).
        seed: seed of every bootstrap.
        interval: ``"wilson"`` or ``"clopper-pearson"`` for rates.
        n_resamples: bootstrap resamples.

    Example:
        >>> s = summarize_run(trials, scores)  # doctest: +SKIP
        >>> s.metrics["completion_rate"].ci_low  # doctest: +SKIP
    """
    prepared = prepare_arm(trials, scores, arm, missing=missing)
    return summarize_arm(
        prepared, missing=missing, confidence=confidence, ks=ks, seed=seed,
        interval=interval, n_resamples=n_resamples,
    )
