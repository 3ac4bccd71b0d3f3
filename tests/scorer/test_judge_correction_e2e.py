"""End to end: a suite asks for judge-corrected pass rates; the embedded model judges.

``evalkit run`` → the scores carry the calibration → summary, gate and report show
``corrected_pass_rate:<metric>``. The verdicts of a 135M judge are noisy, so only the
wiring and the arithmetic against the stored judged rate are asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from evalkit._cli.main import cli
from evalkit.results import open_run
from evalkit.scorer import load_judge_spec, rogan_gladen
from evalkit.scorer._calibrate import save_calibration

pytestmark = pytest.mark.model

JUDGE = {
    "name": "mini_judge", "rubric": "Is the answer the same as the reference answer?",
    "verdicts": {"correct": 1.0, "incorrect": 0.0}, "threshold": 1.0,
    "question": "input.q", "answer": "output.answer", "reference": "expected.answer",
    "reasoning_max_chars": 40, "max_tokens": 48,
}


def _record(spec_hash: str, q0: float, q1: float) -> dict:
    def est(x: float, n: int) -> dict:
        return {"estimate": x, "ci_low": x - 0.05, "ci_high": min(1.0, x + 0.05), "n": n}

    return {"spec_hash": spec_hash, "judge": "mini_judge", "model": "local",
            "created_at": "2026-11-24T00:00:00Z", "n": 120,
            "labels": {"name": "mini_labels", "version": "1.0.0", "hash": "sha256:x"},
            "metrics": {"kappa": est(0.72, 120), "sensitivity": est(q1, 60),
                        "specificity": est(q0, 60)}}


def test_run_reports_judge_corrected_pass_rate(embedded_model, project: Path,
                                               make_suite) -> None:
    judges = project / "judges"
    judges.mkdir()
    (judges / "mini_judge.yaml").write_text(yaml.safe_dump(JUDGE, sort_keys=False))
    spec, _ = load_judge_spec(judges / "mini_judge.yaml")
    save_calibration(_record(spec.hash, q0=0.85, q1=0.9), judges / ".calibration")
    make_suite(name="judged", trials=1, concurrency=1, timeout_s=120,
               judge_model=embedded_model, cache="off",
               scorers=[{"type": "llm-rubric", "name": "judged", "metric": "correct",
                         "judge": "judges/mini_judge.yaml",
                         "correct_for_judge_error": True}],
               gate={"on_inconclusive": "warn",
                     "thresholds": {"corrected_pass_rate:correct": {"min": 0.0}}})
    result = CliRunner().invoke(cli, ["run", "suites/judged.yaml", "--out", "reports/j",
                                      "--format", "json", "--no-progress", "--gate"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    judged = payload["arms"]["main"]["metrics"]["pass_rate:correct"]
    corrected = payload["arms"]["main"]["metrics"]["corrected_pass_rate:correct"]
    expected = rogan_gladen(judged["estimate"], judged["n_trials"], 0.85, 0.9, 60, 60)
    assert corrected["estimate"] == pytest.approx(min(1.0, max(0.0, expected.theta)))
    assert "Rogan–Gladen" in corrected["method"]
    assert payload["verdict"] == "PASS"
    assert any(c["metric"] == "corrected_pass_rate:correct" for c in payload["checks"])

    run = open_run(project / "reports" / "j")
    details = json.loads(run.scores["details"].iloc[0])
    assert details["correct_for_judge_error"] is True
    assert details["calibration"]["m0"] == 60
    html = (project / "reports" / "j" / "report.html").read_text()
    assert "corrected_pass_rate:correct" in html
