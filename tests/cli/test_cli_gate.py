"""``evalkit gate`` end to end on run folders written in the documented layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from statsim import beta_rates, make_run, make_two_arm, write_run_folder

from evalkit._cli.main import cli

GATE = {
    "thresholds": {"completion_rate": {"min": 0.6}},
    "regression": {"completion_rate": {"margin": 0.05}},
    "per_case": {"min_passes": 1, "of": 3},
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _runs(tmp_path, *, drop=0.0, gate=GATE, n=60, seed=0):
    rng = np.random.default_rng(seed)
    r = beta_rates(rng, n, 0.85, 6)
    ta, sa = make_run(r, 3, rng=rng)
    tb, sb = make_run(np.clip(r - drop, 0, 1), 3, rng=rng)
    base = write_run_folder(tmp_path / "base", ta, sa, gate=gate)
    cand = write_run_folder(tmp_path / "cand", tb, sb, gate=gate)
    return base, cand


def test_gate_json_fail_on_a_clear_regression(tmp_path):
    base, cand = _runs(tmp_path, drop=0.3)
    result = invoke("gate", str(cand), "--baseline", str(base), "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["verdict"] == "FAIL"
    assert set(payload["metrics"]["completion_rate"]) == {
        "estimate", "ci_low", "ci_high", "n_cases", "n_trials"}
    assert {"estimate", "ci_low", "ci_high", "p_value"} <= set(payload["deltas"]["completion_rate"])
    rules = {v["rule"] for v in payload["violations"]}
    assert "regression" in rules
    assert payload["mde"]["completion_rate"]["mde"] > 0
    assert any("stored run" in w for w in payload["warnings"])


def test_gate_text_lists_every_violation_and_the_mde(tmp_path):
    base, cand = _runs(tmp_path, drop=0.5)
    result = invoke("gate", str(cand), "--baseline", str(base))
    assert result.exit_code == 1
    out = result.output
    assert "gate: FAIL" in out
    assert out.count("  FAIL       [") >= 2  # threshold and regression at least
    assert "minimum detectable effect" in out


def test_gate_pass_without_baseline_uses_manifest_gate(tmp_path):
    t, s = make_run([1.0] * 40, 3)
    run = write_run_folder(tmp_path / "run", t, s, gate={
        "thresholds": {"completion_rate": {"min": 0.8}}})
    result = invoke("gate", str(run), "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["verdict"] == "PASS"
    assert "deltas" not in payload


def test_two_arm_run_compares_its_arms(tmp_path):
    rng = np.random.default_rng(1)
    r = beta_rates(rng, 60, 0.8, 5)
    t, s = make_two_arm(r, r * 0.6, 3, seed=1)
    run = write_run_folder(tmp_path / "run", t, s, gate={"regression": GATE["regression"]})
    result = invoke("gate", str(run), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.output)["verdict"] == "FAIL"


def test_inconclusive_exit_code_follows_the_policy(tmp_path):
    gate = {"regression": {"completion_rate": {"margin": 0.02}}, "on_inconclusive": "warn"}
    base, cand = _runs(tmp_path, n=8, gate=gate)
    result = invoke("gate", str(cand), "--baseline", str(base))
    assert result.exit_code == 0, result.output
    assert "INCONCLUSIVE" in result.output
    assert "warning" in result.output
    assert "  undecided  [regression] " in result.output  # the rule that left it open


def test_suite_option_overrides_the_manifest(tmp_path):
    t, s = make_run([1.0] * 20 + [0.0] * 20, 2)
    run = write_run_folder(tmp_path / "run", t, s)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\n")  # not a valid suite: the loader says which key is missing
    result = invoke("gate", str(run), "--suite", str(suite))
    assert result.exit_code == 2
    assert "s.yaml" in result.output


def test_bad_input_exits_2_with_a_message(tmp_path):
    result = invoke("gate", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "manifest.json" in result.output
    t, s = make_run([1.0] * 5, 1)
    run = write_run_folder(tmp_path / "run", t, s, gate={"thresholds": {"nope": {"min": 1}}})
    result = invoke("gate", str(run))
    assert result.exit_code == 2
    assert "suite.gate.thresholds" in result.output
    assert "unknown metric" in result.output
    good = write_run_folder(tmp_path / "good", t, s)
    other = write_run_folder(tmp_path / "other", t, s, dataset_hash="sha256:" + "cd" * 32)
    result = invoke("gate", str(good), "--baseline", str(other))
    assert result.exit_code == 2
    assert "different datasets" in result.output
