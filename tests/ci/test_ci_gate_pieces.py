"""The gate script's pure parts: inputs → command, verdict → exit code, outputs, Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.ci import (
    GateInputs,
    GitHubEnvironment,
    exit_code_for,
    format_output,
    plan_command,
    pull_request_number,
    render_summary,
    sticky_marker,
)
from evalkit.ci._gate_action import inputs_from_strings, parse_params
from evalkit.ci._summary import COMMENT_LIMIT, SummaryContext, truncate
from evalkit.errors import InputError


@pytest.mark.parametrize(
    ("verdict", "policy", "cli", "code"),
    [
        ("PASS", None, 0, 0), ("PASS", "fail", 0, 0), ("FAIL", "warn", 1, 1),
        ("INCONCLUSIVE", "fail", 0, 1), ("INCONCLUSIVE", "warn", 1, 0),
        ("INCONCLUSIVE", None, 0, 0), ("INCONCLUSIVE", None, 1, 1), (None, None, 3, 3),
    ],
)
def test_exit_code_for(verdict, policy, cli, code) -> None:
    assert exit_code_for(verdict, policy, cli) == code


def test_parse_params_splits_spaces_and_newlines_with_quotes() -> None:
    assert parse_params("prompt_version=v2 temperature=0.2\nnote='a b'\n") == (
        "prompt_version=v2", "temperature=0.2", "note=a b")
    assert parse_params("  \n") == ()
    with pytest.raises(InputError, match="not key=value"):
        parse_params("prompt_version v2")


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for run in ("base", "cand"):
        (tmp_path / run).mkdir()
    (tmp_path / "s.yaml").write_text("name: s\n")
    return tmp_path


def test_plan_command_for_each_combination(files: Path) -> None:
    plan = plan_command(GateInputs(suite="s.yaml", baseline_params=("v=1",),
                                   candidate_params=("v=2", "t=0"), trials=4))
    assert plan.argv == ["compare", "s.yaml", "--baseline", "v=1", "--candidate", "v=2",
                         "--candidate", "t=0", "--trials", "4", "--format", "json"]
    assert (plan.mode, plan.baseline, plan.candidate) == ("compare-suite", "v=1", "v=2 t=0")
    plan = plan_command(GateInputs(baseline_run="base", candidate_run="cand"))
    assert plan.argv == ["gate", "cand", "--baseline", "base", "--format", "json"]
    assert plan.stored_runs == ("base", "cand")
    assert plan_command(GateInputs(candidate_run="cand")).argv == [
        "gate", "cand", "--format", "json"]
    plan = plan_command(GateInputs(suite="s.yaml", baseline_run="base",
                                   candidate_params=("v=2",), extra_args=("--model", "local")))
    assert plan.argv == ["run", "s.yaml", "--gate", "--baseline", "base", "--param", "v=2",
                         "--format", "json", "--model", "local"]
    assert plan_command(GateInputs(suite="s.yaml")).argv == [
        "run", "s.yaml", "--gate", "--format", "json"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (GateInputs(), "give a suite"),
        (GateInputs(baseline_run="base"), "give a suite"),
        (GateInputs(suite="s.yaml", baseline_run="base", baseline_params=("a=1",)), "not both"),
        (GateInputs(candidate_run="cand", candidate_params=("a=1",)), "not both"),
        (GateInputs(candidate_run="cand", baseline_params=("a=1",)), "need a suite"),
        (GateInputs(candidate_run="cand", trials=3), "only when a suite is run"),
        (GateInputs(suite="nope.yaml"), "nope.yaml does not exist"),
        (GateInputs(candidate_run="nope"), "run folder nope does not exist"),
    ],
)
def test_plan_command_rejects_contradictions(files: Path, inputs, message) -> None:
    with pytest.raises(InputError, match=message):
        plan_command(inputs)


def test_inputs_from_strings_treats_empty_as_unset() -> None:
    inputs = inputs_from_strings({"suite": "s.yaml", "trials": "", "gate-policy": "",
                                  "comment": "", "report-path": "", "extra-args": ""})
    assert inputs.trials is None
    assert inputs.policy is None
    assert inputs.comment is True
    assert inputs.report_path == Path("evalkit-report/report.html")
    inputs = inputs_from_strings({"trials": "3", "gate-policy": "warn", "comment": "false",
                                  "extra-args": "--model 'openai:gpt 4'"})
    assert (inputs.trials, inputs.policy, inputs.comment) == (3, "warn", False)
    assert inputs.extra_args == ("--model", "openai:gpt 4")
    for bad, message in (({"trials": "0"}, "positive integer"),
                         ({"gate-policy": "next"}, "fail or warn"),
                         ({"comment": "yes"}, "true or false")):
        with pytest.raises(InputError, match=message):
            inputs_from_strings(bad)


def test_format_output_is_a_heredoc_a_value_cannot_escape() -> None:
    value = "PASS\nverdict=FAIL\nghadelimiter_x"
    text = format_output("verdict", value)
    head, *body, tail, end = text.split("\n")
    name, delimiter = head.split("<<")
    assert name == "verdict"
    assert tail == delimiter
    assert end == ""
    assert "\n".join(body) == value
    assert delimiter not in value


def test_environment_reads_event_outputs_and_summary(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 12}}')
    env = GitHubEnvironment.from_environ({
        "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "9",
        "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"),
        "GITHUB_TOKEN": "secret-token-value",
    })
    assert env.pr_number == 12
    assert env.run_url == "https://github.com/o/r/actions/runs/9"
    assert "secret-token-value" not in repr(env)
    env.set_outputs({"a": "1", "b": "x\ny"})
    env.add_summary("hello")
    assert (tmp_path / "sum").read_text() == "hello\n"
    assert "a<<" in (tmp_path / "out").read_text()
    outside = GitHubEnvironment.from_environ({})
    outside.set_outputs({"a": "1"})  # no file, no error
    outside.add_summary("x")
    assert outside.pr_number is None
    assert outside.run_url is None


@pytest.mark.parametrize(
    ("event", "number"),
    [
        ({"pull_request": {"number": 3}}, 3),
        ({"issue": {"number": 4, "pull_request": {"url": "…"}}}, 4),
        ({"issue": {"number": 5}}, None),  # a comment on an issue, not a PR
        ({"ref": "refs/heads/main"}, None),
    ],
)
def test_pull_request_number(event, number) -> None:
    assert pull_request_number(event) == number


FAIL_PAYLOAD = {
    "verdict": "FAIL",
    "metrics": {"completion_rate": {"estimate": 0.6, "ci_low": 0.5, "ci_high": 0.7},
                "latency_p50_s": {"estimate": 1.25, "ci_low": 1.0, "ci_high": 1.5}},
    "baseline_metrics": {"completion_rate": {"estimate": 0.8}},
    "deltas": {"completion_rate": {"estimate": -0.2, "ci_low": -0.31, "ci_high": -0.09,
                                   "p_value": 0.0004},
               "latency_p50_s": {"estimate": 0.1, "ci_low": -0.2, "ci_high": 0.4,
                                 "p_value": 0.4, "baseline": 1.15}},
    "violations": [{"rule": "regression", "metric": "completion_rate",
                    "reason": "Δ = -0.2 beyond the margin | -0.05"}],
    "warnings": ["a stored baseline"],
    "mde": {"completion_rate": {"mde": 0.12, "power": 0.8, "basis": "paired"}},
    "regressed_cases": [{"case_id": f"c{i}"} for i in range(25)],
}


def test_render_summary_has_the_before_after_table_and_the_evidence() -> None:
    ctx = SummaryContext(suite="smoke", baseline="prompt_version=v1",
                         candidate="prompt_version=v2", exit_code=1,
                         run_url="https://github.test/o/r/actions/runs/1", artifact="evalkit-smoke")
    text = render_summary(FAIL_PAYLOAD, ctx, marker=True)
    lines = text.splitlines()
    assert lines[0] == sticky_marker("smoke") == "<!-- evalkit-gate:smoke -->"
    assert lines[1] == "### ❌ evalkit gate: FAIL · `smoke`"
    assert "| **completion_rate** | 0.800 | 0.600 [0.500, 0.700] | -0.200 [-0.310, -0.090] " \
           "| <0.001 |" in lines
    # metrics no rule names fold away, but stay readable
    assert "<details><summary>1 more metrics</summary>" in text
    assert "| latency_p50_s | 1.150 | 1.250 [1.000, 1.500] | +0.100 [-0.200, +0.400] | 0.400 |" \
        in lines
    assert "margin \\| -0.05" not in text
    assert "margin | -0.05" in text
    assert "`c19` and 5 more" in text
    assert "| completion_rate | 0.120 | 80% | paired |" in lines
    assert "artifact `evalkit-smoke` of the [workflow run](https://github.test/o/r/actions/runs/1)"\
        in text
    assert not render_summary(FAIL_PAYLOAD, ctx, marker=False).startswith("<!--")


def test_render_summary_without_a_baseline_and_on_errors() -> None:
    run_only = {"verdict": "PASS", "metrics": {"completion_rate": {
        "estimate": 0.9, "ci_low": 0.8, "ci_high": 0.95, "n_cases": 20, "n_trials": 60}}}
    text = render_summary(run_only, SummaryContext(suite="s"), marker=False)
    assert "| completion_rate | 0.900 [0.800, 0.950] | 20 | 60 |" in text
    broken = render_summary({}, SummaryContext(suite="s", error="evalkit run exited 3"),
                            marker=False)
    assert "💥 evalkit gate: ERROR" in broken
    assert "evalkit run exited 3" in broken


def test_comment_stays_under_githubs_limit() -> None:
    huge = dict(FAIL_PAYLOAD, warnings=["w" * 1000] * 200)
    ctx = SummaryContext(suite="s", run_url="https://github.test/o/r/actions/runs/1")
    text = render_summary(huge, ctx, marker=True)
    assert len(text) < COMMENT_LIMIT
    assert "… (truncated; the full report is in the run's artifact)\n\n<sub>Details: [workflow" \
        in text  # the link to the evidence survives the cut
    assert truncate("short") == "short"


def test_sticky_marker_cannot_close_the_html_comment_early() -> None:
    assert sticky_marker("a-->b") == "<!-- evalkit-gate:a-b -->"


def test_render_summary_wraps_the_reports_markdown() -> None:
    report = "## ⚠️ evalkit INCONCLUSIVE — smoke\n\nrun r1 · 2 cases\n\n| metric | Δ |\n|---|---|\n"
    ctx = SummaryContext(suite="smoke", baseline="prompt_version=v1",
                         candidate="prompt_version=v2", policy="warn", exit_code=0,
                         run_url="https://github.test/o/r/actions/runs/1", artifact="evalkit-smoke")
    payload = {"verdict": "INCONCLUSIVE", "on_inconclusive": "fail"}
    text = render_summary(payload, ctx, marker=True, report_markdown=report)
    parts = text.split("\n\n")
    assert parts[0] == "<!-- evalkit-gate:smoke -->"
    assert parts[1] == "## ⚠️ evalkit INCONCLUSIVE — smoke"  # the report's heading leads
    assert parts[2] == "before (baseline): `prompt_version=v1` · after (candidate): " \
                       "`prompt_version=v2`"
    assert parts[3].startswith("The data could not decide; under the `warn` policy (set on the "
                               "action, over the suite's `fail`) the job passes with a warning.")
    assert parts[4] == "run r1 · 2 cases"
    assert "| metric | Δ |\n|---|---|" in text
    assert parts[-1].startswith("<sub>HTML report and run folder: artifact `evalkit-smoke` of the "
                                "[workflow run](https://github.test/o/r/actions/runs/1)")


def test_text_from_the_run_cannot_mention_people_or_inject_html() -> None:
    payload = {"verdict": "FAIL", "violations": [
        {"rule": "per_case", "metric": "completion_rate", "reason": "ping @octocat <img src=x>",
         "cases": ["case-`1`", "@team"]}]}
    text = render_summary(payload, SummaryContext(suite="s"), marker=False)
    assert "@octocat" not in text
    assert "<img" not in text
    assert "&#64;octocat &lt;img src=x&gt;" in text
    assert "`case-'1'`, `&#64;team`" in text


def test_event_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{not json")
    with pytest.raises(ValueError, match=r"GITHUB_EVENT_PATH .*event\.json: not JSON"):
        GitHubEnvironment.from_environ({"GITHUB_EVENT_PATH": str(event)})
