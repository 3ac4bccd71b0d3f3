"""Sample size and MDE (STATISTICS.md §6), checked against the doc's example and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.errors import StatsError
from evalkit.stats import (
    VarianceComponents,
    components_from_paired,
    components_from_single_run,
    minimum_detectable_effect,
    paired_sample_size,
    sample_size_table,
    unpaired_sample_size,
)

# §6 example: p ≈ 0.8, between-case variance τ² = 0.08, within-case σ² = E[p(1−p)] = 0.08,
# arm correlation ρ = 0.8 → ω² = 2(1−ρ)τ² = 0.032.
DOC = VarianceComponents(omega2=0.032, sigma2_a=0.08, sigma2_b=0.08)


def test_reproduces_the_statistics_md_example():
    table = sample_size_table(0.05, DOC, ks=(1, 3, 5), alpha=0.05, power=0.8)
    assert table[1] == pytest.approx(475, abs=2)
    assert table[3] == pytest.approx(211, abs=2)
    assert table[5] == pytest.approx(158, abs=2)
    assert unpaired_sample_size(0.05, 0.8, alpha=0.05, power=0.8) == pytest.approx(791, abs=2)


def test_mde_inverts_sample_size():
    n = paired_sample_size(0.05, DOC, k=3)
    assert minimum_detectable_effect(n, DOC, k=3) == pytest.approx(0.05, rel=0.01)
    assert minimum_detectable_effect(1, DOC) == math.inf


def test_more_trials_help_less_than_more_cases():
    table = sample_size_table(0.05, DOC, ks=(1, 3, 5, 10))
    assert table[1] > table[3] > table[5] > table[10]
    # K only shrinks the within-case term: the floor is ω² alone.
    floor = math.ceil((sps.norm.ppf(0.95) + sps.norm.ppf(0.8)) ** 2 * DOC.omega2 / 0.05**2)
    assert table[10] > floor


def test_invalid_inputs():
    with pytest.raises(StatsError):
        paired_sample_size(0.0, DOC)
    with pytest.raises(StatsError):
        paired_sample_size(0.05, DOC, alpha=0.7)
    with pytest.raises(StatsError):
        DOC.paired_variance(0)


def _population(rng, size, a, b, rho, shift):
    u = rng.standard_normal(size)
    v = rng.standard_normal(size)
    p_a = sps.norm.cdf(a + b * u)
    p_b = sps.norm.cdf(a + shift + b * (rho * u + math.sqrt(1 - rho**2) * v))
    return p_a, p_b


def test_sample_size_formula_matches_simulated_power():
    rng = np.random.default_rng(12)
    a, b, rho, shift, k = 1.0, 0.7, 0.9, -0.22, 3
    # True components from a large population of cases.
    p_a, p_b = _population(rng, 400_000, a, b, rho, shift)
    delta = float(p_a.mean() - p_b.mean())
    vc = VarianceComponents(
        float(np.var(p_b - p_a)), float(np.mean(p_a * (1 - p_a))), float(np.mean(p_b * (1 - p_b)))
    )
    n = paired_sample_size(delta, vc, k=k, alpha=0.05, power=0.8)
    reps = 3000
    p_a, p_b = _population(rng, (reps, n), a, b, rho, shift)
    x_a = rng.binomial(k, p_a) / k
    x_b = rng.binomial(k, p_b) / k
    d = x_b - x_a
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    power = float(np.mean(t < -sps.t.ppf(0.95, n - 1)))
    print(f"\nsimulated power at the planned n={n} (K={k}, δ={delta:.3f}): {power:.3f}")
    assert power == pytest.approx(0.8, abs=0.035)


def test_components_measured_on_paired_data_are_close_to_the_truth():
    rng = np.random.default_rng(3)
    n, k = 4000, 5
    p_a, p_b = _population(rng, n, 0.8, 0.8, 0.8, 0.0)
    out_a = rng.binomial(1, np.repeat(p_a[:, None], k, 1))
    out_b = rng.binomial(1, np.repeat(p_b[:, None], k, 1))
    vc = components_from_paired(
        out_b.mean(1) - out_a.mean(1), np.full(n, k), out_a.var(1, ddof=1), np.full(n, k),
        out_b.var(1, ddof=1),
    )
    assert vc.omega2 == pytest.approx(np.var(p_b - p_a), rel=0.15)
    assert vc.sigma2_a == pytest.approx(np.mean(p_a * (1 - p_a)), rel=0.05)


def test_single_run_components_use_the_assumed_correlation():
    rng = np.random.default_rng(4)
    n, k = 3000, 4
    p = rng.beta(2, 0.5, n)
    out = rng.binomial(1, np.repeat(p[:, None], k, 1))
    vc = components_from_single_run(out.mean(1), np.full(n, k), out.var(1, ddof=1),
                                    correlation=0.8)
    assert vc.omega2 == pytest.approx(2 * 0.2 * np.var(p), rel=0.15)
    assert vc.sigma2_a == pytest.approx(np.mean(p * (1 - p)), rel=0.05)
    assert "0.8" in vc.basis
    k1 = components_from_single_run(out[:, 0], np.ones(n), np.full(n, np.nan))
    assert k1.omega2 == 0.0
    assert "K=1" in k1.basis
