"""Sample size, power and minimum detectable effect for paired comparisons (§6).

The paired design's variance per case is ``ω² + (σ²_A + σ²_B)/K``: ω² is the variance
across cases of the *true* per-case difference, σ² the mean within-case trial variance.
More trials per case only shrink the second term, which is why K = 3–5 captures most of
the gain.

Estimating the components:

- From a **paired** (two-arm) run: σ²_A, σ²_B are the mean within-case variances of each
  arm, and ω² = Var(d̂_i) − mean(σ²_A,i/K_A,i + σ²_B,i/K_B,i), floored at 0.
- From a **single** run there is no second arm, so ω² cannot be measured. We split the
  case-level variance into between-case τ² = Var(p̂_i) − mean(σ²_i/K_i) and within-case
  σ², and assume the candidate's true per-case rates correlate with the baseline's at ρ
  (default 0.8, the §6 example): ω² = 2(1 − ρ)τ², σ²_A = σ²_B = σ². ρ = 1 is the A/A
  case (same system twice); ρ = 0 is as bad as unpaired. With K = 1 the split is not
  identifiable, and all variance is taken as within-case (the conservative choice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from evalkit.errors import StatsError
from evalkit.stats._intervals import z_quantile

__all__ = [
    "DEFAULT_ARM_CORRELATION",
    "VarianceComponents",
    "components_from_paired",
    "components_from_single_run",
    "minimum_detectable_effect",
    "paired_sample_size",
    "sample_size_table",
    "unpaired_sample_size",
]

DEFAULT_ARM_CORRELATION = 0.8
"""Assumed correlation of true per-case rates between arms when only one run exists."""


@dataclass(frozen=True, slots=True)
class VarianceComponents:
    """Variance components of a paired per-case difference.

    Attributes:
        omega2: ω², variance across cases of the true per-case difference.
        sigma2_a: σ²_A, mean within-case trial variance of the baseline arm.
        sigma2_b: σ²_B, the same for the candidate arm.
        basis: how the components were obtained, in words.
    """

    omega2: float
    sigma2_a: float
    sigma2_b: float
    basis: str = "given"

    def paired_variance(self, k: float) -> float:
        """Variance of one case's difference d_i with K trials per arm."""
        if k <= 0:
            raise StatsError(f"trials per case must be positive, got {k}")
        return self.omega2 + (self.sigma2_a + self.sigma2_b) / k

    def to_dict(self) -> dict[str, float | str]:
        """Plain-JSON form."""
        return asdict(self)


def _z_sum(alpha: float, power: float) -> float:
    if not 0.0 < alpha < 0.5:
        raise StatsError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0.0 < power < 1.0:
        raise StatsError(f"power must be in (0, 1), got {power}")
    return z_quantile(1.0 - alpha) + z_quantile(power)


def paired_sample_size(
    delta: float,
    components: VarianceComponents,
    k: float = 1,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Cases needed to detect a paired difference ``delta`` (one-sided test).

    ``n = (z_{1−α} + z_{1−β})² · (ω² + (σ²_A + σ²_B)/K) / δ²``, rounded up.

    Example:
        >>> vc = VarianceComponents(omega2=0.032, sigma2_a=0.08, sigma2_b=0.08)
        >>> paired_sample_size(0.05, vc, k=1), paired_sample_size(0.05, vc, k=5)
        (475, 159)
    """
    if delta <= 0:
        raise StatsError(f"the effect to detect must be positive, got {delta}")
    n = _z_sum(alpha, power) ** 2 * components.paired_variance(k) / (delta * delta)
    return max(2, math.ceil(n - 1e-9))


def unpaired_sample_size(
    delta: float, p: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Cases per arm for an unpaired comparison of two rates near ``p`` with K = 1."""
    if delta <= 0:
        raise StatsError(f"the effect to detect must be positive, got {delta}")
    if not 0.0 < p < 1.0:
        raise StatsError(f"p must be in (0, 1), got {p}")
    n = _z_sum(alpha, power) ** 2 * 2.0 * p * (1.0 - p) / (delta * delta)
    return max(2, math.ceil(n - 1e-9))


def minimum_detectable_effect(
    n: int,
    components: VarianceComponents,
    k: float = 1,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest true paired difference detected with the given power at n cases."""
    if n < 2:
        return math.inf
    return _z_sum(alpha, power) * math.sqrt(components.paired_variance(k) / n)


def sample_size_table(
    delta: float,
    components: VarianceComponents,
    ks: Sequence[int] = (1, 3, 5, 10),
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[int, int]:
    """Cases needed at each K, e.g. ``{1: 475, 3: 211, 5: 159, 10: 115}``."""
    return {
        int(k): paired_sample_size(delta, components, k, alpha=alpha, power=power) for k in ks
    }


def _within(var_within: ArrayLike, n: ArrayLike) -> tuple[float, float]:
    """Mean within-case variance and mean of σ²_i/K_i over cases with K_i ≥ 2."""
    v = np.asarray(var_within, dtype=float)
    k = np.asarray(n, dtype=float)
    ok = (k >= 2) & np.isfinite(v)
    if not ok.any():
        return math.nan, math.nan
    return float(v[ok].mean()), float((v[ok] / k[ok]).mean())


def components_from_single_run(
    case_means: ArrayLike,
    trials_per_case: ArrayLike,
    var_within: ArrayLike,
    *,
    correlation: float = DEFAULT_ARM_CORRELATION,
) -> VarianceComponents:
    """Variance components for planning from one run (see the module docstring).

    Args:
        case_means: p̂_i per case.
        trials_per_case: K_i per case.
        var_within: unbiased within-case variance per case (NaN where K_i = 1).
        correlation: assumed correlation ρ of true per-case rates between arms.
    """
    if not -1.0 <= correlation <= 1.0:
        raise StatsError(f"correlation must be in [-1, 1], got {correlation}")
    means = np.asarray(case_means, dtype=float)
    if means.size < 2:
        raise StatsError("variance components need at least two cases")
    total = float(means.var(ddof=1))
    sigma2, noise = _within(var_within, trials_per_case)
    if math.isnan(sigma2):
        # K = 1: between and within cannot be told apart; take it all as within-case.
        return VarianceComponents(
            0.0, total, total, "single run, K=1: all variance taken as within-case"
        )
    tau2 = max(0.0, total - noise)
    return VarianceComponents(
        2.0 * (1.0 - correlation) * tau2,
        sigma2,
        sigma2,
        f"single run, assumed arm correlation {correlation:g}",
    )


def components_from_paired(
    diffs: ArrayLike,
    trials_a: ArrayLike,
    var_within_a: ArrayLike,
    trials_b: ArrayLike,
    var_within_b: ArrayLike,
) -> VarianceComponents:
    """Variance components measured on paired per-case differences d̂_i = p̂_B,i − p̂_A,i."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        raise StatsError("variance components need at least two paired cases")
    total = float(d.var(ddof=1))
    s_a, noise_a = _within(var_within_a, trials_a)
    s_b, noise_b = _within(var_within_b, trials_b)
    if math.isnan(s_a) or math.isnan(s_b):
        return VarianceComponents(0.0, total / 2.0, total / 2.0, "paired run, K=1: all within")
    return VarianceComponents(
        max(0.0, total - noise_a - noise_b), s_a, s_b, "measured on the paired run"
    )
