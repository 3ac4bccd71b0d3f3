"""Gate verdicts: FAIL / PASS / INCONCLUSIVE on the cases STATISTICS.md §5 describes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from statsim import beta_rates, light_comparison, make_run, make_two_arm

from evalkit.errors import ConfigError, InputError
from evalkit.gate import GateSpec, evaluate_gate
from evalkit.stats import (
    Comparison,
    DeltaEstimate,
    PairedTTest,
    compare_runs,
    summarize_run,
)

REGRESSION = {"regression": {"completion_rate": {"margin": 0.05}}}


def _spec(**kw):
    return GateSpec.model_validate({**REGRESSION, **kw})


def test_clear_regression_fails():
    rng = np.random.default_rng(0)
    r = beta_rates(rng, 60, 0.8, 4)
    t, s = make_two_arm(r, r * 0.7, 3, seed=1)
    result = evaluate_gate(_spec(), comparison=compare_runs(t, s))
    assert result.verdict == "FAIL"
    assert result.exit_code == 1
    [v] = result.violations
    assert v.rule == "regression"
    assert v.metric == "completion_rate"
    assert "significant drop" in v.reason
    assert "Holm" in v.reason
    assert result.mde["completion_rate"].mde > 0


def test_equal_arms_with_large_n_pass():
    rng = np.random.default_rng(1)
    r = beta_rates(rng, 300, 0.8, 4)
    t, s = make_two_arm(r, r, 3, seed=2)
    result = evaluate_gate(_spec(), comparison=compare_runs(t, s))
    assert result.verdict == "PASS"
    assert result.exit_code == 0
    assert not result.violations
    assert not result.inconclusive
    assert "non-inferior" in result.checks[0].reason


def test_tiny_n_is_inconclusive_and_policy_sets_the_exit_code():
    t, s = make_two_arm([1, 1, 1, 0, 1, 1, 0, 1], [1, 0, 1, 0, 1, 1, 0, 1], 1)
    comparison = compare_runs(t, s)
    for policy, code, next_stage in (("fail", 1, False), ("warn", 0, False),
                                     ("next-stage", 0, True)):
        result = evaluate_gate(_spec(on_inconclusive=policy), comparison=comparison)
        assert result.verdict == "INCONCLUSIVE"
        assert (result.exit_code, result.next_stage) == (code, next_stage)
        assert "cannot tell" in result.inconclusive[0].reason
    # with 8 cases, only a large drop could be detected: the MDE says so
    assert result.mde["completion_rate"].mde > 0.3


def test_significant_drop_within_margin_passes_with_a_warning():
    n = 600
    a = np.ones(n)
    a[:60] = 0.0  # 90% baseline
    b = a.copy()
    b[100:118] = 0.0  # 18 more failures: a 3-point drop, highly significant
    t, s = make_two_arm(a, b, 1)
    comparison = compare_runs(t, s)
    d = comparison.deltas["completion_rate"]
    assert d.p_value_regression < 0.001
    result = evaluate_gate(_spec(), comparison=comparison)
    assert result.verdict == "PASS"
    assert any("significant drop" in w and "within the margin" in w for w in result.warnings)


def test_absolute_threshold_is_judged_on_the_lower_bound():
    # 34/40 = 0.85 completion, but the 95% lower bound is below 0.8 → violation.
    t, s = make_run([1.0] * 34 + [0.0] * 6, 1)
    summary = summarize_run(t, s)
    m = summary.metrics["completion_rate"]
    assert m.estimate > 0.8 > m.ci_low
    result = evaluate_gate(GateSpec.model_validate(
        {"thresholds": {"completion_rate": {"min": 0.8}}}), summary)
    assert result.verdict == "FAIL"
    [v] = result.violations
    assert "lower 95% bound" in v.reason
    assert v.bound == pytest.approx(m.ci_low)
    ok = evaluate_gate(GateSpec.model_validate(
        {"thresholds": {"completion_rate": {"min": 0.65}}}), summary)
    assert ok.verdict == "PASS"
    assert "completion_rate" in ok.mde  # the MDE is reported even without a baseline


def test_max_threshold_on_a_lower_is_better_metric_uses_the_upper_bound():
    t, s = make_run([1.0] * 30, 3, tool_calls=5, tool_error_p=0.08,
                    rng=np.random.default_rng(3))
    summary = summarize_run(t, s)
    m = summary.metrics["tool_error_rate"]
    limit = (m.estimate + m.ci_high) / 2  # above the estimate, below the upper bound
    result = evaluate_gate(GateSpec.model_validate(
        {"thresholds": {"tool_error_rate": {"max": limit}}}), summary)
    assert result.verdict == "FAIL"
    assert "upper 95% bound" in result.violations[0].reason


def test_k_of_n_rule_catches_one_broken_case_a_high_average_hides():
    rates = [1.0] * 49 + [0.0]
    t, s = make_run(rates, 10)
    summary = summarize_run(t, s)
    assert summary.metrics["completion_rate"].estimate == pytest.approx(0.98)
    spec = GateSpec.model_validate({"per_case": {"min_passes": 8, "of": 10}})
    result = evaluate_gate(spec, summary)
    assert result.verdict == "FAIL"
    [v] = result.violations
    assert v.rule == "per_case"
    assert v.cases == ("c0049",)
    assert "c0049 0/10" in v.reason


def test_k_of_n_rule_scales_to_other_k():
    t, s = make_run([1.0, 1.0], 6, outcomes=np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]]))
    result = evaluate_gate(GateSpec.model_validate({"per_case": {"min_passes": 2, "of": 3}}),
                           summarize_run(t, s))
    assert result.violations[0].cases == ("c0001",)  # needs 4 of 6
    assert "K=6" in result.violations[0].reason


def _delta(name, est, se, df=99, direction="higher"):
    test = PairedTTest(est, se, df, (-1.0, 1.0))
    p_reg = test.p_less() if direction == "higher" else test.p_greater()
    return DeltaEstimate(name, est, test.lower_bound(0.025), test.upper_bound(0.025), 0.95, se,
                         df, 2 * min(test.p_less(), test.p_greater()), p_reg, "paired t", 100,
                         0.8, 0.8 + est, direction, math.nan, test)


def _comparison(deltas):
    base = light_comparison(np.ones((100, 1)), np.ones((100, 1)))
    return Comparison("baseline", "candidate", base.baseline, base.candidate, 100, (), (),
                      deltas, {}, (), (), 0.5, 0.95)


def test_holm_across_blocking_metrics():
    # Two drops each beyond the margin; one-sided p ≈ 0.008 and 0.009: each below α = 0.01
    # alone, but Holm needs the smaller below 0.005 → neither is a significant regression.
    from scipy import stats as sps

    se = 0.04
    est1 = sps.t.ppf(0.008, 99) * se
    est2 = sps.t.ppf(0.009, 99) * se
    deltas = {"completion_rate": _delta("completion_rate", est1, se),
              "pass_rate:exact": _delta("pass_rate:exact", est2, se)}
    spec = GateSpec.model_validate({"regression": {"completion_rate": {"margin": 0.02},
                                                   "pass_rate:exact": {"margin": 0.02}}})
    result = evaluate_gate(spec, comparison=_comparison(deltas))
    assert result.verdict == "INCONCLUSIVE"
    # a single blocking metric with p = 0.008 would fail
    single = GateSpec.model_validate({"regression": {"completion_rate": {"margin": 0.02}}})
    assert evaluate_gate(single, comparison=_comparison(deltas)).verdict == "FAIL"
    # a non-blocking rule does not take part in Holm and only warns
    mixed = GateSpec.model_validate({"regression": {
        "completion_rate": {"margin": 0.02},
        "pass_rate:exact": {"margin": 0.02, "blocking": False}}})
    res = evaluate_gate(mixed, comparison=_comparison(deltas))
    assert res.verdict == "FAIL"
    assert [v.metric for v in res.violations] == ["completion_rate"]
    assert any(w.startswith("non-blocking") for w in res.warnings)


def test_lower_is_better_regression_fails_on_a_rise():
    deltas = {"tool_error_rate": _delta("tool_error_rate", 0.08, 0.01, direction="lower")}
    spec = GateSpec.model_validate({"regression": {"tool_error_rate": {"margin": 0.02}}})
    result = evaluate_gate(spec, comparison=_comparison(deltas))
    assert result.verdict == "FAIL"
    assert "significant rise" in result.violations[0].reason


def test_every_violation_is_listed():
    rng = np.random.default_rng(5)
    r = beta_rates(rng, 60, 0.8, 4)
    cand = r * 0.6
    cand[0] = 0.0
    t, s = make_two_arm(r, cand, 3, seed=5)
    spec = GateSpec.model_validate({
        **REGRESSION, "thresholds": {"completion_rate": {"min": 0.75}},
        "per_case": {"min_passes": 1, "of": 3}})
    result = evaluate_gate(spec, comparison=compare_runs(t, s))
    assert {v.rule for v in result.violations} == {"threshold", "regression", "per_case"}
    payload = result.to_dict()
    json.dumps(payload, allow_nan=False)
    assert payload["verdict"] == "FAIL"
    assert len(payload["violations"]) == 3


def test_regression_rules_without_baseline_are_skipped_with_a_warning():
    t, s = make_run([1.0] * 30, 3)
    result = evaluate_gate(_spec(), summarize_run(t, s))
    assert result.verdict == "PASS"
    assert result.checks[0].outcome == "skipped"
    assert any("no baseline" in w for w in result.warnings)
    assert "assuming" in result.mde["completion_rate"].basis


def test_unknown_scorer_metric_is_a_config_error_naming_the_key():
    t, s = make_run([1.0] * 5, 1)
    spec = GateSpec.model_validate({"thresholds": {"pass_rate:nope": {"min": 0.5}}})
    with pytest.raises(ConfigError, match="pass_rate:exact") as info:
        evaluate_gate(spec, summarize_run(t, s))
    assert info.value.key == "gate.thresholds.pass_rate:nope"


def test_pass_k_beyond_k_is_inconclusive_not_an_error():
    t, s = make_run([1.0] * 30, 3)
    spec = GateSpec.model_validate({"thresholds": {"pass^5": {"min": 0.5}}})
    result = evaluate_gate(spec, summarize_run(t, s))
    assert result.verdict == "INCONCLUSIVE"


def test_missing_policy_must_agree_between_summary_and_gate():
    t, s = make_run([1.0] * 5, 1)
    with pytest.raises(InputError, match="missing"):
        evaluate_gate(GateSpec(missing="exclude"), summarize_run(t, s, missing="fail"))
    with pytest.raises(InputError):
        evaluate_gate(GateSpec())


def test_a_metric_that_never_varied_has_no_mde_rather_than_zero():
    rng = np.random.default_rng(3)
    r = beta_rates(rng, 40, 0.8, 4)
    t, s = make_run(r, 3, rng=rng, tool_error_p=0.0)  # not one tool error
    spec = _spec(thresholds={"tool_error_rate": {"max": 0.1}, "completion_rate": {"min": 0.1}})
    result = evaluate_gate(spec, summary=summarize_run(t, s))
    flat = result.mde["tool_error_rate"]
    assert math.isnan(flat.mde)
    assert flat.basis.startswith("not estimable: the metric did not vary")
    assert json.loads(json.dumps(result.to_dict()))["mde"]["tool_error_rate"]["mde"] is None
    assert result.mde["completion_rate"].mde > 0


def test_an_all_pass_rate_still_gets_an_mde_from_its_alternative():
    t, s = make_run([1.0] * 40, 3)  # every trial passes: SE 0 at the observed rate
    spec = GateSpec.model_validate({"thresholds": {"completion_rate": {"min": 0.5}}})
    m = evaluate_gate(spec, summarize_run(t, s)).mde["completion_rate"]
    # near z²/(n·K) for z = q_{0.99} + q_{0.8} of t_39 (2.43 + 0.85), n·K = 120
    assert 0.05 < m.mde < 0.15
