"""The script behind the ``evalkit-gate`` GitHub Action.

It holds no evaluation logic: it runs the evalkit command line (``compare``, ``run
--gate`` or ``gate``) with ``--format json``, then does the GitHub chores around the
verdict:

1. writes the Markdown summary to ``$GITHUB_STEP_SUMMARY``;
2. sets the step outputs in ``$GITHUB_OUTPUT`` (heredoc form);
3. writes the HTML report (``evalkit report``) where the artifact step picks it up;
4. creates or updates one sticky PR comment per suite (a hidden marker finds it);
5. exits 0 on PASS, 1 on FAIL, and on INCONCLUSIVE 1 under the ``fail`` policy or 0
   under ``warn``; 2 for bad inputs, 3 when evalkit itself failed.

A comment that cannot be posted (a fork's read-only token, missing permissions, a
GitHub outage) is a warning, never a reason to fail the gate.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalkit.ci._environment import GitHubEnvironment, annotate
from evalkit.ci._github import GitHubClient, GitHubError, Transport
from evalkit.ci._summary import SummaryContext, render_summary, sticky_marker
from evalkit.errors import InputError

__all__ = [
    "CommandPlan",
    "GateInputs",
    "ReportFiles",
    "exit_code_for",
    "inputs_from_strings",
    "parse_params",
    "plan_command",
    "report_input_error",
    "run_gate_action",
]

Policy = Literal["fail", "warn"]
USAGE_ERROR = 2
INTERNAL_ERROR = 3


@dataclass(frozen=True)
class GateInputs:
    """The action's inputs, empty strings already turned into None / ().

    Attributes:
        suite: suite file to run (``suites/x.yaml``); optional with stored runs.
        baseline_params: ``key=value`` params of the baseline arm.
        candidate_params: ``key=value`` params of the candidate arm.
        baseline_run: a stored baseline run folder.
        candidate_run: a stored candidate run folder.
        trials: trials per case (K), overriding the suite.
        policy: what INCONCLUSIVE does (``fail``/``warn``); None keeps the suite's.
        report_path: where the HTML report goes.
        artifact_name: name of the uploaded artifact (for the link in the comment).
        comment: post the sticky PR comment.
        extra_args: more options for the evalkit command (``--model local``).
    """

    suite: str | None = None
    baseline_params: tuple[str, ...] = ()
    candidate_params: tuple[str, ...] = ()
    baseline_run: str | None = None
    candidate_run: str | None = None
    trials: int | None = None
    policy: Policy | None = None
    report_path: Path = Path("evalkit-report/report.html")
    artifact_name: str | None = None
    comment: bool = True
    extra_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """A stable name for this gate: the suite file's stem, else the run's suite."""
        if self.suite:
            return Path(self.suite).stem
        run = self.candidate_run or self.baseline_run
        if run:
            try:
                manifest = json.loads((Path(run) / "manifest.json").read_text(encoding="utf-8"))
                name = manifest.get("suite_name")
                if name:
                    return str(name)
            except (OSError, json.JSONDecodeError):
                pass
            return Path(run).parent.name or Path(run).name
        return "evalkit"


@dataclass(frozen=True)
class CommandPlan:
    """The evalkit command to run and how to describe its two arms.

    Attributes:
        argv: arguments after ``evalkit``.
        mode: ``compare-suite``, ``run`` or ``gate``.
        baseline: description of the baseline (empty without one).
        candidate: description of the candidate.
        stored_runs: run folders given as inputs (uploaded with the report).
    """

    argv: list[str]
    mode: str
    baseline: str = ""
    candidate: str = ""
    stored_runs: tuple[str, ...] = field(default=())


def parse_params(text: str) -> tuple[str, ...]:
    """Split ``key=value`` params on spaces and newlines, with shell-style quoting.

    ``a=1 b='x y'`` gives ``("a=1", "b=x y")``.

    Raises:
        InputError: an entry without ``=`` or with an empty key.
    """
    try:
        items = shlex.split(text, comments=True)
    except ValueError as exc:
        raise InputError(f"params {text!r}: {exc}") from None
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"param {item!r} is not key=value")
    return tuple(items)


def plan_command(inputs: GateInputs) -> CommandPlan:
    """Choose the evalkit command for a combination of inputs.

    ============================================  =========================================
    inputs                                        command
    ============================================  =========================================
    baseline-run + candidate-run                  ``gate CAND --baseline BASE``
    candidate-run                                 ``gate CAND``
    suite + baseline-params and/or candidate-…    ``compare SUITE --baseline … --candidate …``
    suite + baseline-run (+ candidate-params)     ``run SUITE --gate --baseline BASE -p …``
    suite                                         ``run SUITE --gate``
    ============================================  =========================================

    Raises:
        InputError: contradictory or missing inputs.
    """
    i = inputs
    if i.baseline_run and i.baseline_params:
        raise InputError("give baseline-params or baseline-run, not both")
    if i.candidate_run and i.candidate_params:
        raise InputError("give candidate-params or candidate-run, not both")
    if i.candidate_run and i.baseline_params:
        raise InputError("baseline-params need a suite to run; with candidate-run give "
                         "baseline-run")
    for run in (i.baseline_run, i.candidate_run):
        if run and not Path(run).is_dir():
            raise InputError(f"run folder {run} does not exist")
    if i.suite and not Path(i.suite).is_file():
        raise InputError(f"suite file {i.suite} does not exist")
    json_flag = ["--format", "json"]
    extra = list(i.extra_args)
    trials = ["--trials", str(i.trials)] if i.trials is not None else []
    if i.candidate_run:
        if i.trials is not None:
            raise InputError("trials applies only when a suite is run, not to stored runs")
        if i.baseline_run:
            return CommandPlan(
                ["gate", i.candidate_run, "--baseline", i.baseline_run, *json_flag, *extra],
                "gate", i.baseline_run, i.candidate_run, (i.baseline_run, i.candidate_run),
            )
        return CommandPlan(["gate", i.candidate_run, *json_flag, *extra], "gate", "",
                           i.candidate_run, (i.candidate_run,))
    if not i.suite:
        raise InputError("give a suite, or candidate-run (and baseline-run) to gate stored runs")
    if i.baseline_params or (i.candidate_params and not i.baseline_run):
        argv = ["compare", i.suite]
        argv += [a for p in i.baseline_params for a in ("--baseline", p)]
        argv += [a for p in i.candidate_params for a in ("--candidate", p)]
        return CommandPlan(
            [*argv, *trials, *json_flag, *extra], "compare-suite",
            " ".join(i.baseline_params) or "suite defaults",
            " ".join(i.candidate_params) or "suite defaults",
        )
    argv = ["run", i.suite, "--gate"]
    params = [a for p in i.candidate_params for a in ("--param", p)]
    if i.baseline_run:
        return CommandPlan(
            [*argv, "--baseline", i.baseline_run, *params, *trials, *json_flag, *extra], "run",
            i.baseline_run, " ".join(i.candidate_params) or "suite defaults",
            (i.baseline_run,),
        )
    return CommandPlan([*argv, *params, *trials, *json_flag, *extra], "run", "",
                       " ".join(i.candidate_params) or "suite defaults")


def exit_code_for(verdict: str | None, policy: Policy | None, cli_exit_code: int) -> int:
    """The job's exit code: PASS 0, FAIL 1, INCONCLUSIVE by policy (None: the suite's).

    Example:
        >>> exit_code_for("INCONCLUSIVE", "warn", 1), exit_code_for("INCONCLUSIVE", "fail", 0)
        (0, 1)
    """
    if verdict == "PASS":
        return 0
    if verdict == "FAIL":
        return 1
    if verdict == "INCONCLUSIVE":
        if policy is not None:
            return 1 if policy == "fail" else 0
        return cli_exit_code if cli_exit_code in (0, 1) else 1
    return cli_exit_code


def _child_env() -> dict[str, str]:
    # The system under test does not need a token that can write to the repository.
    return {k: v for k, v in os.environ.items() if k not in {"GITHUB_TOKEN", "GH_TOKEN"}}


def _evalkit(argv: Sequence[str]) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``python -m evalkit ARGV``; stderr streams to ours; stdout parsed as JSON."""
    print(f"$ evalkit {shlex.join(argv)}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit", *argv],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env=_child_env(),
        check=False,
    )
    return proc.returncode, _parse_json(proc.stdout), proc.stdout


