"""STATISTICS.md §8 validation: A/A false-FAIL rate, interval coverage, power at the MDE,
and the savings of sequential stopping. Seeded and vectorised; run with ``pytest -s`` to
see the measured figures.

The simulations build per-case values straight from outcome matrices and then call the
library's own paired test (``paired_delta``), ``evaluate_gate`` and ``rate_estimate``; only
the pandas reduction of run tables is skipped (``test_paired_delta_on_case_values_matches_
compare_runs`` checks that shortcut gives identical results).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.optimize import brentq
from statsim import case_values, light_comparison

from evalkit.gate import GateSpec, evaluate_gate
from evalkit.stats import SequentialPlan, sequential_decision
from evalkit.stats._estimates import rate_estimate

SPEC = GateSpec.model_validate({"regression": {"completion_rate": {"margin": 0.05}}})


def _rates(rng, n, mean=0.8, concentration=4.0):
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=n)


def _outcomes(rng, rates, k, reps):
    return (rng.random((reps, rates.shape[-1], k)) < rates[..., None]).astype(float)


def _verdicts(out_a, out_b, spec=SPEC):
    return [evaluate_gate(spec, comparison=light_comparison(a, b, seed=i))
            for i, (a, b) in enumerate(zip(out_a, out_b, strict=True))]


@pytest.mark.parametrize(
    ("n", "k", "reps"),
    [(50, 3, 400), (15, 3, 150), (80, 1, 400)],
    ids=["paired-t", "sign-flip", "mcnemar"],
)
def test_aa_false_fail_rate_is_at_most_alpha_fail(n, k, reps):
    rng = np.random.default_rng(100 + n + k)
    fails = 0
    for _ in range(reps // 50):
        rates = _rates(rng, n)  # a fresh dataset every 50 runs; the same system twice
        a, b = _outcomes(rng, rates, k, 50), _outcomes(rng, rates, k, 50)
        fails += sum(r.verdict == "FAIL" for r in _verdicts(a, b))
    rate = fails / reps
    # binomial tolerance: what 0.1% of runs would exceed if the true rate were α_fail
    limit = sps.binom.ppf(0.999, reps, SPEC.alpha_fail)
    print(f"\nA/A n={n} K={k}: false FAIL {fails}/{reps} = {rate:.4f} "
          f"(α_fail = {SPEC.alpha_fail}, tolerance ≤ {limit:.0f})")
    assert fails <= limit


@pytest.mark.parametrize("mean", [0.6, 0.9])
def test_rate_intervals_cover_the_true_rate(mean):
    rng = np.random.default_rng(7 if mean < 0.7 else 8)
    reps = 500
    covs = []
    lines = []
    for n in (10, 30, 100, 200):
        for k in (1, 3, 10):
            covered = 0
            for _ in range(reps):
                rates = _rates(rng, n, mean, 5.0)  # heterogeneous cases, true rate = mean
                out = (rng.random((n, k)) < rates[:, None]).astype(float)
                m = rate_estimate("completion_rate", case_values(out), confidence=0.95,
                                  interval="wilson")
                covered += m.ci_low <= mean <= m.ci_high
            covs.append(covered / reps)
            lines.append(f"n={n:<3} K={k:<2} {covs[-1]:.3f}")
    print(f"\ncoverage of 95% Wilson-on-effective-n, true rate {mean}, cases ~ Beta(mean·5, "
          f"(1−mean)·5), {reps} runs each:\n  " + "\n  ".join(lines)
          + f"\n  worst {min(covs):.3f}, mean {np.mean(covs):.3f}")
    # ≥ 93% in every regime, up to simulation noise (two binomial SEs at 500 runs)
    assert min(covs) >= 0.93 - 2 * np.sqrt(0.93 * 0.07 / reps)
    assert np.mean(covs) >= 0.94


@pytest.mark.parametrize(("n", "k"), [(80, 3), (150, 1)], ids=["paired-t", "mcnemar"])
def test_power_at_the_declared_mde(n, k):
    rng = np.random.default_rng(21 + k)
    reps = 300
    rates = _rates(rng, n, 0.75, 3.0)
    # The MDE the gate declares for this n and K (median over a few A/A runs).
    pilot = _verdicts(_outcomes(rng, rates, k, 30), _outcomes(rng, rates, k, 30))
    mde = float(np.median([r.mde["completion_rate"].mde for r in pilot]))
    # Every case drops by the same amount (clipped at 0), so the mean drops by exactly the MDE.
    shift = brentq(lambda s: np.clip(rates - s, 0, 1).mean() - (rates.mean() - mde), 0, 1)
    cand = np.clip(rates - shift, 0, 1)
    results = _verdicts(_outcomes(rng, rates, k, reps), _outcomes(rng, cand, k, reps))
    power = np.mean([r.verdict == "FAIL" for r in results])
    print(f"\npower at the declared MDE ({mde:.3f}; n={n}, K={k}, margin 0.05, "
          f"α_fail=0.01): FAIL in {power:.3f} of {reps} runs")
    # 80% by construction; allow two binomial standard errors of simulation noise
    assert power >= 0.8 - 2 * np.sqrt(0.16 / reps)


def test_sequential_stopping_saves_trials_on_a_clear_regression():
    rng = np.random.default_rng(5)
    n_max, k, reps = 150, 3, 300
    plan = SequentialPlan.create(3, n_max, margin=0.05)
    used, decisions = [], []
    aa_fail = 0
    for _ in range(reps):
        rates = _rates(rng, n_max, 0.8, 4.0)
        a = _outcomes(rng, rates, k, 1)[0].mean(1)
        b = _outcomes(rng, rates * 0.8, k, 1)[0].mean(1)  # a 16-point drop
        d = b - a
        res = sequential_decision(plan, [d[: plan.cases_at(j)] for j in (1, 2, 3)])
        used.append(res.n_cases)
        decisions.append(res.decision)
        same = _outcomes(rng, rates, k, 1)[0].mean(1) - a  # an A/A pair
        aa = sequential_decision(plan, [same[: plan.cases_at(j)] for j in (1, 2, 3)])
        aa_fail += aa.decision == "stop-fail"
    mean_used = float(np.mean(used))
    fail_rate = decisions.count("stop-fail") / reps
    saving = 1 - mean_used / n_max
    print(f"\nsequential (3 looks at 50/100/150 cases, K={k}): clear regression stops FAIL in "
          f"{fail_rate:.3f} of runs using {mean_used:.1f} cases on average "
          f"({saving:.0%} fewer trials than the fixed {n_max}); A/A stop-FAIL "
          f"{aa_fail}/{reps}")
    assert fail_rate > 0.95
    assert saving > 0.3
    assert aa_fail <= sps.binom.ppf(0.999, reps, 0.01)
