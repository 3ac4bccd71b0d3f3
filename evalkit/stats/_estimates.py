"""Estimators for one metric of one arm, each with its interval (STATISTICS.md §1–3)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from evalkit.stats._intervals import (
    RateMethod,
    clustered_mean,
    effective_rate_interval,
    t_interval,
)
from evalkit.stats._metrics import (
    Direction,
    bootstrap_counts,
    bootstrap_ratio,
    cluster_bootstrap_quantiles,
    cluster_codes,
    metric_direction,
    pass_at_k,
    pass_hat_k,
    ratio_estimate,
)
from evalkit.stats._trials import ArmTrials, CaseValues

__all__ = [
    "DEFAULT_RESAMPLES",
    "MetricEstimate",
    "latency_estimates",
    "mean_estimate",
    "pass_k_estimates",
    "rate_estimate",
    "tool_error_estimates",
]

DEFAULT_RESAMPLES = 2000


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, slots=True)
class MetricEstimate:
    """One metric of one arm with its interval.

    Attributes:
        name: metric name, e.g. ``completion_rate`` or ``pass_rate:exact``.
        estimate: point estimate (NaN when undefined for the data).
        ci_low: lower end of the two-sided interval at ``confidence``.
        ci_high: upper end.
        se: standard error (clustered, bootstrap or linearised, per ``method``).
        n_cases: cases with at least one defined trial.
        n_trials: trials behind the estimate.
        n_excluded: trials left out (undefined / excluded by policy), always reported.
        method: how the interval was computed.
        confidence: two-sided confidence level.
        direction: ``"higher"`` or ``"lower"`` is better.
        var_between: between-case variance of true per-case values (NaN if unknown).
        var_within: mean within-case trial variance (NaN if unknown).
        trials_per_case: mean defined trials per case.
    """

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    se: float
    n_cases: int
    n_trials: int
    n_excluded: int
    method: str
    confidence: float = 0.95
    direction: Direction = "higher"
    var_between: float = math.nan
    var_within: float = math.nan
    trials_per_case: float = math.nan

    @property
    def defined(self) -> bool:
        """Whether the data define the metric at all."""
        return math.isfinite(self.estimate)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (NaN becomes null; an undefined metric carries a ``note``)."""
        out: dict[str, Any] = {
            "estimate": _clean(self.estimate),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "se": _clean(self.se),
            "n_cases": self.n_cases,
            "n_trials": self.n_trials,
            "n_excluded": self.n_excluded,
            "method": self.method,
            "confidence": self.confidence,
            "direction": self.direction,
        }
        if not self.defined:
            out["note"] = self.method.removeprefix("undefined: ")
        return out


def _undefined(name: str, n_excluded: int, why: str, confidence: float) -> MetricEstimate:
    return MetricEstimate(
        name, math.nan, math.nan, math.nan, math.nan, 0, 0, n_excluded, f"undefined: {why}",
        confidence, metric_direction(name),
    )


def _components(cv: CaseValues) -> tuple[float, float, float]:
    """(between-case variance, mean within-case variance, mean K)."""
    k_mean = float(cv.n.mean()) if cv.n.size else math.nan
    if cv.mean.size < 2:
        return math.nan, math.nan, k_mean
    ok = (cv.n >= 2) & np.isfinite(cv.var_within)
    if not ok.any():
        return math.nan, math.nan, k_mean
    within = float(cv.var_within[ok].mean())
    noise = float((cv.var_within[ok] / cv.n[ok]).mean())
    return max(0.0, float(cv.mean.var(ddof=1)) - noise), within, k_mean