def _parse_json(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _run_folders(root: Path = Path("reports")) -> set[Path]:
    return {p.parent for p in root.glob("**/manifest.json")} if root.is_dir() else set()


def _evaluate(plan: CommandPlan) -> tuple[int, dict[str, Any], str | None]:
    """Run the planned command; returns (exit code, JSON payload, error or None).

    ``evalkit compare SUITE`` runs both arms in one job; when its JSON carries no verdict,
    the two-arm run folder it wrote is gated with ``evalkit gate RUN`` (which compares
    the arms) and the two payloads are merged.
    """
    before = _run_folders() if plan.mode == "compare-suite" else set()
    rc, parsed, stdout = _evalkit(plan.argv)
    if parsed is None or rc not in (0, 1):
        if stdout.strip() and parsed is None:
            print(stdout, file=sys.stderr)
        return rc, parsed or {}, f"`evalkit {plan.argv[0]}` exited {rc} (see the job log)"
    if "verdict" in parsed:
        return rc, parsed, None
    if plan.mode != "compare-suite":
        return rc, parsed, f"`evalkit {plan.argv[0]}` printed no verdict"
    run_dir = parsed.get("run_dir")
    if not run_dir:
        new = sorted(_run_folders() - before)
        if len(new) != 1:
            return rc, parsed, ("cannot tell which run folder `evalkit compare` wrote "
                                f"({len(new)} new folders under reports/)")
        run_dir = str(new[0])
    rc, gated, stdout = _evalkit(["gate", str(run_dir), "--format", "json"])
    if gated is None or rc not in (0, 1) or "verdict" not in gated:
        if stdout.strip() and gated is None:
            print(stdout, file=sys.stderr)
        return rc, parsed, f"`evalkit gate {run_dir}` exited {rc} (see the job log)"
    return rc, {**parsed, **gated, "run_dir": str(run_dir)}, None


@dataclass(frozen=True)
class ReportFiles:
    """What ``evalkit report`` produced for the artifact and the summary.

    Attributes:
        html: the HTML report, or None.
        markdown: the report's Markdown summary (escaped, under the comment limit), or None.
        verdict: the verdict the report shows (checked against the gate's).
        files: every file written, for the artifact.
    """

    html: Path | None = None
    markdown: str | None = None
    verdict: str | None = None
    files: tuple[Path, ...] = ()


def _write_reports(
    plan: CommandPlan, inputs: GateInputs, run_dir: str | None, report_url: str | None
) -> ReportFiles:
    """``evalkit report`` into ``inputs.report_path``, with ``.junit.xml`` beside it.

    Without a ``report`` command, the run folder's own report.html is copied.
    """
    target = inputs.report_path
    target.parent.mkdir(parents=True, exist_ok=True)
    subject = run_dir or inputs.candidate_run
    if subject is None:
        return ReportFiles()
    why = "this evalkit has no 'report' command"
    if importlib.util.find_spec("evalkit._cli.report") is not None:
        markdown = target.with_suffix(".summary.md")
        junit = target.with_suffix(".junit.xml")
        argv = ["report", subject, "-o", str(target), "--markdown", str(markdown),
                "--junit", str(junit), "--format", "json"]
        if inputs.baseline_run and plan.mode != "compare-suite":
            argv += ["--baseline", inputs.baseline_run]
        if report_url:
            argv += ["--report-url", report_url]
        rc, parsed, _ = _evalkit(argv)
        text = markdown.read_text(encoding="utf-8") if markdown.is_file() else None
        markdown.unlink(missing_ok=True)  # the summary goes into <report>.md instead
        if rc == 0 and target.is_file():
            files = tuple(p for p in (target, junit) if p.is_file())
            verdict = parsed.get("verdict") if parsed else None
            return ReportFiles(target, text, str(verdict) if verdict else None, files)
        why = f"evalkit report exited {rc}"
    fallback = Path(subject) / "report.html"
    if fallback.is_file():
        shutil.copyfile(fallback, target)
        return ReportFiles(target, files=(target,))
    annotate("warning", f"no HTML report was written ({why})")
    return ReportFiles()


def _post_comment(
    env: GitHubEnvironment, label: str, body: str, transport: Transport | None
) -> str:
    """Upsert the sticky comment; returns its URL, or "" when it was not posted."""
    pr = env.pr_number
    if pr is None:
        print("not a pull request event: no PR comment", file=sys.stderr)
        return ""
    if not env.token:
        annotate("warning", "no github-token: the PR comment was skipped")
        return ""
    if not env.repository:
        annotate("warning", "GITHUB_REPOSITORY is not set: the PR comment was skipped")
        return ""
    try:
        client = GitHubClient(env.token, env.repository, env.api_url, transport=transport)
        result = client.upsert_sticky_comment(pr, sticky_marker(label), body)
    except (GitHubError, ValueError) as exc:
        annotate("warning", f"could not post the PR comment: {exc}", title="evalkit gate")
        return ""
    print(f"PR comment {result.action}: {result.comment.html_url}", file=sys.stderr)
    return result.comment.html_url


def _artifact_name(inputs: GateInputs) -> str:
    if inputs.artifact_name:
        return inputs.artifact_name
    return "evalkit-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", inputs.label).strip("-") or "gate")


