"""Paired tests against scipy / statsmodels, and multiplicity corrections."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from evalkit.stats import (
    BootstrapTest,
    McNemarTest,
    PairedTTest,
    SignFlipTest,
    benjamini_hochberg,
    clustered_mean,
    holm,
    mcnemar_exact,
)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 0), (5, 12), (20, 9), (1, 1), (40, 25)])
def test_mcnemar_matches_statsmodels_exact(b, c):
    table = [[10, b], [c, 7]]
    ref = mcnemar(table, exact=True).pvalue
    two, worse, better = mcnemar_exact(b, c)
    assert two == pytest.approx(ref)
    if b + c:
        assert worse == pytest.approx(sps.binomtest(b, b + c, 0.5, alternative="greater").pvalue)
        assert better == pytest.approx(sps.binomtest(c, b + c, 0.5, alternative="greater").pvalue)


def test_paired_t_matches_scipy_ttest_rel():
    rng = np.random.default_rng(11)
    a = rng.random(40)
    b = a - 0.05 + rng.normal(0, 0.1, 40)
    cm = clustered_mean(b - a)
    test = PairedTTest(cm.mean, cm.se, cm.df)
    ref_two = sps.ttest_rel(b, a)
    ref_less = sps.ttest_rel(b, a, alternative="less")
    assert 2 * min(test.p_less(), test.p_greater()) == pytest.approx(ref_two.pvalue)
    assert test.p_less() == pytest.approx(ref_less.pvalue)
    ci = ref_two.confidence_interval(0.95)
    assert test.lower_bound(0.025) == pytest.approx(ci.low)
    assert test.upper_bound(0.025) == pytest.approx(ci.high)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_sign_flip_matches_scipy_permutation_test(seed):
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(-0.1, 0.3, 12), 2)
    test = SignFlipTest(d)
    for alternative, ours in (("less", test.p_less()), ("greater", test.p_greater())):
        ref = sps.permutation_test(
            (d,), np.mean, permutation_type="samples", alternative=alternative,
            n_resamples=math.inf,
        ).pvalue
        assert ours == pytest.approx(ref, abs=1e-9)
    assert "exact" in test.method


def test_sign_flip_bounds_invert_the_test():
    rng = np.random.default_rng(4)
    d = rng.normal(-0.2, 0.4, 15)
    test = SignFlipTest(d, limits=(-5, 5))
    for alpha in (0.01, 0.05, 0.1):
        ub, lb = test.upper_bound(alpha), test.lower_bound(alpha)
        assert lb < d.mean() < ub
        assert test.p_less(ub + 1e-6) <= alpha < test.p_less(ub - 1e-6)
        assert test.p_greater(lb - 1e-6) <= alpha < test.p_greater(lb + 1e-6)


def test_sign_flip_too_few_cases_cannot_bound():
    # 5 cases: 32 sign vectors, the smallest p-value is 1/32 > 0.01 → no bound at α = 0.01.
    test = SignFlipTest([-1.0] * 5, limits=(-1.0, 1.0))
    assert test.p_less() == pytest.approx(1 / 32)
    assert test.upper_bound(0.01) == 1.0


def test_monte_carlo_sign_flip_close_to_t_for_larger_n():
    rng = np.random.default_rng(9)
    d = rng.normal(-0.1, 0.3, 26)
    mc = SignFlipTest(d, seed=1)
    assert "Monte Carlo" in mc.method
    cm = clustered_mean(d)
    t = PairedTTest(cm.mean, cm.se, cm.df)
    assert mc.p_less() == pytest.approx(t.p_less(), abs=0.02)
    assert SignFlipTest(d, seed=1).p_less() == mc.p_less()  # seeded


def test_sign_flip_flips_clusters_not_cases():
    d = np.array([-0.5, -0.5, -0.4, -0.6, 0.1, -0.2])
    by_case = SignFlipTest(d)
    by_cluster = SignFlipTest(d, ["a", "a", "b", "b", "c", "c"])
    assert by_case.p_less() == pytest.approx(2 / 64)  # mean negative, only one positive case
    assert by_cluster.p_less() == pytest.approx(1 / 8)  # 3 clusters, all totals negative


def test_mcnemar_test_uses_companion_for_bounds():
    companion = PairedTTest(-0.1, 0.05, 49)
    test = McNemarTest(10, 2, companion)
    assert test.p_less() == pytest.approx(mcnemar_exact(10, 2)[1])
    assert test.upper_bound(0.05) == companion.upper_bound(0.05)
    assert test.p_less(-0.05) == companion.p_less(-0.05)


def test_bootstrap_test_percentiles_and_p_values():
    reps = np.linspace(-1, 1, 2001)
    test = BootstrapTest(reps)
    assert test.upper_bound(0.05) == pytest.approx(0.9)
    assert test.lower_bound(0.05) == pytest.approx(-0.9)
    assert test.p_less(0.0) == pytest.approx((1 + 1001) / 2002)
    assert test.p_less(0.95) == pytest.approx((1 + 51) / 2002)


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(2)
    for _ in range(20):
        p = list(rng.random(6) ** 3)
        ref = multipletests(p, alpha=0.05, method="holm")[0]
        assert holm(p, 0.05) == list(ref)


def test_benjamini_hochberg_matches_statsmodels():
    rng = np.random.default_rng(3)
    p = list(rng.random(9) ** 2)
    ref = multipletests(p, method="fdr_bh")[1]
    assert benjamini_hochberg(p) == pytest.approx(list(ref))
    assert benjamini_hochberg([]) == []
