"""summarize_run: completion rules, missing-trial policy, metric set, tags, clusters."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from statsim import beta_rates, make_run
from statsmodels.stats.proportion import proportion_confint

from evalkit.errors import InputError
from evalkit.stats import summarize_run, wilson_interval


def _trial(case, trial, status="ok", **kw):
    row = {"run_id": "r", "arm": "main", "case_id": case, "trial": trial, "seed": trial,
           "status": status, "cluster": None, "tags": [], "latency_s": 1.0, "cost_usd": 0.01,
           "input_tokens": 1, "output_tokens": 1, "llm_calls": 1, "tool_calls": 2,
           "tool_errors": 0, "output": "{}", "error_type": None, "error_message": None,
           "attempts": 1, "outcome": None}
    row.update(kw)
    return row


def _score(case, trial, scorer, passed, status="ok", completion=False, metric=None, value=None):
    return {"run_id": "r", "arm": "main", "case_id": case, "trial": trial, "scorer": scorer,
            "metric": metric or scorer,
            "value": (float(passed) if value is None else value) if status == "ok" else math.nan,
            "passed": passed if status == "ok" else None, "status": status, "reason": "",
            "weight": 1.0, "completion": completion}


def test_seventeen_of_twenty_single_trials_gives_the_plain_wilson_interval():
    t, s = make_run([1.0] * 17 + [0.0] * 3, 1)
    m = summarize_run(t, s).metrics["completion_rate"]
    assert (round(m.ci_low, 3), round(m.ci_high, 3)) == (0.640, 0.948)
    assert (m.n_cases, m.n_trials, m.n_excluded) == (20, 20, 0)
    cp = summarize_run(t, s, interval="clopper-pearson").metrics["completion_rate"]
    assert (round(cp.ci_low, 3), round(cp.ci_high, 3)) == (0.621, 0.968)


def test_completion_uses_only_completion_scorers_and_three_valued_and():
    trials = pd.DataFrame([_trial("a", 0), _trial("a", 1), _trial("b", 0), _trial("b", 1)])
    scores = pd.DataFrame([
        # a/0: completion scorer passes, the style scorer fails → completed
        _score("a", 0, "task", True, completion=True), _score("a", 0, "style", False),
        _score("a", 0, "check", True, completion=True),
        # a/1: completion scorer errored → undefined, excluded and counted
        _score("a", 1, "task", None, status="judge_error", completion=True),
        _score("a", 1, "style", True), _score("a", 1, "check", True, completion=True),
        # b/0: one completion scorer fails, the other errored → failed (known failure)
        _score("b", 0, "task", False, completion=True),
        _score("b", 0, "check", None, status="scorer_error", completion=True),
        _score("b", 0, "style", True),
        # b/1 passes everything
        _score("b", 1, "task", True, completion=True), _score("b", 1, "check", True,
                                                                 completion=True),
        _score("b", 1, "style", True),
    ])
    summary = summarize_run(trials, scores)
    comp = summary.metrics["completion_rate"]
    assert comp.n_excluded == 1
    assert comp.n_trials == 3
    assert comp.estimate == pytest.approx((1.0 + 0.5) / 2)  # a: 1/1, b: 1/2
    style = summary.metrics["pass_rate:style"]
    assert style.estimate == pytest.approx((0.5 + 1.0) / 2)
    check = summary.metrics["pass_rate:check"]
    assert check.n_excluded == 1  # the scorer error
    assert summary.counts["scores"] == {"scorer_error": 1, "judge_error": 1}


def test_without_completion_flags_every_pass_fail_scorer_counts():
    trials = pd.DataFrame([_trial("a", 0), _trial("b", 0)])
    scores = pd.DataFrame([
        _score("a", 0, "x", True), _score("a", 0, "y", False),
        _score("b", 0, "x", True), _score("b", 0, "y", True),
    ])
    assert summarize_run(trials, scores).metrics["completion_rate"].estimate == 0.5


def test_without_scorers_completion_is_status_ok():
    trials = pd.DataFrame([_trial("a", 0), _trial("a", 1, "error"), _trial("b", 0, "timeout")])
    summary = summarize_run(trials, pd.DataFrame())
    assert summary.metrics["completion_rate"].estimate == pytest.approx((0.5 + 0.0) / 2)
    assert summary.counts["trials"] == {"ok": 1, "error": 1, "timeout": 1, "infra_error": 0}


def test_missing_policy_fail_counts_errors_exclude_reports_them():
    trials = pd.DataFrame([_trial("a", 0), _trial("a", 1, "error"), _trial("b", 0),
                           _trial("b", 1, "infra_error")])
    scores = pd.DataFrame([_score("a", 0, "x", True), _score("b", 0, "x", True)])
    fail = summarize_run(trials, scores, missing="fail").metrics["completion_rate"]
    excl = summarize_run(trials, scores, missing="exclude").metrics["completion_rate"]
    assert (fail.estimate, fail.n_trials, fail.n_excluded) == (0.5, 4, 0)
    assert (excl.estimate, excl.n_trials, excl.n_excluded) == (1.0, 2, 2)


def test_metric_names_and_pass_k_only_up_to_k():
    rng = np.random.default_rng(0)
    t, s = make_run(beta_rates(rng, 12, 0.7, 3), 3, rng=rng,
                    scorers=(("exact", "exact", True), ("judge", "quality", False)))
    summary = summarize_run(t, s, ks=(1, 3, 5))
    names = set(summary.metrics)
    assert {"completion_rate", "pass_rate:exact", "pass_rate:quality", "score:exact",
            "score:quality", "tool_error_rate", "trials_with_tool_error", "pass@1", "pass^1",
            "pass@3", "pass^3", "latency_p50_s", "latency_p95_s",
            "cost_per_trial_usd"} <= names
    assert "pass^5" not in names
    assert "pass@5" not in names
    assert summary.trials_per_case == 3
    for m in summary.metrics.values():
        assert m.ci_low <= m.estimate <= m.ci_high, m


def test_pass_hat_k_and_at_k_are_means_of_unbiased_per_case_estimates():
    outcomes = [[1, 1, 1], [1, 0, 1], [0, 0, 0], [1, 0, 0]]
    t, s = make_run([0.0] * 4, 3, outcomes=np.array(outcomes))
    m = summarize_run(t, s).metrics
    assert m["pass^3"].estimate == pytest.approx(0.25)
    assert m["pass@3"].estimate == pytest.approx(0.75)
    assert m["pass^1"].estimate == m["completion_rate"].estimate
    assert "bootstrap" in m["pass^3"].method


def test_unequal_trials_per_case_and_pass_k_excludes_short_cases():
    t, s = make_run([1.0, 1.0, 0.0], [5, 3, 5])
    summary = summarize_run(t, s, ks=(5,))
    assert summary.trials_per_case_range == (3, 5)
    p5 = summary.metrics["pass^5"]
    assert p5.n_cases == 2
    assert p5.n_excluded == 3
    assert p5.estimate == pytest.approx(0.5)


def test_tool_error_rate_is_a_ratio_of_sums():
    trials = pd.DataFrame([_trial("a", 0, tool_calls=10, tool_errors=1),
                           _trial("a", 1, tool_calls=0, tool_errors=0),
                           _trial("b", 0, tool_calls=5, tool_errors=2),
                           _trial("b", 1, tool_calls=5, tool_errors=0)])
    m = summarize_run(trials, pd.DataFrame()).metrics
    assert m["tool_error_rate"].estimate == pytest.approx(3 / 20)
    assert m["trials_with_tool_error"].estimate == pytest.approx((0.5 + 0.5) / 2)
    assert m["tool_error_rate"].direction == "lower"


def test_no_tool_calls_leaves_tool_error_rate_undefined_not_zero():
    trials = pd.DataFrame([_trial("a", 0, tool_calls=0), _trial("b", 0, tool_calls=0)])
    m = summarize_run(trials, pd.DataFrame()).metrics["tool_error_rate"]
    assert math.isnan(m.estimate)
    assert "no tool calls" in m.method
    assert m.to_dict()["estimate"] is None


def test_latency_quantiles_and_cost():
    trials = pd.DataFrame([_trial(c, j, latency_s=float(10 * i + j), cost_usd=0.01 * (i + 1))
                           for i, c in enumerate("abcd") for j in range(5)])
    m = summarize_run(trials, pd.DataFrame()).metrics
    lat = trials["latency_s"].to_numpy()
    assert m["latency_p50_s"].estimate == np.quantile(lat, 0.5, method="inverted_cdf")
    assert m["latency_p95_s"].estimate == np.quantile(lat, 0.95, method="inverted_cdf")
    assert m["cost_per_trial_usd"].estimate == pytest.approx(0.025)


def test_tags_breakdown_puts_a_case_in_each_of_its_tags():
    t, s = make_run([1.0, 0.0, 1.0], 2, tags=[["x", "y"], ["y"], ["z"]])
    by_tag = summarize_run(t, s).by_tag
    assert set(by_tag) == {"x", "y", "z"}
    assert by_tag["x"].estimate == 1.0
    assert by_tag["x"].n_cases == 1
    assert by_tag["y"].estimate == 0.5
    assert by_tag["y"].n_cases == 2


def test_dataset_clusters_widen_the_interval():
    rng = np.random.default_rng(2)
    cluster_rates = rng.beta(1, 1, 8)
    rates = np.repeat(cluster_rates, 5)
    clusters = [f"doc{i // 5}" for i in range(40)]
    t, s = make_run(rates, 3, rng=rng, clusters=clusters)
    with_clusters = summarize_run(t, s).metrics["completion_rate"]
    t_no = t.assign(cluster=None)
    without = summarize_run(t_no, s).metrics["completion_rate"]
    assert "8 clusters" in with_clusters.method
    assert "40 clusters" in without.method
    assert with_clusters.ci_high - with_clusters.ci_low > without.ci_high - without.ci_low


def test_repeated_trials_are_not_treated_as_independent():
    # 10 cases that either always or never pass: 50 trials but effectively 10 observations.
    t, s = make_run([1.0] * 7 + [0.0] * 3, 5)
    m = summarize_run(t, s).metrics["completion_rate"]
    naive = wilson_interval(35, 50)
    assert m.ci_high - m.ci_low > 1.3 * (naive.high - naive.low)


def test_summary_is_seeded_and_serialisable():
    rng = np.random.default_rng(8)
    t, s = make_run(beta_rates(rng, 15, 0.6, 2), 4, rng=rng)
    a = summarize_run(t, s, seed=3).to_dict()
    b = summarize_run(t, s, seed=3).to_dict()
    assert a == b
    json.dumps(a, allow_nan=False)


def test_arm_selection_and_outcome_counts():
    t1, s1 = make_run([1.0, 0.0], 2, arm="baseline")
    t2, s2 = make_run([1.0, 1.0], 2, arm="candidate")
    t2.loc[0, "outcome"] = "escalated"
    t, s = pd.concat([t1, t2]), pd.concat([s1, s2])
    with pytest.raises(InputError, match="several arms"):
        summarize_run(t, s)
    cand = summarize_run(t, s, arm="candidate")
    assert cand.metrics["completion_rate"].estimate == 1.0
    assert cand.counts["outcomes"] == {"escalated": 1}
    with pytest.raises(InputError, match="no trials"):
        summarize_run(t, s, arm="nope")


def test_bad_tables_are_rejected_with_a_message():
    good = pd.DataFrame([_trial("a", 0)])
    with pytest.raises(InputError, match="unknown status"):
        summarize_run(pd.DataFrame([_trial("a", 0, "crashed")]), pd.DataFrame())
    with pytest.raises(InputError, match="more than once"):
        summarize_run(pd.DataFrame([_trial("a", 0), _trial("a", 0)]), pd.DataFrame())
    with pytest.raises(InputError, match="not in trials"):
        summarize_run(good, pd.DataFrame([_score("zz", 0, "x", True)]))
    with pytest.raises(InputError, match="missing column"):
        summarize_run(good.drop(columns=["status"]), pd.DataFrame())
    with pytest.raises(InputError, match="twice"):
        summarize_run(good, pd.DataFrame([_score("a", 0, "x", True)] * 2))


def test_matches_hand_computed_wilson_on_effective_n():
    outcomes = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]])
    t, s = make_run([0.0] * 6, 3, outcomes=outcomes)
    m = summarize_run(t, s).metrics["completion_rate"]
    p_i = outcomes.mean(axis=1)
    p = p_i.mean()
    se = p_i.std(ddof=1) / math.sqrt(6)
    deff = max(1.0, se**2 / (p * (1 - p) / 18))
    from scipy import stats as sps

    m_eff = 18 / deff * (sps.norm.ppf(0.975) / sps.t.ppf(0.975, 5)) ** 2
    ref = proportion_confint(p * m_eff, m_eff, method="wilson")
    assert (m.ci_low, m.ci_high) == pytest.approx(ref)


def test_row_order_and_id_types_do_not_change_the_summary():
    rng = np.random.default_rng(21)
    t, s = make_run(beta_rates(rng, 12, 0.6, 2), 3, rng=rng)
    t = t.assign(cluster=[f"k{i % 4}" for i in range(len(t))])
    ref = summarize_run(t, s, seed=1).to_dict()
    shuffled_t = t.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled_s = s.sample(frac=1.0, random_state=4).reset_index(drop=True)
    assert summarize_run(shuffled_t, shuffled_s, seed=1).to_dict() == ref
    # Object-dtype ids (a hand-made table) read the same as Arrow strings.
    as_obj = summarize_run(t.astype({"case_id": object}), s.astype({"case_id": object}),
                           seed=1)
    assert as_obj.to_dict() == ref


def test_a_case_keeps_its_cluster_and_the_cluster_label_shows():
    rows = [_trial("a", 0, cluster="k1"), _trial("a", 1, cluster="k1"), _trial("b", 0)]
    summary = summarize_run(pd.DataFrame(rows), pd.DataFrame())
    assert [(c.case_id, c.cluster, c.n) for c in summary.cases] == [
        ("a", "cluster:k1", 2), ("b", "case:b", 1)]


def test_scores_pointing_past_the_trials_are_named():
    good = pd.DataFrame([_trial("a", 0), _trial("a", 1), _trial("b", 0)])
    # trial 2 of "a" would alias another key if keys were not checked
    with pytest.raises(InputError, match="trial 2 of case 'a', not in trials"):
        summarize_run(good, pd.DataFrame([_score("a", 2, "x", True)]))
    with pytest.raises(InputError, match="trial -1 of case 'b', not in trials"):
        summarize_run(good, pd.DataFrame([_score("b", -1, "x", True)]))
    with pytest.raises(InputError, match="trial 1 of case 'b', not in trials"):
        summarize_run(good, pd.DataFrame([_score("b", 1, "x", True)]))
    with pytest.raises(InputError, match="trial 1 of case 'a' appears more than once"):
        summarize_run(pd.concat([good, good.iloc[[1]]]), pd.DataFrame())
    with pytest.raises(InputError, match="whole numbers"):
        summarize_run(good.assign(trial=[0.0, None, 1.0]), pd.DataFrame())