def rate_estimate(
    name: str, cv: CaseValues, *, confidence: float, interval: RateMethod
) -> MetricEstimate:
    """A binary rate: mean of per-case rates, Wilson (or CP) on the effective n."""
    if cv.n_trials == 0:
        return _undefined(name, cv.n_excluded, "no defined trial", confidence)
    cm = clustered_mean(cv.mean, cv.clusters)
    iv, m = effective_rate_interval(
        cm.mean, cm.se, cv.n_trials, cm.n_clusters, clustered=cv.clustered,
        confidence=confidence, method=interval,
    )
    between, within, k = _components(cv)
    label = "Wilson" if interval == "wilson" else "Clopper-Pearson"
    return MetricEstimate(
        name, cm.mean, iv.low, iv.high, cm.se, cm.n_cases, cv.n_trials, cv.n_excluded,
        f"{label} on effective n={m:.1f} ({cm.n_clusters} clusters)", confidence,
        metric_direction(name), between, within, k,
    )


def mean_estimate(
    name: str, cv: CaseValues, *, confidence: float, bounds: tuple[float, float]
) -> MetricEstimate:
    """A mean of per-case means with a clustered t interval."""
    if cv.n_trials == 0:
        return _undefined(name, cv.n_excluded, "no defined trial", confidence)
    cm = clustered_mean(cv.mean, cv.clusters)
    iv = t_interval(cm.mean, cm.se, cm.df, confidence, bounds=bounds)
    between, within, k = _components(cv)
    return MetricEstimate(
        name, cm.mean, iv.low, iv.high, cm.se, cm.n_cases, cv.n_trials, cv.n_excluded,
        f"t on clustered SE ({cm.n_clusters} clusters)", confidence, metric_direction(name),
        between, within, k,
    )


def _percentile_ci(reps: NDArray[np.float64], confidence: float) -> tuple[float, float, float]:
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return math.nan, math.nan, math.nan
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(reps, [a, 1.0 - a])
    return float(lo), float(hi), float(reps.std(ddof=1))


def _bootstrap_case_mean(
    name: str, values: NDArray[np.float64], clusters: NDArray[np.object_], n_trials: int,
    n_excluded: int, *, confidence: float, seed: int, n_resamples: int,
) -> MetricEstimate:
    """Mean of per-case values, percentile CI by resampling clusters."""
    codes, n_c = cluster_codes(clusters)
    s_c = np.bincount(codes, weights=values, minlength=n_c)
    n_per = np.bincount(codes, minlength=n_c).astype(float)
    reps = bootstrap_ratio(bootstrap_counts(n_c, n_resamples, seed), s_c, n_per)
    lo, hi, se = _percentile_ci(reps, confidence)
    return MetricEstimate(
        name, float(values.mean()), lo, hi, se, int(values.size), n_trials, n_excluded,
        f"cluster bootstrap percentile ({n_resamples} resamples, {n_c} clusters)",
        confidence, metric_direction(name),
    )


def pass_k_estimates(
    comp: CaseValues, ks: Sequence[int], *, confidence: float, seed: int, n_resamples: int,
    completion: MetricEstimate,
) -> dict[str, MetricEstimate]:
    """pass@k and pass^k for each k ≤ max K (k = 1 equals the completion rate)."""
    out: dict[str, MetricEstimate] = {}
    k_max = int(comp.n.max()) if comp.n.size else 0
    for k in sorted(set(ks)):
        if k < 1 or k > k_max:
            continue
        for label, fn in (("pass@", pass_at_k), ("pass^", pass_hat_k)):
            name = f"{label}{k}"
            if k == 1:
                out[name] = _rename(completion, name, "equals completion_rate")
                continue
            est = fn(comp.n, np.rint(comp.successes).astype(np.int64), k)
            keep = np.isfinite(est)
            excluded = comp.n_excluded + int(comp.n[~keep].sum())
            if not keep.any():
                out[name] = _undefined(name, excluded, f"no case has {k} trials", confidence)
                continue
            out[name] = _bootstrap_case_mean(
                name, est[keep], comp.clusters[keep], int(comp.n[keep].sum()), excluded,
                confidence=confidence, seed=seed, n_resamples=n_resamples,
            )
    return out


def _rename(m: MetricEstimate, name: str, note: str) -> MetricEstimate:
    return MetricEstimate(
        name, m.estimate, m.ci_low, m.ci_high, m.se, m.n_cases, m.n_trials, m.n_excluded,
        f"{m.method}; {note}", m.confidence, metric_direction(name), m.var_between,
        m.var_within, m.trials_per_case,
    )


