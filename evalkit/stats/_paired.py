"""Paired tests on per-case differences, and multiplicity corrections (§4, §5).

Each test answers the same three questions so the gate can use any of them: the
one-sided p-value for ``Δ < θ`` and for ``Δ > θ``, and one-sided confidence bounds at
any level. That is what FAIL (upper bound of Δ below 0 at α_fail) and PASS (lower bound
above −δ at α_pass) need.

- :class:`PairedTTest` — mean of per-case (or per-cluster) differences, clustered SE,
  t with C − 1 degrees of freedom.
- :class:`SignFlipTest` — exact paired sign-flip permutation test (all 2^C sign vectors
  up to 20 clusters, seeded Monte Carlo beyond); bounds by inverting the test, in closed
  form.
- :class:`McNemarTest` — exact McNemar (b ~ Bin(b + c, ½)) for K = 1 binary outcomes;
  its bounds come from a companion test.
- :class:`BootstrapTest` — paired cluster bootstrap replicates of Δ (percentile bounds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evalkit.errors import StatsError
from evalkit.stats._intervals import t_quantile

__all__ = [
    "BootstrapTest",
    "McNemarTest",
    "PairedTTest",
    "PairedTest",
    "SignFlipTest",
    "benjamini_hochberg",
    "holm",
    "mcnemar_exact",
]

EXACT_SIGN_FLIP_MAX = 20
"""Largest number of clusters for which all 2^C sign vectors are enumerated."""


class PairedTest(Protocol):
    """What every paired test offers the comparison and the gate."""

    @property
    def method(self) -> str:
        """How the test works, in words."""
        ...

    def p_less(self, theta: float = 0.0) -> float:
        """One-sided p-value for H1: Δ < θ."""
        ...

    def p_greater(self, theta: float = 0.0) -> float:
        """One-sided p-value for H1: Δ > θ."""
        ...

    def upper_bound(self, alpha: float) -> float:
        """One-sided upper confidence bound of Δ at level 1 − α."""
        ...

    def lower_bound(self, alpha: float) -> float:
        """One-sided lower confidence bound of Δ at level 1 − α."""
        ...


def two_sided_p(test: PairedTest) -> float:
    """Two-sided p-value for Δ ≠ 0: twice the smaller one-sided p, capped at 1."""
    return min(1.0, 2.0 * min(test.p_less(0.0), test.p_greater(0.0)))


@dataclass(frozen=True, slots=True)
class PairedTTest:
    """Paired t test: ``Δ̂ ± t_{df} · SE``.

    Attributes:
        estimate: Δ̂, the mean per-case difference.
        se: its (clustered) standard error.
        df: degrees of freedom (clusters − 1).
        limits: the natural range of Δ, used when the data cannot bound it.
    """

    estimate: float
    se: float
    df: float
    limits: tuple[float, float] = (-math.inf, math.inf)
    method: str = "paired t"

    def _usable(self) -> bool:
        return math.isfinite(self.se) and self.df >= 1

    def _cdf(self, x: float) -> float:
        # scipy.special.stdtr is t.cdf without importing scipy.stats (about 1 s at start).
        from scipy.special import stdtr

        return float(stdtr(self.df, x))

    def p_less(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ < θ."""
        if not self._usable():
            return 1.0
        if self.se == 0.0:
            return 0.0 if self.estimate < theta else 1.0
        return self._cdf((self.estimate - theta) / self.se)

    def p_greater(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ > θ."""
        if not self._usable():
            return 1.0
        if self.se == 0.0:
            return 0.0 if self.estimate > theta else 1.0
        return 1.0 - self._cdf((self.estimate - theta) / self.se)

    def upper_bound(self, alpha: float) -> float:
        """Upper bound at 1 − α."""
        if not self._usable():
            return self.limits[1]
        return min(self.limits[1], self.estimate + t_quantile(1 - alpha, self.df) * self.se)

    def lower_bound(self, alpha: float) -> float:
        """Lower bound at 1 − α."""
        if not self._usable():
            return self.limits[0]
        return max(self.limits[0], self.estimate - t_quantile(1 - alpha, self.df) * self.se)


def _all_sign_sums(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ s_c v_c for every sign vector s ∈ {±1}^C, the identity first."""
    half = values.size // 2

    def enumerate_half(v: NDArray[np.float64]) -> NDArray[np.float64]:
        if v.size == 0:
            return np.zeros(1)
        bits = (np.arange(2 ** v.size)[:, None] >> np.arange(v.size)) & 1
        return (1.0 - 2.0 * bits) @ v  # bit 0 → +1, so row 0 is the identity

    left = enumerate_half(values[:half])
    right = enumerate_half(values[half:])
    return (left[:, None] + right[None, :]).ravel()


@dataclass(frozen=True)
class SignFlipTest:
    """Exact (or Monte Carlo) paired sign-flip permutation test, clustered.

    Under H0: Δ = θ the cluster totals of ``d_i − θ`` are symmetric about 0, so flipping
    their signs is as likely as the data. The statistic is the sum of shifted
    differences. For each sign vector s the test rejects once θ passes the threshold
    ``θ_s = Σ_{flipped} T_c / Σ_{flipped} n_c``; counting and ranking these thresholds
    gives p-values for any θ and exact confidence bounds without a search.

    Args:
        diffs: per-case differences d_i.
        clusters: cluster label per case, or None (each case its own cluster).
        limits: natural range of Δ, returned when the test is too small to bound it.
        seed: seed of the Monte Carlo sign vectors (used beyond 20 clusters).
        n_resamples: Monte Carlo sign vectors.
    """

    diffs: ArrayLike
    clusters: ArrayLike | None = None
    limits: tuple[float, float] = (-math.inf, math.inf)
    seed: int = 0
    n_resamples: int = 20_000
    method: str = field(init=False)
    _thresholds: NDArray[np.float64] = field(init=False, repr=False)
    _n_total: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        d = np.asarray(self.diffs, dtype=float)
        if d.ndim != 1 or d.size == 0:
            raise StatsError("a sign-flip test needs at least one paired difference")
        if self.clusters is None:
            totals, sizes = d, np.ones(d.size)
        else:
            from evalkit.stats._metrics import cluster_codes

            codes, _ = cluster_codes(self.clusters)
            totals = np.bincount(codes, weights=d)
            sizes = np.bincount(codes).astype(float)
        c = totals.size
        if c <= EXACT_SIGN_FLIP_MAX:
            a = _all_sign_sums(totals)[1:]
            b = _all_sign_sums(sizes)[1:]
            method = f"exact sign-flip permutation ({2**c} sign vectors)"
        else:
            rng = np.random.default_rng(self.seed)
            signs = rng.choice(np.array([-1.0, 1.0]), size=(self.n_resamples, c))
            from evalkit.stats._metrics import one_blas_thread

            with one_blas_thread():
                a, b = signs @ totals, signs @ sizes
            method = f"sign-flip permutation (Monte Carlo, {self.n_resamples} resamples)"
        n_flipped = (sizes.sum() - b) / 2.0
        sum_flipped = (totals.sum() - a) / 2.0
        keep = n_flipped > 0.5  # the identity (and MC draws equal to it) never rejects
        thresholds = sum_flipped[keep] / n_flipped[keep]
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "_thresholds", thresholds)
        object.__setattr__(self, "_n_total", int(a.size) + 1)

    def p_less(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ < θ: share of sign vectors at least as extreme."""
        count = np.count_nonzero(self._thresholds >= theta - 1e-12)
        return float(1 + count) / self._n_total

    def p_greater(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ > θ."""
        count = np.count_nonzero(self._thresholds <= theta + 1e-12)
        return float(1 + count) / self._n_total

    def _kth_smallest(self, k: int) -> float:
        return float(np.partition(self._thresholds, k)[k])

    def _allowed(self, alpha: float) -> int:
        return math.floor(alpha * self._n_total + 1e-9) - 1

    def upper_bound(self, alpha: float) -> float:
        """Smallest θ at which H0: Δ ≥ θ is rejected at α (exact inversion)."""
        r = self._allowed(alpha)
        size = self._thresholds.size
        if r < 0 or r >= size:
            return self.limits[1] if r < 0 else self._kth_smallest(0)
        return min(self.limits[1], self._kth_smallest(size - 1 - r))

    def lower_bound(self, alpha: float) -> float:
        """Largest θ at which H0: Δ ≤ θ is rejected at α."""
        r = self._allowed(alpha)
        size = self._thresholds.size
        if r < 0 or r >= size:
            return self.limits[0] if r < 0 else self._kth_smallest(size - 1)
        return max(self.limits[0], self._kth_smallest(r))


def mcnemar_exact(b: int, c: int) -> tuple[float, float, float]:
    """Exact McNemar test on discordant pairs.

    Args:
        b: pairs passing in the baseline and failing in the candidate.
        c: pairs failing in the baseline and passing in the candidate.

    Returns:
        ``(p_two_sided, p_candidate_worse, p_candidate_better)``; the two-sided value is
        ``2·P(X ≤ min(b, c))`` capped at 1, as in statsmodels' ``mcnemar(exact=True)``.
    """
    from scipy.stats import binom

    m = b + c
    if m == 0:
        return 1.0, 1.0, 1.0
    worse = float(binom.cdf(c, m, 0.5))  # P(X ≤ c), X ~ Bin(m, ½) counts candidate wins
    better = float(binom.cdf(b, m, 0.5))
    return min(1.0, 2.0 * float(binom.cdf(min(b, c), m, 0.5))), worse, better


@dataclass(frozen=True, slots=True)
class McNemarTest:
    """Exact McNemar p-values at θ = 0; other θ and bounds from ``companion``."""

    b: int
    c: int
    companion: PairedTest
    method: str = "exact McNemar"

    def p_less(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ < θ (exact at θ = 0)."""
        return mcnemar_exact(self.b, self.c)[1] if theta == 0.0 else self.companion.p_less(theta)

    def p_greater(self, theta: float = 0.0) -> float:
        """P-value for H1: Δ > θ (exact at θ = 0)."""
        if theta == 0.0:
            return mcnemar_exact(self.b, self.c)[2]
        return self.companion.p_greater(theta)

    def upper_bound(self, alpha: float) -> float:
        """Upper bound from the companion test."""
        return self.companion.upper_bound(alpha)

    def lower_bound(self, alpha: float) -> float:
        """Lower bound from the companion test."""
        return self.companion.lower_bound(alpha)


@dataclass(frozen=True)
class BootstrapTest:
    """Percentile bounds and p-values from bootstrap replicates of Δ."""

    replicates: NDArray[np.float64]
    limits: tuple[float, float] = (-math.inf, math.inf)
    method: str = "paired cluster bootstrap"
    _sorted: NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        r = np.asarray(self.replicates, dtype=float)
        object.__setattr__(self, "_sorted", np.sort(r[np.isfinite(r)]))

    def _n(self) -> int:
        return int(self._sorted.size)

    def p_less(self, theta: float = 0.0) -> float:
        """(1 + #{Δ* ≥ θ}) / (B + 1)."""
        if self._n() == 0:
            return 1.0
        count = self._n() - np.searchsorted(self._sorted, theta, "left")
        return float(1 + count) / (self._n() + 1)

    def p_greater(self, theta: float = 0.0) -> float:
        """(1 + #{Δ* ≤ θ}) / (B + 1)."""
        if self._n() == 0:
            return 1.0
        count = np.searchsorted(self._sorted, theta, "right")
        return float(1 + count) / (self._n() + 1)

    def upper_bound(self, alpha: float) -> float:
        """The 1 − α quantile of the replicates."""
        if self._n() == 0:
            return self.limits[1]
        return min(self.limits[1], float(np.quantile(self._sorted, 1 - alpha)))

    def lower_bound(self, alpha: float) -> float:
        """The α quantile of the replicates."""
        if self._n() == 0:
            return self.limits[0]
        return max(self.limits[0], float(np.quantile(self._sorted, alpha)))

    @property
    def se(self) -> float:
        """Bootstrap standard error (sd of the replicates)."""
        return float(self._sorted.std(ddof=1)) if self._n() > 1 else math.nan


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm step-down: which hypotheses are rejected at family-wise level α.

    Sort the p-values; reject p_(j) while p_(j) ≤ α/(m − j + 1) (j from 1), stop at the
    first that is not.

    Example:
        >>> holm([0.001, 0.04, 0.03], 0.05)
        [True, False, False]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected = [False] * m
    for rank, idx in enumerate(order):
        if p_values[idx] <= alpha / (m - rank):
            rejected[idx] = True
        else:
            break
    return rejected


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), for non-blocking diagnostics.

    Example:
        >>> [round(q, 3) for q in benjamini_hochberg([0.01, 0.04, 0.03])]
        [0.03, 0.04, 0.04]
    """
    m = len(p_values)
    if m == 0:
        return []
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(v) for v in out]
