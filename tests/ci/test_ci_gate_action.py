"""``python -m evalkit.ci gate-action`` as a real process in a simulated GitHub environment.

Each test gets a fresh ``$GITHUB_STEP_SUMMARY``, ``$GITHUB_OUTPUT`` and event payload, and
``GITHUB_API_URL`` points at the recording fake on 127.0.0.1. Verdicts come from stored
runs made by the real runner (see ``stored_runs`` in conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TOKEN = "ghs_gateTOKEN987"
MARKER = "<!-- evalkit-gate:capitals_ci -->"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]


def parse_outputs(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file: heredoc blocks (name<<DELIM ... DELIM) or name=value."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


@pytest.fixture
def gh_env(tmp_path: Path, fake_github):
    """A function running the gate script with a simulated Actions environment."""

    def run(*args: str, event: dict[str, Any] | None = None, cwd: Path,
            token: str = TOKEN, event_text: str | None = None) -> Outcome:
        event_path = tmp_path / "event.json"
        pr_event = {"action": "synchronize", "number": 7, "pull_request": {"number": 7}}
        event_path.write_text(event_text if event_text is not None else
                              json.dumps(event if event is not None else pr_event))
        summary = tmp_path / "summary.md"
        output = tmp_path / "output.txt"
        summary.write_text("# earlier step\n")
        output.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env.update({
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request" if event is None else "push",
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": "octo/evalkit",
            "GITHUB_API_URL": fake_github.url,
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_TOKEN": token,
        })
        proc = subprocess.run(
            [sys.executable, "-m", "evalkit.ci", "gate-action", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr, summary.read_text(),
                       parse_outputs(output.read_text()))

    return run


def runs(stored_runs, baseline: str, candidate: str, *extra: str) -> list[str]:
    return ["--baseline-run", str(getattr(stored_runs, baseline)),
            "--candidate-run", str(getattr(stored_runs, candidate)), *extra]


def assert_no_token(result: Outcome) -> None:
    for text in (result.stdout, result.stderr, result.summary, *result.outputs.values()):
        assert TOKEN not in text


def heading(markdown: str) -> str:
    """The verdict line, whichever Markdown was used (the report's, or the action's own)."""
    line = next(ln for ln in markdown.splitlines() if ln.startswith("##"))
    match = re.match(r"#{2,3} (✅|❌|⚠️) evalkit (?:gate: )?(PASS|FAIL|INCONCLUSIVE)", line)
    assert match, line
    return f"{match.group(1)} {match.group(2)}"


def shows(markdown: str, rate: float) -> bool:
    """The summary shows *rate* as 0.833 or as 83.3% / 83.3 pp (a Δ as -0.567 / −56.7 pp)."""
    plain = re.escape(f"{rate:.3f}")
    sign = "[−-]" if rate < 0 else ""
    pct = re.escape(f"{abs(rate) * 100:.1f}")
    return re.search(rf"{plain}|{sign}{pct} ?(%|pp)", markdown) is not None


HAS_REPORT = importlib.util.find_spec("evalkit._cli.report") is not None


def test_fail_verdict_exits_1_with_summary_outputs_and_comment(gh_env, stored_runs,
                                                              fake_github, tmp_path) -> None:
    report = tmp_path / "out" / "gate.html"
    result = gh_env(*runs(stored_runs, "base", "bad", "--report-path", str(report)),
                    cwd=stored_runs.root)
    assert result.code == 1, result.stderr
    # appended after what earlier steps wrote
    assert result.summary.startswith("# earlier step\n")
    assert heading(result.summary) == "❌ FAIL"
    # before → after, and Δ with its interval
    assert shows(result.summary, 0.833)
    assert shows(result.summary, 0.267)
    assert shows(result.summary, -0.567)
    assert "margin -0.15" in result.summary  # the violated rule, with its numbers
    assert shows(result.summary, 0.157)  # the MDE
    assert "::error::evalkit gate capitals_ci: FAIL" in result.stderr

    out = result.outputs
    assert out["verdict"] == "FAIL"
    assert out["exit-code"] == "1"
    assert out["artifact-name"] == "evalkit-capitals_ci"
    assert out["run-dir"] == str(stored_runs.bad)
    paths = out["artifact-paths"].split("\n")
    assert str(report.with_suffix(".json")) in paths
    assert str(report.with_suffix(".md")) in paths
    assert str(stored_runs.bad) in paths
    assert str(stored_runs.base) in paths
    assert json.loads(report.with_suffix(".json").read_text())["verdict"] == "FAIL"
    assert report.with_suffix(".md").read_text() in result.summary
    if HAS_REPORT:
        assert out["report-path"] == str(report)
        assert report.read_text().lstrip().lower().startswith("<!doctype html")
        assert str(report) in paths

    (post,) = fake_github.calls("POST")
    assert post.path == "/repos/octo/evalkit/issues/7/comments"
    body = post.body["body"]
    assert body.startswith(MARKER + "\n")
    assert heading(body) == "❌ FAIL"
    assert "https://github.test/octo/evalkit/actions/runs/4242" in body
    assert "artifact `evalkit-capitals_ci`" in body
    assert len(body) < 65_536
    assert out["comment-url"].endswith(f"#issuecomment-{fake_github.comments[7][0]['id']}")
    assert_no_token(result)


def test_pass_exits_0_and_second_run_updates_the_same_comment(gh_env, stored_runs,
                                                              fake_github) -> None:
    first = gh_env(*runs(stored_runs, "base", "same"), cwd=stored_runs.root)
    assert first.code == 0, first.stderr
    assert first.outputs["verdict"] == "PASS"
    assert first.outputs["exit-code"] == "0"
    assert heading(first.summary) == "✅ PASS"
    second = gh_env(*runs(stored_runs, "base", "bad"), cwd=stored_runs.root)
    assert second.code == 1
    assert [r.method for r in fake_github.requests] == ["GET", "POST", "GET", "PATCH"]
    (comment,) = fake_github.comments[7]
    assert comment["body"].startswith(MARKER + "\n")
    assert heading(comment["body"]) == "❌ FAIL"


@pytest.mark.parametrize(("policy", "code"), [("", 1), ("warn", 0)])
def test_inconclusive_exit_code_follows_the_policy(gh_env, stored_runs, policy, code) -> None:
    # the suite says on_inconclusive: fail, so "" (the suite's own) fails too
    result = gh_env(*runs(stored_runs, "tiny", "tiny", "--gate-policy", policy),
                    cwd=stored_runs.root)
    assert result.code == code, result.stderr
    assert result.outputs["verdict"] == "INCONCLUSIVE"
    assert result.outputs["exit-code"] == str(code)
    assert heading(result.summary) == "⚠️ INCONCLUSIVE"
    assert "cannot tell" in result.summary  # the undecided rule's reason
    expected = "fails" if code else "passes with a warning"
    assert f"the job {expected}" in result.summary


def test_push_event_writes_the_summary_but_no_comment(gh_env, stored_runs, fake_github) -> None:
    result = gh_env(*runs(stored_runs, "base", "same"), cwd=stored_runs.root,
                    event={"ref": "refs/heads/main", "commits": []})
    assert result.code == 0, result.stderr
    assert heading(result.summary) == "✅ PASS"
    assert fake_github.requests == []
    assert result.outputs["comment-url"] == ""
    assert "not a pull request event" in result.stderr


def test_fork_without_write_permission_warns_and_keeps_the_verdict(gh_env, stored_runs,
                                                                   fake_github) -> None:
    fake_github.fail["POST"] = (403, {}, {"message": "Resource not accessible by integration"})
    result = gh_env(*runs(stored_runs, "base", "same"), cwd=stored_runs.root)
    assert result.code == 0, result.stderr  # PASS stays PASS
    assert result.outputs["verdict"] == "PASS"
    assert result.outputs["comment-url"] == ""
    warning = next(line for line in result.stderr.splitlines()
                   if line.startswith("::warning") and "PR comment" in line)
    assert "403" in warning
    assert "fork" in warning
    assert_no_token(result)


def test_bad_inputs_exit_2_with_an_error_summary(gh_env, stored_runs, fake_github) -> None:
    result = gh_env("--suite", str(stored_runs.suite), "--trials", "many", cwd=stored_runs.root)
    assert result.code == 2
    assert result.outputs["verdict"] == "ERROR"
    assert result.outputs["exit-code"] == "2"
    assert "trials must be a positive integer" in result.summary
    both = gh_env("--baseline-run", str(stored_runs.base), "--baseline-params", "a=1",
                  "--candidate-run", str(stored_runs.bad), cwd=stored_runs.root)
    assert both.code == 2
    assert "not both" in both.summary
    garbled = gh_env("--candidate-run", str(stored_runs.bad), cwd=stored_runs.root,
                     event_text="{not json")
    assert garbled.code == 2
    assert "not JSON" in garbled.summary
    missing = gh_env("--candidate-run", "no/such/run", cwd=stored_runs.root)
    assert missing.code == 2
    assert "does not exist" in missing.stderr
    # unusable options stop before any GitHub call; a plan that cannot run still tells the PR
    writes = [r for r in fake_github.requests if r.method != "GET"]
    assert len(writes) == 2  # "both" and "missing" (two gates: two markers, two comments)
    for request in writes:
        assert "evalkit gate: ERROR" in request.body["body"]


def test_runs_the_suite_when_given_one(gh_env, stored_runs, tmp_path) -> None:
    # `evalkit run SUITE --gate` with a stored baseline: a fresh run folder is judged
    result = gh_env("--suite", "suites/capitals_ci.yaml", "--baseline-run",
                    str(stored_runs.base), "--candidate-params", "error_rate=0.6",
                    "--trials", "5", cwd=stored_runs.root)
    assert result.code == 1, result.stderr
    assert result.outputs["verdict"] == "FAIL"
    run_dir = Path(stored_runs.root, result.outputs["run-dir"])
    assert (run_dir / "manifest.json").is_file()
    assert run_dir != stored_runs.bad
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["params"]["error_rate"] == 0.6
    assert manifest["trials"] == 5
    assert "after (candidate): `error_rate=0.6`" in result.summary


def test_compare_suite_runs_both_arms_in_one_job(gh_env, stored_runs) -> None:
    pytest.importorskip("evalkit._cli.compare", reason="evalkit compare is not in this build")
    result = gh_env("--suite", "suites/capitals_ci.yaml",
                    "--baseline-params", "error_rate=0.05",
                    "--candidate-params", "error_rate=0.6", "--trials", "5",
                    cwd=stored_runs.root)
    assert result.code == 1, result.stderr
    assert result.outputs["verdict"] == "FAIL"
    assert "before (baseline): `error_rate=0.05`" in result.summary
    assert shows(result.summary, 0.833)
    assert shows(result.summary, -0.567)
    run_dir = Path(stored_runs.root, result.outputs["run-dir"])
    assert (run_dir / "manifest.json").is_file()
