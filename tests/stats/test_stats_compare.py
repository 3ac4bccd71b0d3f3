"""compare_runs / compare_frames: pairing, methods, flips, tags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsim import beta_rates, make_run, make_two_arm
from statsmodels.stats.contingency_tables import mcnemar

from evalkit.errors import InputError, StatsError
from evalkit.stats import CaseValues, compare_frames, compare_runs, paired_delta


def test_k1_binary_uses_exact_mcnemar():
    rng = np.random.default_rng(0)
    a = (rng.random(60) < 0.8).astype(float)
    b = a.copy()
    b[:8] = 0.0  # 8 regressions (some already failing)
    b[50:52] = 1.0
    t, s = make_two_arm(a, b, 1, outcomes=None)  # rates 0/1 → deterministic outcomes
    c = compare_runs(t, s)
    d = c.deltas["completion_rate"]
    assert d.method.startswith("exact McNemar")
    n_b = int(np.sum((a == 1) & (b == 0)))
    n_c = int(np.sum((a == 0) & (b == 1)))
    ref = mcnemar([[0, n_b], [n_c, 0]], exact=True).pvalue
    assert d.p_value == pytest.approx(ref)
    assert d.estimate == pytest.approx(b.mean() - a.mean())


def test_small_n_uses_exact_sign_flip_and_large_n_paired_t():
    rng = np.random.default_rng(1)
    r = beta_rates(rng, 12, 0.7, 3)
    t, s = make_two_arm(r, r * 0.8, 3, seed=1)
    small = compare_runs(t, s).deltas["completion_rate"]
    assert "exact sign-flip" in small.method
    r = beta_rates(rng, 45, 0.7, 3)
    t, s = make_two_arm(r, r * 0.8, 3, seed=1)
    large = compare_runs(t, s).deltas["completion_rate"]
    assert large.method.startswith("paired t")
    a = large.baseline
    assert large.estimate == pytest.approx(large.candidate - a)


def test_paired_t_delta_matches_scipy_on_per_case_means():
    rng = np.random.default_rng(5)
    r = beta_rates(rng, 40, 0.75, 4)
    t, s = make_two_arm(r, np.clip(r - 0.1, 0, 1), 4, seed=5)
    d = compare_runs(t, s).deltas["score:exact"]  # continuous-valued per-case means: pure t
    pa = t[t.arm == "baseline"].groupby("case_id").size()  # noqa: F841 (shape check)
    sa = s[s.arm == "baseline"].groupby("case_id")["value"].mean()
    sb = s[s.arm == "candidate"].groupby("case_id")["value"].mean()
    ref = sps.ttest_rel(sb, sa)
    assert d.p_value == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (d.ci_low, d.ci_high) == pytest.approx((ci.low, ci.high))


def test_ratio_and_pass_k_use_paired_bootstrap_and_are_seeded():
    rng = np.random.default_rng(2)
    r = beta_rates(rng, 30, 0.7, 3)
    t, s = make_two_arm(r, r, 5, seed=2)
    c1 = compare_runs(t, s, seed=7)
    c2 = compare_runs(t, s, seed=7)
    for name in ("tool_error_rate", "pass^5", "pass@3", "latency_p95_s"):
        assert "bootstrap" in c1.deltas[name].method
        assert c1.deltas[name].ci_low == c2.deltas[name].ci_low
    assert json.dumps(c1.to_dict(), allow_nan=False)


def test_clear_regression_is_detected_and_flips_listed():
    rates = np.ones(30)
    cand = rates.copy()
    cand[[3, 7, 11, 15, 19]] = 0.0
    t, s = make_two_arm(rates, cand, 3)
    c = compare_runs(t, s)
    assert [f[0] for f in c.regressed_cases] == ["c0003", "c0007", "c0011", "c0015", "c0019"]
    assert c.improved_cases == ()
    d = c.deltas["completion_rate"]
    assert d.estimate == pytest.approx(-5 / 30)
    assert d.p_value_regression < 0.05


def test_cases_in_one_arm_only_are_reported_not_dropped_silently():
    ta, sa = make_run([1.0] * 10, 2, arm="x", case_prefix="c")
    tb, sb = make_run([1.0] * 10, 2, arm="y", case_prefix="c")
    tb = tb[tb.case_id != "c0003"]
    sb = sb[sb.case_id != "c0003"]
    c = compare_frames(ta, sa, tb, sb)
    assert c.only_in_baseline == ("c0003",)
    assert c.n_paired == 9
    assert any("only in" in n for n in c.notes)
    assert c.baseline.n_cases == 10  # the arm's own summary keeps all of its cases


def test_no_common_case_raises():
    ta, sa = make_run([1.0] * 3, 1, case_prefix="a")
    tb, sb = make_run([1.0] * 3, 1, case_prefix="b")
    with pytest.raises(StatsError, match="no case appears in both"):
        compare_frames(ta, sa, tb, sb)
    with pytest.raises(InputError, match="names the arms"):
        compare_frames(ta, sa, tb, sb, baseline_arm="x")


def test_identical_perfect_arms_at_tiny_n_do_not_prove_equivalence():
    t, s = make_two_arm([1.0] * 10, [1.0] * 10, 1)
    d = compare_runs(t, s).deltas["completion_rate"]
    assert d.estimate == 0.0
    # a paired test alone would say [0, 0]; MOVER-Wilson keeps what 10 cases can't rule out
    assert d.ci_low < -0.2
    assert d.ci_high > 0.2


def test_tag_deltas_carry_bh_q_values():
    rng = np.random.default_rng(4)
    r = beta_rates(rng, 40, 0.8, 5)
    cand = r.copy()
    cand[:20] *= 0.5
    tags = [["hard"] if i < 20 else ["easy"] for i in range(40)]
    t, s = make_two_arm(r, cand, 3, seed=4, tags=tags)
    c = compare_runs(t, s)
    assert set(c.by_tag) == {"easy", "hard"}
    for td in c.by_tag.values():
        assert td.q_value >= td.delta.p_value - 1e-12
    assert c.by_tag["hard"].flagged
    assert not c.by_tag["easy"].flagged


def test_paired_delta_on_case_values_matches_compare_runs():
    rng = np.random.default_rng(6)
    r = beta_rates(rng, 35, 0.7, 3)
    t, s = make_two_arm(r, r * 0.9, 3, seed=6)
    via_tables = compare_runs(t, s).deltas["completion_rate"]

    def outcomes(arm):
        sub = s[s.arm == arm].sort_values(["case_id", "trial"])
        return [g["passed"].astype(float).to_numpy() for _, g in sub.groupby("case_id")]

    ids = sorted(s.case_id.unique())
    direct = paired_delta(
        "completion_rate", CaseValues.from_outcomes(outcomes("baseline"), ids),
        CaseValues.from_outcomes(outcomes("candidate"), ids), binary=True,
    )
    assert direct is not None
    assert (direct.estimate, direct.ci_low, direct.ci_high, direct.p_value) == pytest.approx(
        (via_tables.estimate, via_tables.ci_low, via_tables.ci_high, via_tables.p_value)
    )


def test_compare_frames_refuses_multi_arm_input():
    t, s = make_two_arm([1.0] * 3, [1.0] * 3, 1)
    with pytest.raises(InputError, match="several arms"):
        compare_frames(t, s, t, s)


def test_lower_is_better_metric_regression_direction():
    t, s = make_two_arm([0.8] * 40, [0.8] * 40, 3, tool_error_p=0.02)
    # candidate makes many more tool errors
    cand = t.arm == "candidate"
    t.loc[cand, "tool_errors"] = t.loc[cand, "tool_errors"] + 1
    d = compare_runs(t, s).deltas["tool_error_rate"]
    assert d.direction == "lower"
    assert d.estimate > 0.2
    assert d.p_value_regression < 0.01
    assert isinstance(t, pd.DataFrame)
