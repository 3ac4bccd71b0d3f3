"""Intervals for one rate or mean: reference numbers (STATISTICS.md §2) and cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from evalkit.errors import StatsError
from evalkit.stats import (
    clopper_pearson_interval,
    clustered_mean,
    design_effect,
    effective_rate_interval,
    t_interval,
    wilson_interval,
)


def test_reference_numbers_from_statistics_md():
    w = wilson_interval(17, 20)
    assert (round(w.low, 3), round(w.high, 3)) == (0.640, 0.948)
    cp = clopper_pearson_interval(17, 20)
    assert (round(cp.low, 3), round(cp.high, 3)) == (0.621, 0.968)
    w10 = wilson_interval(10, 10)
    assert (round(w10.low, 3), round(w10.high, 3)) == (0.722, 1.000)


def test_zero_failures_upper_bound_is_about_three_over_m():
    # One-sided 95% upper bound for 0 failures in m trials ≈ 3/m (rule of three).
    m = 300
    cp = clopper_pearson_interval(0, m, confidence=0.90)  # two-sided 90% = one-sided 95%
    assert cp.high == pytest.approx(3 / m, rel=0.01)


@pytest.mark.parametrize("n", [1, 5, 20, 137])
@pytest.mark.parametrize("conf", [0.8, 0.95, 0.99])
def test_wilson_and_cp_match_statsmodels(n, conf):
    for x in range(n + 1):
        ours_w = wilson_interval(x, n, conf)
        ref_w = proportion_confint(x, n, alpha=1 - conf, method="wilson")
        assert (ours_w.low, ours_w.high) == pytest.approx(ref_w, abs=1e-10)
        ours_cp = clopper_pearson_interval(x, n, conf)
        ref_cp = proportion_confint(x, n, alpha=1 - conf, method="beta")
        assert (ours_cp.low, ours_cp.high) == pytest.approx(ref_cp, abs=1e-10)


def test_rate_given_as_float_equals_count():
    assert wilson_interval(0.85, 20) == wilson_interval(17, 20)
    assert wilson_interval(17.0, 20) == wilson_interval(17, 20)


def test_bad_input_raises_stats_error():
    with pytest.raises(StatsError, match="n > 0"):
        wilson_interval(0, 0)
    with pytest.raises(StatsError, match="successes"):
        wilson_interval(21, 20)
    with pytest.raises(StatsError, match="confidence"):
        wilson_interval(1, 2, confidence=1.5)


def test_clustered_se_equals_sd_over_sqrt_n_without_clusters():
    rng = np.random.default_rng(3)
    s = rng.random(25)
    cm = clustered_mean(s)
    assert cm.se == pytest.approx(s.std(ddof=1) / math.sqrt(s.size))
    assert cm.n_clusters == 25


def test_clustered_se_follows_the_formula_with_clusters():
    s = np.array([0.2, 0.4, 1.0, 0.8, 0.0, 0.5])
    clusters = ["a", "a", "b", "b", "c", "c"]
    cm = clustered_mean(s, clusters)
    mean = s.mean()
    sums = [(s[:2] - mean).sum(), (s[2:4] - mean).sum(), (s[4:] - mean).sum()]
    expected = math.sqrt(3 / 2 * sum(v * v for v in sums)) / 6
    assert cm.se == pytest.approx(expected)
    assert cm.n_clusters == 3


def test_design_effect_floors_at_one_and_defaults_for_degenerate_rates():
    assert design_effect(0.5, 0.001, 100) == 1.0  # SE below binomial: floor
    assert design_effect(0.5, 0.1, 100) == pytest.approx(0.01 / (0.25 / 100))
    assert design_effect(1.0, 0.0, 50) == 1.0
    assert design_effect(0.0, 0.0, 50) == 1.0
    assert design_effect(0.5, 0.1, 100, clustered=False) == 1.0


def test_effective_interval_uses_all_trials_when_every_trial_passes():
    # 10 cases x 5 trials, all passing: DEFF defaults to 1 → Wilson on m = 50.
    iv, m = effective_rate_interval(1.0, 0.0, 50, 10)
    assert m == 50
    assert iv.low == pytest.approx(wilson_interval(50, 50).low)
    assert iv.high == 1.0


def test_effective_interval_shrinks_n_by_the_design_effect():
    p, n_trials, n_clusters = 0.7, 300, 60
    se = 0.06  # much larger than the binomial sqrt(.21/300) = 0.026
    iv, m = effective_rate_interval(p, se, n_trials, n_clusters)
    deff = se**2 / (p * (1 - p) / n_trials)
    z, t = sps.norm.ppf(0.975), sps.t.ppf(0.975, n_clusters - 1)
    assert m == pytest.approx(n_trials / deff * (z / t) ** 2)
    assert (iv.low, iv.high) == pytest.approx(
        proportion_confint(p * m, m, method="wilson"), abs=1e-9
    )
    # and it is wider than the naive Wilson on all trials
    naive = wilson_interval(p, n_trials)
    assert iv.high - iv.low > naive.high - naive.low


def test_effective_interval_clopper_pearson_option():
    iv, m = effective_rate_interval(0.85, 0.0, 20, 20, clustered=False, method="clopper-pearson")
    assert m == 20
    assert (round(iv.low, 3), round(iv.high, 3)) == (0.621, 0.968)
    with pytest.raises(StatsError, match="unknown interval"):
        effective_rate_interval(0.5, 0.1, 10, 10, method="wald")  # type: ignore[arg-type]


def test_t_interval_matches_scipy_and_clips():
    iv = t_interval(0.5, 0.1, 9, 0.95, bounds=(0.0, 1.0))
    lo, hi = sps.t.interval(0.95, 9, loc=0.5, scale=0.1)
    assert (iv.low, iv.high) == pytest.approx((lo, hi))
    clipped = t_interval(0.95, 0.1, 9, 0.95, bounds=(0.0, 1.0))
    assert clipped.high == 1.0
    unknown = t_interval(0.5, math.nan, 0, 0.95, bounds=(0.0, 1.0))
    assert (unknown.low, unknown.high) == (0.0, 1.0)
