"""`evalkit compare SUITE` runs both arms in one job and lets the suite's gate decide."""

from __future__ import annotations

import json

from click.testing import CliRunner
from ek_fixtures import write_dataset

from evalkit._cli.main import cli


def test_in_job_compare_fails_on_a_real_regression(make_suite, project) -> None:
    # 12 unclustered cases: with 6 cases (or 2 clusters) the exact sign-flip test cannot
    # reach p < 0.01 (2^-6 = 0.016) and the gate rightly says INCONCLUSIVE
    write_dataset(project, name="mini12", n=12, clusters=None)
    path = make_suite(name="cmp", target="ek_test_targets:noisy", trials=6, dataset="mini12",
                      gate={"regression": {"completion_rate": {"margin": 0.05}}})
    result = CliRunner().invoke(cli, [
        "compare", str(path), "--baseline", "error_rate=0.0", "--candidate", "error_rate=0.8",
        "--format", "json", "--no-progress"])
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["verdict"] == "FAIL"
    d = payload["deltas"]["completion_rate"]
    assert d["estimate"] < -0.5 and d["ci_high"] < 0
    assert any("completion_rate" in json.dumps(v) for v in payload["violations"])


def test_in_job_compare_without_gate_is_informational(make_suite) -> None:
    path = make_suite(name="cmp2", target="ek_test_targets:noisy", trials=2,
                      gate={"regression": {"completion_rate": {"margin": 0.05}}})
    result = CliRunner().invoke(cli, [
        "compare", str(path), "--baseline", "error_rate=0.0", "--candidate", "error_rate=0.8",
        "--no-gate", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "completion_rate" in result.output
