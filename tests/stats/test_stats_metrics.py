"""pass@k, pass^k, ratios, weighted quantiles and resampling (STATISTICS.md §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.errors import StatsError
from evalkit.stats import metric_direction, pass_at_k, pass_hat_k, ratio_estimate
from evalkit.stats._metrics import resample_counts, weighted_quantiles


def test_pass_at_k_matches_closed_form():
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                expected = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k([n], [c], k)[0] == pytest.approx(expected, abs=1e-12)


def test_pass_hat_k_matches_closed_form():
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                expected = math.comb(c, k) / math.comb(n, k)
                assert pass_hat_k([n], [c], k)[0] == pytest.approx(expected, abs=1e-12)


def test_pass_k_undefined_when_fewer_trials_than_k():
    assert math.isnan(pass_hat_k([3], [3], 5)[0])  # not 1.0
    assert math.isnan(pass_at_k([3], [3], 5)[0])
    assert pass_at_k([10], [8], 3)[0] == 1.0  # n − c < k


def test_pass_k_large_n_is_stable():
    v = pass_at_k([1000], [1], 10)[0]
    assert v == pytest.approx(10 / 1000)


def test_pass_k_rejects_bad_counts():
    with pytest.raises(StatsError):
        pass_at_k([3], [4], 1)
    with pytest.raises(StatsError):
        pass_hat_k([3], [1], 0)


def test_ratio_estimate_linearised_variance():
    y = np.array([0, 2, 1, 5, 0, 1], dtype=float)
    x = np.array([4, 5, 3, 10, 2, 6], dtype=float)
    r = ratio_estimate(y, x)
    big_r = y.sum() / x.sum()
    n = y.size
    var = np.sum((y - big_r * x) ** 2) / (n * (n - 1) * x.mean() ** 2)
    assert r.estimate == pytest.approx(big_r)
    assert r.se == pytest.approx(math.sqrt(var))
    # clusters: totals per cluster first
    rc = ratio_estimate(y, x, ["a", "a", "b", "b", "c", "c"])
    yc, xc = np.array([2, 6, 1.0]), np.array([9, 13, 8.0])
    var_c = np.sum((yc - big_r * xc) ** 2) / (3 * 2 * xc.mean() ** 2)
    assert rc.se == pytest.approx(math.sqrt(var_c))
    with pytest.raises(StatsError, match="no tool calls"):
        ratio_estimate([0, 0], [0, 0])


def test_weighted_quantiles_with_unit_weights_equal_numpy_inverted_cdf():
    rng = np.random.default_rng(0)
    v = rng.gamma(2, 1, 101)
    for q in (0.0, 0.1, 0.5, 0.95, 1.0):
        got = weighted_quantiles(v, np.ones((2, v.size)), q)
        assert got[0] == np.quantile(v, q, method="inverted_cdf")
    w = np.zeros((1, 4))
    w[0, [1, 3]] = 1.0
    assert weighted_quantiles(np.array([1.0, 2, 3, 4]), w, 0.5)[0] == 2.0


def test_resample_counts_are_seeded_and_sum_to_cluster_count():
    a = resample_counts(7, 50, np.random.default_rng(5))
    b = resample_counts(7, 50, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert np.all(a.sum(axis=1) == 7)


def test_metric_direction():
    higher = ["completion_rate", "pass_rate:x", "score:x", "pass@3", "pass^3"]
    lower = ["tool_error_rate", "trials_with_tool_error", "latency_p95_s", "cost_per_trial_usd"]
    assert all(metric_direction(m) == "higher" for m in higher)
    assert all(metric_direction(m) == "lower" for m in lower)


def test_grid_bootstrap_quantiles_agree_with_the_exact_ones() -> None:
    from evalkit.stats._metrics import bootstrap_counts, cluster_bootstrap_quantiles

    rng = np.random.default_rng(4)
    values = rng.lognormal(0.0, 0.6, 10_000)
    codes = np.repeat(np.arange(2_000), 5)
    counts = bootstrap_counts(2_000, 1_000, 9)
    for q in (0.5, 0.95):
        exact = weighted_quantiles(values, counts[:, codes].astype(float), q)
        grid = cluster_bootstrap_quantiles(values, codes, counts, q)  # 10,000 > the limit
        lo_e, hi_e = np.percentile(exact, [2.5, 97.5])
        lo_g, hi_g = np.percentile(grid, [2.5, 97.5])
        assert lo_g == pytest.approx(lo_e, rel=2e-3)
        assert hi_g == pytest.approx(hi_e, rel=2e-3)


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_grid_bootstrap_quantiles_are_exact_when_the_grid_holds_every_value(q) -> None:
    """Few, very unequal clusters (a bimodal mix) stress the band: with a grid as fine as
    the data, every resample's quantile must equal the exact weighted quantile, so no
    resample may fall outside the band (it is widened when one reaches an edge)."""
    from evalkit.stats._metrics import bootstrap_counts, cluster_bootstrap_quantiles

    rng = np.random.default_rng(11)
    sizes = rng.integers(20, 600, 25)
    codes = np.repeat(np.arange(25), sizes)
    centre = np.where(np.arange(25) % 3 == 0, 10.0, 1.0)
    values = rng.lognormal(0.0, 0.4, codes.size) * centre[codes]
    counts = bootstrap_counts(25, 400, 2)
    exact = weighted_quantiles(values, counts[:, codes].astype(float), q)
    grid = cluster_bootstrap_quantiles(values, codes, counts, q, grid_size=values.size)
    np.testing.assert_array_equal(grid, exact)