def run_gate_action(
    inputs: GateInputs,
    env: GitHubEnvironment | None = None,
    *,
    transport: Transport | None = None,
) -> int:
    """Run the gate and the GitHub chores around it; returns the exit code.

    Args:
        inputs: the action's inputs.
        env: the Actions environment (read from ``os.environ`` by default).
        transport: HTTP layer for the PR comment (tests inject one).
    """
    env = env or GitHubEnvironment.from_environ()
    artifact = _artifact_name(inputs)
    label = inputs.label
    env.set_outputs({"artifact-name": artifact})
    error: str | None = None
    payload: dict[str, Any] = {}
    plan: CommandPlan | None = None
    exit_code = INTERNAL_ERROR
    try:
        plan = plan_command(inputs)
    except InputError as exc:
        error, exit_code = str(exc), USAGE_ERROR
        annotate("error", f"evalkit gate: {exc}")
    if plan is not None:
        rc, payload, error = _evaluate(plan)
        if error is not None:
            exit_code = rc if rc in (USAGE_ERROR, INTERNAL_ERROR) else INTERNAL_ERROR
            annotate("error", f"evalkit gate: {error}")
        else:
            exit_code = exit_code_for(str(payload.get("verdict")), inputs.policy, rc)
    verdict = str(payload.get("verdict") or "ERROR") if error is None else "ERROR"
    run_dir = payload.get("run_dir") or payload.get("run") or inputs.candidate_run
    run_dir = str(run_dir) if run_dir else None
    report_url = f"{env.run_url}#artifacts" if env.run_url else None
    reports = (_write_reports(plan, inputs, run_dir, report_url)
               if plan is not None and error is None else ReportFiles())
    report = reports.html
    ctx = SummaryContext(
        suite=label,
        baseline=plan.baseline if plan else "",
        candidate=plan.candidate if plan else "",
        policy=inputs.policy,
        exit_code=exit_code,
        run_url=env.run_url,
        artifact=artifact if env.run_url else None,
        error=error,
    )
    # The report's Markdown is the richer one; it must tell the same verdict as the gate.
    report_md = reports.markdown if reports.verdict == payload.get("verdict") else None
    summary = render_summary(payload, ctx, marker=False, report_markdown=report_md)
    env.add_summary(summary)
    sidecars = _write_sidecars(inputs.report_path, payload, summary)
    comment_url = ""
    if inputs.comment:
        body = render_summary(payload, ctx, marker=True, report_markdown=report_md)
        comment_url = _post_comment(env, label, body, transport)
    paths = [str(p) for p in dict.fromkeys([*reports.files, *sidecars])]
    for folder in (run_dir, *(plan.stored_runs if plan else ())):
        if folder and Path(folder).is_dir() and folder not in paths:
            paths.append(folder)
    env.set_outputs({
        "verdict": verdict,
        "exit-code": str(exit_code),
        "report-path": str(report) if report else "",
        "run-dir": run_dir or "",
        "artifact-paths": "\n".join(paths),
        "comment-url": comment_url,
    })
    _announce(verdict, exit_code, label)
    return exit_code


