"""Δ = candidate − baseline for one metric: the paired test chosen per metric (§4).

- rates, scores, cost (a mean of per-case values): per-case differences d_i; exact
  McNemar when K = 1 and the outcome is binary; exact sign-flip permutation when there
  are fewer than 30 clusters; paired t with t_{C−1} otherwise. For rates the bounds are
  widened, where needed, to the MOVER-Wilson bounds (Newcombe 1998, method 10, on the
  effective sample sizes): with no discordant case a paired test reports Δ ∈ [0, 0], which
  would let 10 perfect cases in each arm "prove" non-inferiority.
- tool_error_rate (a ratio), pass@k / pass^k (k ≥ 2) and latency quantiles: paired
  cluster bootstrap (resample paired cases, or clusters, with all their trials).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evalkit.stats._estimates import quantile_reps
from evalkit.stats._intervals import RateMethod, clustered_mean, effective_rate_interval
from evalkit.stats._metrics import (
    Direction,
    bootstrap_counts,
    bootstrap_ratio,
    cluster_codes,
    metric_direction,
    pass_at_k,
    pass_hat_k,
)
from evalkit.stats._paired import (
    BootstrapTest,
    McNemarTest,
    PairedTest,
    PairedTTest,
    SignFlipTest,
    two_sided_p,
)
from evalkit.stats._trials import ArmTrials, CaseValues

__all__ = [
    "RATE_LIMITS",
    "SMALL_SAMPLE_CLUSTERS",
    "DeltaEstimate",
    "common_cases",
    "latency_deltas",
    "paired_delta",
    "pass_k_deltas",
    "tool_error_delta",
]

SMALL_SAMPLE_CLUSTERS = 30
"""Below this many clusters a permutation test replaces the t test."""

RATE_LIMITS = (-1.0, 1.0)


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class DeltaEstimate:
    """Δ = candidate − baseline for one metric.

    Attributes:
        name: metric name.
        estimate: Δ̂.
        ci_low: lower end of the two-sided interval at ``confidence``.
        ci_high: upper end.
        confidence: two-sided confidence level.
        se: standard error of Δ̂ (clustered, or bootstrap).
        df: degrees of freedom for t quantiles (inf for bootstrap).
        p_value: two-sided p-value for Δ ≠ 0.
        p_value_regression: one-sided p-value for a change in the unfavourable direction.
        method: the test used.
        n_paired: cases with a value in both arms.
        baseline: the baseline's value on the paired cases.
        candidate: the candidate's value on the paired cases.
        direction: which way is better.
        correlation: case-level correlation between arms (NaN when undefined).
        test: the underlying test, for bounds at other levels (the gate's α_fail/α_pass).
    """

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    se: float
    df: float
    p_value: float
    p_value_regression: float
    method: str
    n_paired: int
    baseline: float
    candidate: float
    direction: Direction
    correlation: float
    test: PairedTest = field(repr=False, compare=False)

    def favourable_bound(self, alpha: float) -> float:
        """One-sided bound at 1 − α on the favourable side (lower bound for higher-better)."""
        if self.direction == "higher":
            return self.test.upper_bound(alpha)
        return self.test.lower_bound(alpha)

    def unfavourable_bound(self, alpha: float) -> float:
        """One-sided bound at 1 − α on the unfavourable side."""
        if self.direction == "higher":
            return self.test.lower_bound(alpha)
        return self.test.upper_bound(alpha)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "estimate": _clean(self.estimate),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "p_value": _clean(self.p_value),
            "p_value_regression": _clean(self.p_value_regression),
            "se": _clean(self.se),
            "method": self.method,
            "n_paired": self.n_paired,
            "baseline": _clean(self.baseline),
            "candidate": _clean(self.candidate),
            "correlation": _clean(self.correlation),
            "confidence": self.confidence,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class _EnvelopeTest:
    """P-values from ``primary``; bounds widened to cover ``other_bounds`` too."""

    primary: PairedTest
    other_bounds: Callable[[float], tuple[float, float]]
    method: str

    def p_less(self, theta: float = 0.0) -> float:
        return self.primary.p_less(theta)

    def p_greater(self, theta: float = 0.0) -> float:
        return self.primary.p_greater(theta)

    def upper_bound(self, alpha: float) -> float:
        return max(self.primary.upper_bound(alpha), self.other_bounds(alpha)[1])

    def lower_bound(self, alpha: float) -> float:
        return min(self.primary.lower_bound(alpha), self.other_bounds(alpha)[0])


def _corr(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _mover_bounds(
    cv_a: CaseValues, cv_b: CaseValues, r: float, interval: RateMethod
) -> Callable[[float], tuple[float, float]]:
    """One-sided MOVER-Wilson bounds of p_B − p_A at level 1 − α (Newcombe / Zou–Donner)."""
    cm_a = clustered_mean(cv_a.mean, cv_a.clusters)
    cm_b = clustered_mean(cv_b.mean, cv_b.clusters)
    rho = 0.0 if not math.isfinite(r) else r

    def bounds(alpha: float) -> tuple[float, float]:
        conf = 1.0 - 2.0 * alpha
        ia, _ = effective_rate_interval(
            cm_a.mean, cm_a.se, cv_a.n_trials, cm_a.n_clusters, clustered=cv_a.clustered,
            confidence=conf, method=interval,
        )
        ib, _ = effective_rate_interval(
            cm_b.mean, cm_b.se, cv_b.n_trials, cm_b.n_clusters, clustered=cv_b.clustered,
            confidence=conf, method=interval,
        )
        d = cm_b.mean - cm_a.mean
        lo_b, hi_a = cm_b.mean - ib.low, ia.high - cm_a.mean
        hi_b, lo_a = ib.high - cm_b.mean, cm_a.mean - ia.low
        low = d - math.sqrt(max(0.0, lo_b**2 + hi_a**2 - 2 * rho * lo_b * hi_a))
        high = d + math.sqrt(max(0.0, hi_b**2 + lo_a**2 - 2 * rho * hi_b * lo_a))
        return max(-1.0, low), min(1.0, high)

    return bounds


def paired_delta(
    name: str, cv_a: CaseValues, cv_b: CaseValues, *, binary: bool, confidence: float = 0.95,
    seed: int = 0, interval: RateMethod = "wilson",
    limits: tuple[float, float] = RATE_LIMITS,
) -> DeltaEstimate | None:
    """Δ of a mean-of-cases metric on the cases both arms have (None if there are none).

    The method follows the module docstring: exact McNemar (K = 1, binary), exact or
    Monte Carlo sign-flip (fewer than 30 clusters), else paired t; rates get MOVER-Wilson
    bounds where those are wider.
    """
    common, ia, ib = common_cases(cv_a, cv_b)
    if common.size == 0:
        return None
    a, b = cv_a.mean[ia], cv_b.mean[ib]
    clusters = cv_a.clusters[ia]
    d = b - a
    cm = clustered_mean(d, clusters)
    t_test = PairedTTest(cm.mean, cm.se, cm.df, limits)
    test: PairedTest = t_test
    if cm.n_clusters < SMALL_SAMPLE_CLUSTERS:
        test = SignFlipTest(d, clusters, limits, seed=seed)
    method = test.method if test is not t_test else f"paired t, t_{cm.n_clusters - 1}"
    k1 = bool(np.all(cv_a.n[ia] == 1) and np.all(cv_b.n[ib] == 1))
    if binary and k1 and cm.n_clusters == common.size:
        b_cnt, c_cnt = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
        test = McNemarTest(b_cnt, c_cnt, test)
        method = f"exact McNemar (b={b_cnt}, c={c_cnt}); bounds: {method}"
    r = _corr(a, b)
    if binary:
        keep_a = np.zeros(cv_a.case_ids.size, dtype=bool)
        keep_a[ia] = True
        keep_b = np.zeros(cv_b.case_ids.size, dtype=bool)
        keep_b[ib] = True
        mover = _mover_bounds(cv_a.subset(keep_a), cv_b.subset(keep_b), r, interval)
        test = _EnvelopeTest(test, mover, method + "; widened to MOVER-Wilson where wider")
        method = test.method
    alpha = (1.0 - confidence) / 2.0
    return _delta(name, cm.mean, cm.se, cm.df, test, method, int(common.size),
                  float(a.mean()), float(b.mean()), r, confidence, alpha)


def _delta(
    name: str, est: float, se: float, df: float, test: PairedTest, method: str, n: int,
    base: float, cand: float, r: float, confidence: float, alpha: float,
) -> DeltaEstimate:
    direction = metric_direction(name)
    p_reg = test.p_less(0.0) if direction == "higher" else test.p_greater(0.0)
    return DeltaEstimate(
        name, est, test.lower_bound(alpha), test.upper_bound(alpha), confidence, se, df,
        two_sided_p(test), p_reg, method, n, base, cand, direction, r, test,
    )


def common_cases(
    cv_a: CaseValues, cv_b: CaseValues
) -> tuple[NDArray[Any], NDArray[np.intp], NDArray[np.intp]]:
    """The cases both hold (sorted), and where they sit in each."""
    if cv_a.case_ids.size == cv_b.case_ids.size and bool(np.all(cv_a.case_ids == cv_b.case_ids)):
        every = np.arange(cv_a.case_ids.size, dtype=np.intp)
        return cv_a.case_ids, every, every
    common, ia, ib = np.intersect1d(cv_a.case_ids.astype(str), cv_b.case_ids.astype(str),
                                    return_indices=True)
    return common.astype(object), ia.astype(np.intp), ib.astype(np.intp)


def _paired_cluster_index(
    cases: NDArray[np.object_], arm: ArmTrials
) -> tuple[NDArray[np.intp], int]:
    return cluster_codes(arm.case_clusters[arm.positions(cases)])


def _bootstrap_delta(
    name: str, est: float, base: float, cand: float, reps: NDArray[np.float64], n: int,
    r: float, limits: tuple[float, float], confidence: float, n_resamples: int,
) -> DeltaEstimate:
    test = BootstrapTest(reps, limits, f"paired cluster bootstrap ({n_resamples} resamples)")
    return _delta(name, est, test.se, math.inf, test, test.method, n, base, cand, r,
                  confidence, (1.0 - confidence) / 2.0)


def tool_error_delta(
    a: ArmTrials, b: ArmTrials, cases: NDArray[np.object_], *, confidence: float, seed: int,
    n_resamples: int,
) -> DeltaEstimate | None:
    def totals(arm: ArmTrials) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        pos = arm.positions(cases)
        return arm.case_sums("tool_errors")[pos], arm.case_sums("tool_calls")[pos]

    ya, xa = totals(a)
    yb, xb = totals(b)
    if xa.sum() <= 0 or xb.sum() <= 0:
        return None
    codes, n_c = _paired_cluster_index(cases, a)
    sums = [np.bincount(codes, weights=v, minlength=n_c) for v in (ya, xa, yb, xb)]
    counts = bootstrap_counts(n_c, n_resamples, seed)
    ra = bootstrap_ratio(counts, sums[0], sums[1])
    rb = bootstrap_ratio(counts, sums[2], sums[3])
    base, cand = ya.sum() / xa.sum(), yb.sum() / xb.sum()
    fin = np.isfinite(ra) & np.isfinite(rb)
    r = _corr(ra[fin], rb[fin])
    return _bootstrap_delta("tool_error_rate", cand - base, base, cand, rb - ra, cases.size, r,
                            RATE_LIMITS, confidence, n_resamples)


def pass_k_deltas(
    cv_a: CaseValues, cv_b: CaseValues, ks: Sequence[int], a: ArmTrials, *, confidence: float,
    seed: int, n_resamples: int,
) -> dict[str, DeltaEstimate]:
    out: dict[str, DeltaEstimate] = {}
    common, ia, ib = common_cases(cv_a, cv_b)
    if common.size == 0:
        return out
    for k in sorted({k for k in ks if k >= 2}):
        for label, fn in (("pass@", pass_at_k), ("pass^", pass_hat_k)):
            name = f"{label}{k}"
            ea = fn(cv_a.n[ia], np.rint(cv_a.successes[ia]).astype(np.int64), k)
            eb = fn(cv_b.n[ib], np.rint(cv_b.successes[ib]).astype(np.int64), k)
            keep = np.isfinite(ea) & np.isfinite(eb)
            if not keep.any():
                continue
            cases = common[keep].astype(object)
            codes, n_c = _paired_cluster_index(cases, a)
            diff = np.bincount(codes, weights=eb[keep] - ea[keep], minlength=n_c)
            size = np.bincount(codes, minlength=n_c).astype(float)
            reps = bootstrap_ratio(bootstrap_counts(n_c, n_resamples, seed), diff, size)
            out[name] = _bootstrap_delta(
                name, float((eb[keep] - ea[keep]).mean()), float(ea[keep].mean()),
                float(eb[keep].mean()), reps, int(keep.sum()), _corr(ea[keep], eb[keep]),
                RATE_LIMITS, confidence, n_resamples,
            )
    return out


def latency_deltas(
    a: ArmTrials, b: ArmTrials, cases: NDArray[np.object_], *, confidence: float, seed: int,
    n_resamples: int,
) -> dict[str, DeltaEstimate]:
    out: dict[str, DeltaEstimate] = {}
    paired_codes, n_c = _paired_cluster_index(cases, a)

    def usable(arm: ArmTrials) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        # cluster code of each of the arm's cases (−1: not paired), then per trial row
        # through case_codes — no per-row look-ups.
        code_of_case = np.full(arm.case_index.size, -1, dtype=np.intp)
        code_of_case[arm.positions(cases)] = paired_codes
        t = arm.table
        lat = t["latency_s"].to_numpy(dtype=float)
        row_codes = code_of_case[arm.case_codes]
        m = np.isfinite(lat) & (t["status"] != "infra_error").to_numpy(dtype=bool)
        m &= row_codes >= 0
        return lat[m], row_codes[m]

    va, ca = usable(a)
    vb, cb = usable(b)
    if va.size == 0 or vb.size == 0:
        return out
    counts = bootstrap_counts(n_c, n_resamples, seed)
    for q, name in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s")):
        qa = quantile_reps(a, va, ca, counts, q, seed)
        qb = quantile_reps(b, vb, cb, counts, q, seed)
        base = float(np.quantile(va, q, method="inverted_cdf"))
        cand = float(np.quantile(vb, q, method="inverted_cdf"))
        out[name] = _bootstrap_delta(name, cand - base, base, cand, qb - qa, cases.size,
                                     _corr(qa, qb), (-math.inf, math.inf), confidence,
                                     n_resamples)
    return out
