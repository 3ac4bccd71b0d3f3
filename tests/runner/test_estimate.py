"""``evalkit run --estimate``: the planned trials, and cost/tokens/time from a previous run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from evalkit._cli.main import cli
from evalkit.runner._estimate import _project


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_without_a_previous_run_it_plans_and_says_how_to_get_a_projection(make_suite,
                                                                           project: Path):
    path = make_suite(target="ek_test_targets:with_tools", trials=3)
    result = invoke("run", str(path), "--estimate")
    assert result.exit_code == 0, result.output
    assert "6 cases x 3 trials = 18 trials planned" in result.output
    assert "nothing run" in result.output and "run a pilot" in result.output
    assert not (project / "reports").exists()  # nothing was run or written


def test_projects_cost_tokens_and_time_from_the_newest_complete_run(make_suite):
    path = make_suite(target="ek_test_targets:with_tools", trials=2)
    first = invoke("run", str(path), "--no-reports", "--no-progress", "--format", "json")
    assert first.exit_code == 0, first.output
    run_dir = json.loads(first.output)["run_dir"]
    result = invoke("run", str(path), "--estimate", "-k", "5", "--format", "json")
    est = json.loads(result.output)
    assert est["n_trials"] == 30 and est["basis"] == run_dir and est["notes"] == []
    cost = est["projections"]["cost_usd"]
    assert cost["per_trial"] == pytest.approx(0.001)  # the target records 0.001 per trial
    assert cost["total"] == pytest.approx(0.03)
    assert cost["ci_low"] == pytest.approx(0.03) and cost["ci_high"] == pytest.approx(0.03)
    assert est["projections"]["input_tokens"]["total"] == pytest.approx(300)
    assert est["wall_s"] is not None and est["wall_s"] >= 0
    only = json.loads(invoke("run", str(path), "--estimate", "--cases", "c0,c1",
                             "--format", "json").output)
    assert only["n_cases"] == 2 and only["n_trials"] == 4
    text = invoke("run", str(path), "--estimate").output
    assert "cost (USD)      0.012" in text and f"projected from {run_dir}" in text


def test_a_named_basis_must_be_a_run_folder(make_suite, project: Path):
    path = make_suite()
    result = CliRunner().invoke(cli, ["run", str(path), "--estimate-from", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
    (project / "empty").mkdir()
    result = CliRunner().invoke(cli, ["run", str(path), "--estimate-from", "empty"])
    assert result.exit_code == 2 and "manifest" in result.output.lower()


def test_projection_is_a_mean_of_case_means_with_a_t_interval_over_cases():
    trials = pd.DataFrame({"case_id": ["a", "a", "b", "c", "d"],
                           "cost_usd": [0.0, 2.0, 2.0, 3.0, 4.0]})  # case means 1, 2, 3, 4
    p = _project(trials, "cost_usd", "cost", 10)
    se = pd.Series([1.0, 2.0, 3.0, 4.0]).std() / 2.0
    half = stats.t.ppf(0.975, 3) * se
    assert p.per_trial == pytest.approx(2.5) and p.total == pytest.approx(25.0)
    assert p.low == pytest.approx((2.5 - half) * 10) and p.high == pytest.approx((2.5 + half) * 10)


def test_compare_suite_estimate_counts_both_arms(make_suite, project: Path):
    path = make_suite(target="ek_test_targets:with_tools", trials=2)
    invoke("run", str(path), "--no-reports", "--no-progress")
    result = invoke("compare", str(path), "--baseline", "fail_last=0", "--candidate",
                    "fail_last=1", "--estimate", "--format", "json")
    est = json.loads(result.output)
    assert est["arms"] == ["baseline", "candidate"] and est["n_trials"] == 24
    assert est["projections"]["cost_usd"]["total"] == pytest.approx(0.024)
    runs = list((project / "reports" / "t").iterdir())
    assert len(runs) == 1  # the estimate ran nothing
    bad = CliRunner().invoke(cli, ["compare", "a", "b", "--estimate"])
    assert bad.exit_code == 2 and "give a SUITE" in bad.output
