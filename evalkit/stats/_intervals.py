"""Confidence intervals for rates and means that respect repeated trials.

STATISTICS.md §1–2: reduce per case first, then aggregate across cases (or across the
dataset's clusters), and never treat n·K correlated trials as independent. Binary rates
get a Wilson interval on the *effective* sample size; mean scores get a t interval on
the clustered standard error.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evalkit.errors import StatsError

__all__ = [
    "ClusteredMean",
    "Interval",
    "clopper_pearson_interval",
    "clustered_mean",
    "design_effect",
    "effective_rate_interval",
    "t_interval",
    "t_quantile",
    "wilson_interval",
    "z_quantile",
]

RateMethod = Literal["wilson", "clopper-pearson"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A two-sided interval ``[low, high]`` at ``confidence``."""

    low: float
    high: float
    confidence: float


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be in (0, 1), got {confidence!r}")


@functools.lru_cache(maxsize=1024)
def z_quantile(q: float) -> float:
    """Standard normal quantile, e.g. ``z_quantile(0.975) ≈ 1.96``."""
    from scipy.special import ndtri

    return float(ndtri(q))


@functools.lru_cache(maxsize=4096)
def t_quantile(q: float, df: float) -> float:
    """Student t quantile with ``df`` degrees of freedom (normal when ``df`` is infinite)."""
    if not math.isfinite(df):
        return z_quantile(q)
    if df < 1:
        raise StatsError(f"a t quantile needs at least 1 degree of freedom, got {df!r}")
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def _rate_and_n(successes_or_phat: float, n: float) -> tuple[float, float]:
    if not n > 0:
        raise StatsError(f"an interval for a rate needs n > 0, got n={n!r}")
    value = successes_or_phat
    # An int is a count; a float in [0, 1] is a rate (the two agree for 0, and for 1
    # only when n == 1); a float above 1 is a count.
    is_count = isinstance(value, int | np.integer) or float(value) > 1.0
    p = float(value) / float(n) if is_count else float(value)
    if not 0.0 <= p <= 1.0:
        raise StatsError(f"successes must lie in [0, n]; got {value!r} with n={n!r}")
    return p, float(n)


