"""The pytest plugin, exercised through real pytest sessions (pytester)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas  # noqa: F401  (imported before pytester snapshots sys.modules)
import pyarrow.parquet  # noqa: F401
import pytest

from evalkit.results import open_run

pytest_plugins = ["pytester"]

CASES = [
    ("paris", "France", "Paris"), ("berlin", "Germany", "Berlin"), ("rome", "Italy", "Rome"),
    ("madrid", "Spain", "Madrid"), ("lisbon", "Portugal", "Lisbon"), ("tokyo", "Japan", "Tokyo"),
    ("oslo", "Norway", "Oslo"), ("lima", "Peru", "Lima"),
]

AGENT = textwrap.dedent('''
    import random
    CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
                "Portugal": "Lisbon", "Japan": "Tokyo", "Norway": "Oslo", "Peru": "Lima"}

    async def agent(country, seed, quality):
        rng = random.Random(seed)
        if rng.random() > quality:
            return {"answer": "Nowhere"}
        return {"answer": CAPITALS[country]}
''')

TEST_FILE = textwrap.dedent('''
    import os
    import pytest
    from agent import agent

    QUALITY = float(os.environ.get("AGENT_QUALITY", "1.0"))

    @pytest.mark.evalkit(
        dataset="capitals@1.0.0", trials=4, seed=3, concurrency=4,
        scorers=[{"type": "equals", "actual": "output.answer", "expected": "expected.answer"}],
        gate={"thresholds": {"completion_rate": {"min": 0.7}},
              "regression": {"completion_rate": {"margin": 0.1}},
              "per_case": {"min_passes": 1, "of": 4}},
    )
    async def test_capitals(case, ctx):
        return await agent(case.input["country"], ctx.seed, QUALITY)

    def test_ordinary():
        assert 1 + 1 == 2
''')


@pytest.fixture
def eval_project(pytester: pytest.Pytester) -> pytest.Pytester:
    ds = pytester.path / "datasets" / "capitals"
    ds.mkdir(parents=True)
    (ds / "dataset.yaml").write_text("name: capitals\nversion: 1.0.0\ntags: [happy]\n")
    (ds / "cases.jsonl").write_text("".join(
        json.dumps({"id": cid, "input": {"country": c}, "expected": {"answer": a},
                    "tags": ["happy"]}) + "\n" for cid, c, a in CASES))
    pytester.makepyfile(agent=AGENT, test_evals=TEST_FILE)
    pytester.syspathinsert()
    return pytester


def _runs(root: Path) -> list[Path]:
    return sorted(p.parent for p in (root / "reports").glob("*/*/manifest.json"))


def test_good_agent_passes_and_writes_a_run_folder(eval_project: pytest.Pytester) -> None:
    result = eval_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["*evalkit*", "test_capitals: PASS*",
                                 "*completion_rate*1.000 [*", "*MDE completion_rate*"])
    (run,) = _runs(eval_project.path)
    data = open_run(run)
    assert len(data.trials) == 32 and set(data.trials.status) == {"ok"}
    assert data.manifest["pytest_nodeid"] == "test_evals.py::test_capitals"
    assert data.manifest["dataset"]["name"] == "capitals"


def test_regressed_agent_fails_its_cases_and_the_gate(eval_project: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    eval_project.runpytest_subprocess("-p", "no:cacheprovider")  # baseline, quality 1.0
    (baseline,) = _runs(eval_project.path)
    monkeypatch.setenv("AGENT_QUALITY", "0.3")
    result = eval_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--evalkit-baseline", str(baseline))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["test_capitals: FAIL*", "*completion_rate*Δ -*", "*violated*"])
    out = result.stdout.str()
    assert "stored baseline can be confounded" in out
    outcomes = result.parseoutcomes()
    if outcomes.get("failed"):
        # a case that completed none of its 4 trials fails its own item and says why
        result.stdout.fnmatch_lines(["*case * 0/4 trials completed, needs 1*"])


def test_selection_and_trials_option(eval_project: pytest.Pytester) -> None:
    result = eval_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "paris or rome", "--evalkit-trials", "2")
    result.assert_outcomes(passed=2, deselected=7)
    # 2 cases x 2 trials cannot show completion >= 0.7 on the lower bound: the gate says so
    result.stdout.fnmatch_lines(["test_capitals: FAIL*", "*lower 95% bound*< min 0.7*"])
    (run,) = _runs(eval_project.path)
    trials = open_run(run).trials
    assert sorted(set(trials.case_id)) == ["paris", "rome"] and len(trials) == 4


def test_xdist_workers_results_are_merged_before_the_gate(eval_project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = eval_project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["test_capitals: PASS*"])
    (run,) = _runs(eval_project.path)
    assert len(open_run(run).trials) == 32


def test_xdist_regression_fails_the_session(eval_project: pytest.Pytester, monkeypatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("AGENT_QUALITY", "0.2")
    result = eval_project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["test_capitals: FAIL*"])


def test_no_gate_option_and_bad_marker(eval_project: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("AGENT_QUALITY", "0.2")
    result = eval_project.runpytest_subprocess("-p", "no:cacheprovider", "--no-evalkit-gate",
                                               "-k", "capitals")
    result.stdout.fnmatch_lines(["test_capitals: no gate*"])
    eval_project.makepyfile(test_bad=textwrap.dedent('''
        import pytest
        @pytest.mark.evalkit(datset="capitals")
        def test_x(case):
            return case.input
    '''))
    result = eval_project.runpytest_subprocess("-p", "no:cacheprovider", "test_bad.py")
    # reported as a collection error naming the test and the bad argument
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_bad.py::test_x: unknown evalkit marker argument*datset*"])


def test_plugin_module_imports_only_pytest_and_stdlib() -> None:
    import subprocess
    import sys

    code = ("import sys; before = set(sys.modules); import evalkit.pytest_plugin; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(sorted(new & {'pandas','numpy','scipy','pyarrow','pydantic','yaml',"
            "'opentelemetry','llama_cpp','openai','click','jinja2'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
