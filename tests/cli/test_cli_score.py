"""``evalkit score``: re-score a stored run without re-running the target."""

import json
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from evalkit._cli.main import cli

TARGET = textwrap.dedent('''
    import os
    from pathlib import Path

    ANSWERS = {"a": "4", "b": "7", "c": "Paris"}

    def target(case, ctx):
        calls = Path(os.environ["SCORE_TEST_CALLS"])
        calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
        if case.id == "boom":
            raise RuntimeError("target failed")
        with ctx.tracer.tool("search_docs", arguments={"query": case.input["q"]}) as span:
            span.set_result([{"doc_id": "d1"}])
        if case.id != "c":
            with ctx.tracer.tool("read_doc", arguments={"doc_id": "d1"}):
                pass
        return {"answer": ANSWERS[case.id], "citations": ["d1"]}
''')

CASES = [
    {"id": "a", "input": {"q": "2+2?"},
     "expected": {"answer": "4", "trajectory": ["search_docs", "read_doc"]}},
    {"id": "b", "input": {"q": "3+3?"},
     "expected": {"answer": "6", "trajectory": ["search_docs", "read_doc"]}},
    {"id": "c", "input": {"q": "capital of France?"},
     "expected": {"answer": "Paris", "trajectory": ["search_docs", "read_doc"]}},
    {"id": "boom", "input": {"q": "?"}, "expected": {"answer": "?"}},
]


def _suite(path: Path, scorers: list[dict], **extra) -> Path:
    body = {"name": "mini", "dataset": "mini", "target": "score_test_target:target",
            "trials": 2, "scorers": scorers, **extra}
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "datasets" / "mini").mkdir(parents=True)
    (tmp_path / "datasets" / "mini" / "dataset.yaml").write_text("name: mini\nversion: 1.0.0\n")
    (tmp_path / "datasets" / "mini" / "cases.jsonl").write_text(
        "\n".join(json.dumps(c) for c in CASES) + "\n")
    (tmp_path / "suites").mkdir()
    (tmp_path / "score_test_target.py").write_text(TARGET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCORE_TEST_CALLS", str(tmp_path / "calls.txt"))
    suite = _suite(tmp_path / "suites" / "mini.yaml",
                   [{"type": "equals", "actual": "output.answer", "expected": "expected.answer"}])
    result = CliRunner().invoke(cli, ["run", str(suite), "--out", "run1", "--no-progress"])
    assert result.exit_code in (0, 1), result.output
    return tmp_path


def _scores(run: Path):
    return pq.read_table(run / "scores.parquet").to_pandas()


def test_rescore_with_new_suite_never_reruns_target(project):
    calls_before = (project / "calls.txt").read_text()
    trials_before = pq.read_table(project / "run1" / "trials.parquet").to_pandas()
    suite2 = _suite(project / "suites" / "mini2.yaml", [
        {"type": "equals", "actual": "output.answer", "expected": "expected.answer"},
        {"type": "trajectory"},
        {"type": "citations-subset"},
    ])
    result = CliRunner().invoke(cli, ["score", "run1", "--suite", str(suite2)])
    assert result.exit_code == 0, result.output
    assert (project / "calls.txt").read_text() == calls_before  # target not called
    trials_after = pq.read_table(project / "run1" / "trials.parquet").to_pandas()
    assert trials_after.equals(trials_before)
    scores = _scores(project / "run1")
    assert sorted(set(scores["scorer"])) == ["citations-subset", "equals", "trajectory"]
    assert "boom" not in set(scores["case_id"])  # only ok trials are scored
    assert len(scores) == 3 * 2 * 3
    traj = scores[scores["scorer"] == "trajectory"]
    failed = traj[~traj["passed"].astype(bool)]
    assert set(failed["case_id"]) == {"c"}
    assert all("call 2: expected read_doc" in r for r in failed["reason"])
    details = json.loads(traj.iloc[0]["details"])
    assert "lcs_score" in details
    assert "re-scored 6 ok trials" in result.output
    assert "trajectory" in result.output
    assert "pass_rate:trajectory" in result.output
    manifest = json.loads((project / "run1" / "manifest.json").read_text())
    assert manifest["rescored"][-1]["scorers"] == ["equals", "trajectory", "citations-subset"]


def test_rescore_from_manifest_json_and_flips(project):
    suite2 = _suite(project / "suites" / "mini2.yaml",
                    [{"type": "equals", "actual": "output.answer", "value": "4"}])
    CliRunner().invoke(cli, ["score", "run1", "--suite", str(suite2)])
    result = CliRunner().invoke(cli, ["score", "run1", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["trials_scored"] == 6
    eq = out["scorers"]["equals"]
    assert eq["scored"] == 6
    assert eq["passed"] == 4
    assert eq["pass_rate"] == pytest.approx(4 / 6)
    # from value "4" back to expected.answer: a passes both times, b fails both times,
    # c flips from fail to pass in its 2 trials
    assert eq["changed"] == 2
    m = out["metrics"]["pass_rate:equals"]
    assert set(m) == {"estimate", "ci_low", "ci_high", "n_cases", "n_trials"}
    # the errored case counts in the denominator (missing trials are never dropped)
    assert m["n_cases"] == 4
    assert m["ci_low"] <= m["estimate"] <= m["ci_high"]


def test_rescore_refuses_changed_dataset(project):
    cases = project / "datasets" / "mini" / "cases.jsonl"
    cases.write_text(cases.read_text().replace('"answer": "6"', '"answer": "7"'))
    result = CliRunner().invoke(cli, ["score", "run1"])
    assert result.exit_code == 2
    assert "cannot find the dataset content this run used" in result.output


def test_rescore_errors(project):
    result = CliRunner().invoke(cli, ["score", "nowhere"])
    assert result.exit_code == 2
    assert "nowhere" in result.output
    bad = _suite(project / "suites" / "bad.yaml", [{"type": "regex", "pattern": "("}])
    result = CliRunner().invoke(cli, ["score", "run1", "--suite", str(bad)])
    assert result.exit_code == 2
    assert "scorers[0]" in result.output
    judge = _suite(project / "suites" / "judge.yaml", [{"type": "llm-rubric", "rubric": "ok?"}])
    result = CliRunner().invoke(cli, ["score", "run1", "--suite", str(judge)])
    assert result.exit_code == 2
    assert "needs a judge model" in result.output


def test_rescore_with_judge_records_judge_errors(project, monkeypatch):
    from evalkit.model import ChatResult

    class FlakyJudge:
        async def chat(self, messages, **kw):
            text = messages[1]["content"]
            reply = "not json" if '"Paris"' in text else '{"reasoning": "r", "verdict": "pass"}'
            return ChatResult(reply, None, "fake", 1, 1, 0.0, 0.0, False, "stop")

    monkeypatch.setattr("evalkit.scorer._judge.shared_client", lambda *a: FlakyJudge())
    suite = _suite(project / "suites" / "judge.yaml",
                   [{"type": "llm-rubric", "rubric": "Is it right?"}], judge_model="fake")
    result = CliRunner().invoke(cli, ["score", "run1", "--suite", str(suite), "--format", "json"])
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)["scorers"]["llm-rubric"]
    assert s["scored"] == 4
    assert s["judge_errors"] == 2
    assert s["passed"] == 4
    rows = _scores(project / "run1")
    assert set(rows["status"]) == {"ok", "judge_error"}
