"""``evalkit judge calibrate`` with a scripted judge (the real model is in tests/scorer)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from evalkit._cli.main import cli
from evalkit.model import ChatResult
from evalkit.scorer import load_calibration, load_judge_spec


class KeywordJudge:
    """Verdict 'correct' when the graded answer contains 'right', else 'incorrect'."""

    def __init__(self) -> None:
        self.calls = 0

    async def chat(self, messages, **kwargs):
        self.calls += 1
        answer = messages[1]["content"].split("Answer to grade:\n")[1]
        verdict = "correct" if "right" in answer else "incorrect"
        return ChatResult(json.dumps({"reasoning": "r", "verdict": verdict}), None, "kw", 1, 1,
                          0.0, 0.0, False, "stop")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "dataset.yaml").write_text("name: labels\nversion: 1.0.0\n")
    rows = [("right", "correct")] * 8 + [("wrong", "correct")] * 2 + \
        [("wrong", "incorrect")] * 9 + [("right", "incorrect")]
    with (labels / "cases.jsonl").open("w") as fh:
        for i, (answer, verdict) in enumerate(rows):
            fh.write(json.dumps({"id": f"r{i}", "input": {"question": "q", "answer": answer},
                                 "expected": {"verdict": verdict, "reference": "ref"}}) + "\n")
    judges = tmp_path / "judges"
    judges.mkdir()
    spec = {"name": "kw", "rubric": "Is it right?", "threshold": 1.0,
            "verdicts": {"correct": 1.0, "incorrect": 0.0},
            "question": "input.question", "reference": "expected.reference"}
    (judges / "kw.yaml").write_text(yaml.safe_dump(spec))
    client = KeywordJudge()
    monkeypatch.setattr("evalkit.scorer._judge.shared_client", lambda *a: client)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_calibrate_text_report_and_saved_record(workspace):
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "labels",
                                      "--judge", "judges/kw.yaml", "--model", "kw-model",
                                      "--n-boot", "500"])
    assert result.exit_code == 0, result.output
    out = result.output
    # tp 8, fn 2, fp 1, tn 9: q1 = 0.8, q0 = 0.9, κ = (0.85 − 0.5)/0.5 = 0.7
    assert "Cohen's κ" in out
    assert "0.700  [" in out
    assert "sensitivity q₁              0.800" in out
    assert "specificity q₀              0.900" in out
    assert "calibrated (κ = 0.70, n = 20)" in out
    spec, _ = load_judge_spec(workspace / "judges" / "kw.yaml")
    record = load_calibration(spec.hash, "kw-model", workspace / "judges" / ".calibration")
    assert record is not None
    assert record["n"] == 20
    assert f"saved judges/.calibration/{spec.hash.removeprefix('sha256:')}.json" in out


def test_calibrate_json(workspace):
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "labels", "--judge",
                                      "judges/kw.yaml", "--model", "kw-model", "--format",
                                      "json", "--no-save", "--limit", "10"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    # first 10 rows are all human-correct: chance agreement = observed = 0.8, so κ = 0
    assert out["status"] == "weak"
    assert out["metrics"]["sensitivity"] == {
        "estimate": 0.8, "ci_low": pytest.approx(0.490, abs=1e-3),
        "ci_high": pytest.approx(0.943, abs=1e-3), "n_cases": 10, "n_trials": 10}
    assert out["metrics"]["kappa"]["estimate"] == pytest.approx(0.0)
    assert out["metrics"]["specificity"]["estimate"] is None  # no human negatives
    assert out["n"] == 10
    assert out["saved"] is None
    assert out["confusion"]["categories"] == ["correct", "incorrect"]
    assert not (workspace / "judges" / ".calibration").exists()


def test_calibrate_errors(workspace):
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "labels",
                                      "--judge", "judges/kw.yaml"])
    assert result.exit_code == 2
    assert "no judge model: pass --model" in result.output
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "nope",
                                      "--judge", "judges/kw.yaml", "--model", "m"])
    assert result.exit_code == 2
    assert "dataset folder not found" in result.output
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "labels",
                                      "--judge", "judges/missing.yaml", "--model", "m"])
    assert result.exit_code == 2
    assert "not found" in result.output
    (workspace / "judges" / "bad.yaml").write_text("name: kw\nrubric: r\nsamples: 0\n")
    result = CliRunner().invoke(cli, ["judge", "calibrate", "--labels", "labels",
                                      "--judge", "judges/bad.yaml", "--model", "m"])
    assert result.exit_code == 2
    assert "samples" in result.output
    result = CliRunner().invoke(cli, ["judge", "--help"])
    assert result.exit_code == 0
    assert "calibrate" in result.output