def wilson_interval(successes_or_phat: float, n: float, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial rate.

    Args:
        successes_or_phat: the number of successes (an ``int``) or the observed rate p̂
            (a ``float`` in [0, 1]; a float above 1 is read as a count).
        n: the number of trials; may be fractional (an effective sample size).
        confidence: two-sided confidence level.

    Returns:
        The interval, clipped to [0, 1].

    Example:
        >>> iv = wilson_interval(17, 20)
        >>> round(iv.low, 3), round(iv.high, 3)
        (0.64, 0.948)
    """
    _check_confidence(confidence)
    p, m = _rate_and_n(successes_or_phat, n)
    z = z_quantile(1.0 - (1.0 - confidence) / 2.0)
    return _wilson(p, m, z, confidence)


def _wilson(p: float, m: float, z: float, confidence: float) -> Interval:
    z2 = z * z
    centre = p + z2 / (2.0 * m)
    half = z * math.sqrt(p * (1.0 - p) / m + z2 / (4.0 * m * m))
    denom = 1.0 + z2 / m
    low = 0.0 if p == 0.0 else max(0.0, (centre - half) / denom)
    high = 1.0 if p == 1.0 else min(1.0, (centre + half) / denom)
    return Interval(low, high, confidence)


def clopper_pearson_interval(
    successes_or_phat: float, n: float, confidence: float = 0.95
) -> Interval:
    """Exact (Clopper–Pearson) interval for a binomial rate.

    Guaranteed coverage, at the price of width. Non-integer counts (an effective sample
    size) are handled through the beta distribution with fractional parameters.

    Example:
        >>> iv = clopper_pearson_interval(17, 20)
        >>> round(iv.low, 3), round(iv.high, 3)
        (0.621, 0.968)
    """
    _check_confidence(confidence)
    p, m = _rate_and_n(successes_or_phat, n)
    return _clopper_pearson(p * m, m, confidence)


def _clopper_pearson(x: float, m: float, confidence: float) -> Interval:
    from scipy.stats import beta

    a = (1.0 - confidence) / 2.0
    low = 0.0 if x <= 0.0 else float(beta.ppf(a, x, m - x + 1.0))
    high = 1.0 if x >= m else float(beta.ppf(1.0 - a, x + 1.0, m - x))
    return Interval(low, high, confidence)


@dataclass(frozen=True, slots=True)
class ClusteredMean:
    """Mean of per-case values with its clustered standard error (STATISTICS.md §1).

    Attributes:
        mean: mean of the per-case values (each case weighs the same).
        se: clustered standard error; the case is the cluster unless the dataset groups
            cases into clusters.
        n_cases: number of cases with a value.
        n_clusters: number of clusters (== n_cases when cases are their own cluster).
    """

    mean: float
    se: float
    n_cases: int
    n_clusters: int

    @property
    def df(self) -> float:
        """Degrees of freedom for t bounds: clusters minus one."""
        return float(self.n_clusters - 1)


def clustered_mean(
    values: ArrayLike, clusters: Sequence[object] | NDArray[np.generic] | None = None
) -> ClusteredMean:
    """Mean of per-case values and its clustered standard error.

    ``SE = sqrt(C/(C−1) · Σ_c (Σ_{i∈c} (s_i − s̄))²) / N``; with every case its own
    cluster this is the familiar ``sd / sqrt(n)``.

    Args:
        values: one value per case (e.g. the case's mean over its K trials).
        clusters: the cluster label of each case, or None to cluster by case.

    Raises:
        StatsError: when there is no value at all.
    """
    s = np.asarray(values, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise StatsError("a clustered mean needs at least one per-case value")
    n = s.size
    mean = float(s.mean())
    resid = s - mean
    if clusters is None:
        n_clusters = n
        sums = resid
    else:
        labels = np.asarray(clusters)  # integer codes stay integers (fast path)
        if labels.shape != s.shape:
            raise StatsError("clusters must give one label per case")
        from evalkit.stats._metrics import cluster_codes

        codes, n_codes = cluster_codes(labels)
        sums = np.bincount(codes, weights=resid, minlength=n_codes).astype(np.float64)
        n_clusters = int(sums.size)
    if n_clusters < 2:
        se = math.nan
    else:
        se = math.sqrt(n_clusters / (n_clusters - 1) * float(np.sum(sums * sums))) / n
    return ClusteredMean(mean, se, n, n_clusters)


def design_effect(p: float, se: float, n_trials: float, *, clustered: bool = True) -> float:
    """Design effect DEFF = SE²_clustered / (p̂(1−p̂)/(n·K)), floored at 1.

    Args:
        p: the observed rate.
        se: its clustered standard error.
        n_trials: the total number of trials behind the rate (n·K).
        clustered: False when every cluster holds a single trial; there is nothing to
            correct for then, and DEFF is 1 by definition.

    Returns:
        DEFF ≥ 1. When p̂(1−p̂) = 0 (all pass or all fail) the design effect cannot be
        estimated and defaults to 1.
    """
    var_srs = p * (1.0 - p) / n_trials
    if not clustered or var_srs <= 0.0 or not math.isfinite(se):
        return 1.0
    return max(1.0, se * se / var_srs)


def effective_rate_interval(
    p: float,
    se: float,
    n_trials: int,
    n_clusters: int,
    *,
    clustered: bool = True,
    confidence: float = 0.95,
    method: RateMethod = "wilson",
) -> tuple[Interval, float]:
    """Interval for a rate from clustered trials: Wilson (or CP) on the effective n.

    ``n_eff = n·K / DEFF`` (STATISTICS.md §2). When DEFF is estimated from the clusters
    (there are clusters with more than one trial) the effective size is shrunk further by
    ``(z/t_{C−1})²`` (Korn & Graubard 1998), which turns the normal quantile into a t
    quantile with C − 1 degrees of freedom: with 10 cases a variance estimated from those
    10 cases is itself uncertain, and the normal quantile under-covers.

    Returns:
        The interval and the effective sample size used.
    """
    _check_confidence(confidence)
    if n_trials <= 0:
        raise StatsError("an interval for a rate needs at least one trial")
    deff = design_effect(p, se, n_trials, clustered=clustered)
    m = n_trials / deff
    if clustered and deff > 1.0 and n_clusters >= 2:
        q = 1.0 - (1.0 - confidence) / 2.0
        m *= (z_quantile(q) / t_quantile(q, n_clusters - 1)) ** 2
    m = max(m, 1e-9)
    if method == "wilson":
        z = z_quantile(1.0 - (1.0 - confidence) / 2.0)
        return _wilson(p, m, z, confidence), m
    if method == "clopper-pearson":
        return _clopper_pearson(p * m, m, confidence), m
    raise StatsError(f"unknown interval method {method!r}; use 'wilson' or 'clopper-pearson'")


def t_interval(
    mean: float, se: float, df: float, confidence: float = 0.95, *, bounds: tuple[float, float]
) -> Interval:
    """``mean ± t_{df} · se``, clipped to the metric's natural ``bounds``.

    A NaN ``se`` (a single cluster) gives the whole natural range: the data cannot say.
    """
    _check_confidence(confidence)
    lo_b, hi_b = bounds
    if not math.isfinite(se) or df < 1:
        return Interval(lo_b, hi_b, confidence)
    half = t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
    return Interval(max(lo_b, mean - half), min(hi_b, mean + half), confidence)