def _write_sidecars(report_path: Path, payload: Mapping[str, Any], summary: str) -> list[Path]:
    """``<report>.json`` (the CLI's JSON) and ``<report>.md`` (the summary) beside the report."""
    report_path.parent.mkdir(parents=True, exist_ok=True)
    json_path = report_path.with_suffix(".json")
    md_path = report_path.with_suffix(".md")
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(summary, encoding="utf-8")
    return [json_path, md_path]


def report_input_error(env: GitHubEnvironment, message: str) -> int:
    """Say that the inputs were unusable (annotation, summary, outputs); returns 2."""
    annotate("error", f"evalkit gate: {message}")
    env.add_summary(f"### 💥 evalkit gate: ERROR\n\nThe action's inputs are unusable: {message}\n")
    env.set_outputs({"verdict": "ERROR", "exit-code": str(USAGE_ERROR), "report-path": "",
                     "run-dir": "", "artifact-paths": "", "comment-url": ""})
    return USAGE_ERROR


def _announce(verdict: str, exit_code: int, label: str) -> None:
    message = f"evalkit gate {label}: {verdict}"
    if verdict == "FAIL" or (verdict != "ERROR" and exit_code):
        annotate("error", message)
    elif verdict == "INCONCLUSIVE":
        annotate("warning", message + " (treated as a warning)")
    elif verdict != "ERROR":
        print(message, file=sys.stderr)