def tool_error_estimates(
    arm: ArmTrials, *, confidence: float, interval: RateMethod
) -> dict[str, MetricEstimate]:
    """Tool-error rate (errors / calls, ratio) and share of trials with a tool error."""
    tab = arm.table
    out: dict[str, MetricEstimate] = {}
    name = "tool_error_rate"
    y = arm.case_sums("tool_errors")
    x = arm.case_sums("tool_calls")
    if x.sum() <= 0:
        out[name] = _undefined(name, 0, "no tool calls were made", confidence)
    else:
        r = ratio_estimate(y, x, arm.case_clusters)
        n_trials = len(tab)
        if 0.0 <= r.estimate <= 1.0:
            calls_in_clusters = x.max() > 1 or r.n_clusters < len(x)
            iv, m = effective_rate_interval(
                r.estimate, r.se, round(r.denominator), r.n_clusters,
                clustered=bool(calls_in_clusters), confidence=confidence, method=interval,
            )
            method = (
                f"ratio of sums, linearised clustered SE; Wilson on effective calls={m:.1f}"
                if interval == "wilson"
                else f"ratio of sums, linearised clustered SE; CP on effective calls={m:.1f}"
            )
            low, high = iv.low, iv.high
        else:
            iv2 = t_interval(r.estimate, r.se, r.n_clusters - 1, confidence, bounds=(0, math.inf))
            low, high, method = iv2.low, iv2.high, "ratio of sums, linearised clustered SE; t"
        out[name] = MetricEstimate(
            name, r.estimate, low, high, r.se, len(x), n_trials, 0, method, confidence,
            "lower",
        )
    out["trials_with_tool_error"] = rate_estimate(
        "trials_with_tool_error", arm.per_case("any_tool_error"),
        confidence=confidence, interval=interval,
    )
    return out


def quantile_reps(
    arm: ArmTrials, values: NDArray[np.float64], codes: NDArray[np.intp],
    counts: NDArray[np.float32], q: float, seed: int,
) -> NDArray[np.float64]:
    """Cluster-bootstrap replicates of quantile ``q`` of ``values``.

    Shared by the arm's summary and its comparison when they resample the same values on
    the same clusters.
    """
    return cast("NDArray[np.float64]", arm.memoized(
        ("quantile-reps", q, counts.shape, seed), (values, codes),
        lambda: cluster_bootstrap_quantiles(values, codes, counts, q)))


def latency_estimates(
    arm: ArmTrials, *, confidence: float, seed: int, n_resamples: int
) -> dict[str, MetricEstimate]:
    """Latency p50/p95 over trials (infra errors left out), cluster-bootstrap CIs."""
    tab = arm.table
    lat = tab["latency_s"].to_numpy(dtype=float)
    use = np.isfinite(lat) & (tab["status"] != "infra_error").to_numpy(dtype=bool)
    out: dict[str, MetricEstimate] = {}
    if not use.any():
        for name in ("latency_p50_s", "latency_p95_s"):
            out[name] = _undefined(name, int((~use).sum()), "no latency recorded", confidence)
        return out
    case_codes = arm.case_codes[use]
    codes, n_c = cluster_codes(arm.case_clusters[case_codes])
    values = lat[use]
    n_cases = int(np.unique(case_codes).size)
    counts = bootstrap_counts(n_c, n_resamples, seed)
    for q, name in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s")):
        est = float(np.quantile(values, q, method="inverted_cdf"))
        reps = quantile_reps(arm, values, codes, counts, q, seed)
        lo, hi, se = _percentile_ci(reps, confidence)
        out[name] = MetricEstimate(
            name, est, lo, hi, se, n_cases, int(use.sum()),
            int((~use).sum()),
            f"empirical quantile; cluster bootstrap percentile ({n_resamples} resamples)",
            confidence, "lower",
        )
    return out
