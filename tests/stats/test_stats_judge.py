"""Judge-error correction (Rogan–Gladen) wired into summaries, comparisons and the gate."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from statsim import make_run, make_two_arm

from evalkit.errors import ConfigError
from evalkit.gate import GateSpec, evaluate_gate
from evalkit.scorer import rogan_gladen
from evalkit.stats import compare_runs, summarize_run
from evalkit.stats._judge import JudgeCalibration, corrected_estimate

CAL = {"status": "ok", "message": "calibrated (κ = 0.70, n = 200)", "kappa": 0.7,
       "sensitivity": 0.9, "specificity": 0.8, "m0": 100, "m1": 100, "n": 200,
       "labels": {"name": "labels", "version": "1.0.0"}}
SCORERS = (("judge", "correct", True),)


def _judged(scores: pd.DataFrame, cal: dict | None = CAL, flag: bool = True) -> pd.DataFrame:
    details = {"calibration": cal} if cal is not None else {}
    if flag:
        details["correct_for_judge_error"] = True
    return scores.assign(details=json.dumps(details))


def test_matches_the_textbook_formula_for_one_trial_per_case() -> None:
    trials, scores = make_run(np.full(400, 0.6), 1, rng=np.random.default_rng(3),
                              scorers=SCORERS)
    s = summarize_run(trials, _judged(scores))
    judged = s.metrics["pass_rate:correct"]
    corrected = s.metrics["corrected_pass_rate:correct"]
    p = judged.estimate
    ref = rogan_gladen(p, 400, 0.8, 0.9, 100, 100)
    assert corrected.estimate == pytest.approx(ref.theta)
    # the summary uses the design variance of p̂; with K = 1 and no clusters it is
    # p(1-p)/n up to the n/(n-1) factor of the sample variance
    assert corrected.se == pytest.approx(ref.se, rel=0.01)
    lo, hi = ref.interval(0.95)
    assert (corrected.ci_low, corrected.ci_high) == pytest.approx((lo, hi), rel=0.02)
    assert "Rogan–Gladen" in corrected.method
    assert s.to_dict()["metrics"]["corrected_pass_rate:correct"]["estimate"] == corrected.estimate


def test_corrected_interval_covers_the_true_rate() -> None:
    # Monte Carlo: true rate 0.7, judge q1 = 0.85, q0 = 0.75, calibration from 60 + 60
    # labels, 1,000 cases judged once. The corrected interval should cover 0.7 about 95 %
    # of the time; the uncorrected judged rate is biased (0.7·0.85 + 0.3·0.25 = 0.67).
    rng = np.random.default_rng(11)
    theta, q1, q0, m = 0.7, 0.85, 0.75, 60
    base = summarize_run(*make_run(np.full(50, 0.7), 1, rng=rng, scorers=SCORERS)).metrics[
        "pass_rate:correct"]
    covered, naive_covered, estimates = 0, 0, []
    reps = 600
    for _ in range(reps):
        truth = rng.random(1000) < theta
        judged = np.where(truth, rng.random(1000) < q1, rng.random(1000) >= q0)
        p = judged.mean()
        se = math.sqrt(p * (1 - p) / 1000)
        est = replace(base, estimate=p, se=se, ci_low=p - 1.96 * se, ci_high=p + 1.96 * se)
        cal = JudgeCalibration("correct", "ok", "", q0=rng.binomial(m, q0) / m,
                               q1=rng.binomial(m, q1) / m, m0=m, m1=m, kappa=0.6)
        c = corrected_estimate(est, cal)
        covered += c.ci_low <= theta <= c.ci_high
        naive_covered += est.ci_low <= theta <= est.ci_high
        estimates.append(c.estimate)
    assert 0.92 <= covered / reps <= 0.99
    assert naive_covered / reps < 0.6
    assert abs(float(np.mean(estimates)) - theta) < 0.01


def test_missing_or_chance_level_calibration_is_undefined_with_a_reason() -> None:
    trials, scores = make_run(np.full(50, 0.6), 2, scorers=SCORERS)
    s = summarize_run(trials, _judged(scores, cal={"status": "missing",
                                                   "message": "calibration missing"}))
    m = s.metrics["corrected_pass_rate:correct"]
    assert not m.defined
    assert "no calibration record" in m.method
    assert any("corrected_pass_rate:correct is undefined" in n for n in s.notes)
    chance = {**CAL, "sensitivity": 0.5, "specificity": 0.45}
    m = summarize_run(trials, _judged(scores, cal=chance)).metrics["corrected_pass_rate:correct"]
    assert "no better than chance" in m.method


def test_weak_calibration_is_noted_and_no_flag_means_no_metric() -> None:
    trials, scores = make_run(np.full(50, 0.6), 2, scorers=SCORERS)
    s = summarize_run(trials, _judged(scores, cal={**CAL, "status": "weak", "kappa": 0.3,
                                                   "message": "calibration weak (κ = 0.30)"}))
    assert s.metrics["corrected_pass_rate:correct"].defined
    assert any("calibration weak" in n for n in s.notes)
    plain = summarize_run(trials, _judged(scores, flag=False))
    assert "corrected_pass_rate:correct" not in plain.metrics
    assert plain.notes == ()


def test_paired_delta_is_the_judged_delta_scaled_by_one_over_youden() -> None:
    rates = np.linspace(0.3, 0.9, 80)
    trials, scores = make_two_arm(rates, rates - 0.15, 3, seed=5, scorers=SCORERS)
    cmp = compare_runs(trials, _judged(scores))
    judged, corrected = cmp.deltas["pass_rate:correct"], cmp.deltas["corrected_pass_rate:correct"]
    youden = 0.8 + 0.9 - 1
    assert corrected.estimate == pytest.approx(judged.estimate / youden)
    assert corrected.ci_low == pytest.approx(judged.ci_low / youden)
    assert corrected.p_value == pytest.approx(judged.p_value)
    assert corrected.unfavourable_bound(0.01) == pytest.approx(
        judged.unfavourable_bound(0.01) / youden)
    assert corrected.baseline == cmp.baseline.metrics["corrected_pass_rate:correct"].estimate
    assert any("equally accurate on both arms" in n for n in cmp.notes)


def test_style_drift_between_arms_asks_for_per_arm_calibration() -> None:
    trials, scores = make_two_arm(np.full(40, 0.7), np.full(40, 0.7), 2, scorers=SCORERS)
    long = trials["arm"] == "candidate"
    trials.loc[long, "output"] = "x" * 400
    trials.loc[~long, "output"] = "x" * 100
    cmp = compare_runs(trials, _judged(scores))
    assert any("4.00× the baseline's length" in n and "per arm" in n for n in cmp.notes)


def test_gate_thresholds_use_the_corrected_rate() -> None:
    trials, scores = make_run(np.full(300, 0.62), 2, rng=np.random.default_rng(1),
                              scorers=SCORERS)
    s = summarize_run(trials, _judged(scores))
    # judged ≈ 0.62 → corrected ≈ (0.62 + 0.8 − 1) / 0.7 = 0.60
    ok = evaluate_gate(GateSpec.model_validate({"thresholds": {
        "corrected_pass_rate:correct": {"min": 0.45}}}), s)
    assert ok.verdict == "PASS"
    bad = evaluate_gate(GateSpec.model_validate({"thresholds": {
        "corrected_pass_rate:correct": {"min": 0.65}}}), s)
    assert bad.verdict == "FAIL"
    assert "corrected_pass_rate:correct: lower 95% bound" in bad.violations[0].reason
    plain = summarize_run(trials, _judged(scores, flag=False))
    with pytest.raises(ConfigError, match="correct_for_judge_error"):
        evaluate_gate(GateSpec.model_validate({"thresholds": {
            "corrected_pass_rate:correct": {"min": 0.5}}}), plain)


def test_correction_asked_for_in_one_arm_only_is_per_arm_and_noted() -> None:
    rates = np.linspace(0.3, 0.9, 60)
    trials, scores = make_two_arm(rates, rates, 2, seed=6, scorers=SCORERS)
    cand = (scores["arm"] == "candidate").to_numpy()
    # the baseline was scored without the option (its rows come first in the table)
    mixed = pd.concat([_judged(scores[~cand], flag=False), _judged(scores[cand])],
                      ignore_index=True)
    cmp = compare_runs(trials, mixed)
    assert "corrected_pass_rate:correct" in cmp.candidate.metrics
    assert "corrected_pass_rate:correct" not in cmp.baseline.metrics
    assert "corrected_pass_rate:correct" not in cmp.deltas
    assert any("asked for in 'candidate' only" in n for n in cmp.notes)