def inputs_from_strings(values: Mapping[str, str]) -> GateInputs:
    """Build :class:`GateInputs` from the action's string inputs ("" means unset).

    Raises:
        InputError: a malformed value (trials not a positive integer, unknown policy, …).
    """

    def get(name: str) -> str | None:
        value = (values.get(name) or "").strip()
        return value or None

    trials_text = get("trials")
    trials: int | None = None
    if trials_text is not None:
        if not trials_text.isdigit() or int(trials_text) < 1:
            raise InputError(f"trials must be a positive integer, got {trials_text!r}")
        trials = int(trials_text)
    policy = get("gate-policy")
    if policy is not None and policy not in ("fail", "warn"):
        raise InputError(f"gate-policy must be fail or warn, got {policy!r}")
    comment = (get("comment") or "true").lower()
    if comment not in ("true", "false"):
        raise InputError(f"comment must be true or false, got {comment!r}")
    extra = get("extra-args")
    return GateInputs(
        suite=get("suite"),
        baseline_params=parse_params(values.get("baseline-params") or ""),
        candidate_params=parse_params(values.get("candidate-params") or ""),
        baseline_run=get("baseline-run"),
        candidate_run=get("candidate-run"),
        trials=trials,
        policy=policy,  # type: ignore[arg-type]
        report_path=Path(get("report-path") or GateInputs.report_path),
        artifact_name=get("artifact-name"),
        comment=comment == "true",
        extra_args=tuple(shlex.split(extra)) if extra else (),
    )
