"""``evalkit gate``: PASS / FAIL / INCONCLUSIVE for a stored run, with the evidence."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from evalkit._cli._common import emit_json, format_option, handle_errors
from evalkit.errors import ConfigError, InputError

if TYPE_CHECKING:
    from evalkit.gate import GateSpec
    from evalkit.results import RunData
    from evalkit.stats import Comparison, RunSummary

STORED_BASELINE_NOTE = (
    "the baseline is a stored run: model or provider drift since it ran is confounded with "
    "the change (run both arms in one job with 'evalkit compare SUITE --baseline … "
    "--candidate …' to rule that out)"
)
_HEADLINE = ("estimate", "ci_low", "ci_high", "n_cases", "n_trials")


def load_gate_spec(run: RunData, suite_path: str | None) -> GateSpec:
    """The gate spec from ``--suite`` or from the suite recorded in the run's manifest."""
    from pydantic import ValidationError

    from evalkit.gate import GateSpec
    from evalkit.suite import load_suite

    if suite_path is not None:
        spec: GateSpec = load_suite(suite_path).gate_spec()
        return spec
    manifest = run.path / "manifest.json"
    recorded = run.manifest.get("suite")
    if not isinstance(recorded, dict):
        raise ConfigError("the run's manifest records no suite; pass the gate with --suite "
                          "SUITE.yaml", path=manifest, key="suite")
    try:
        return GateSpec.model_validate(recorded.get("gate") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["suite", "gate", *(str(p) for p in first["loc"])])
        raise ConfigError(str(first["msg"]).removeprefix("Value error, "), path=manifest,
                          key=key) from None


def check_same_dataset(baseline: RunData, candidate: RunData, *, intersect: bool) -> list[str]:
    """Refuse runs on different dataset content unless told to intersect; return notes."""
    a, b = baseline.dataset_hash, candidate.dataset_hash
    if a is not None and b is not None and a != b:
        if not intersect:
            raise InputError(
                f"the runs used different datasets ({baseline.path}: {a[:19]}…, "
                f"{candidate.path}: {b[:19]}…); pass --intersect to compare the cases both "
                "have"
            )
        cases_a = set(baseline.stats_frames()[0]["case_id"].astype(str))
        cases_b = set(candidate.stats_frames()[0]["case_id"].astype(str))
        return [
            f"different dataset hashes: comparing the {len(cases_a & cases_b)} case(s) both "
            f"runs have ({len(cases_a - cases_b)} only in the baseline, "
            f"{len(cases_b - cases_a)} only in the candidate)"
        ]
    return []


def stored_frames(baseline: RunData, candidate: RunData) -> tuple[Any, Any, Any, Any]:
    """Both runs' statistics frames for ``compare_frames`` (trials, scores of each).

    A judge-error correction asked for in either run applies to both arms, so both load
    their outputs then (the answer-length check compares them).
    """
    output = baseline.asks_judge_correction() or candidate.asks_judge_correction()
    return (*baseline.stats_frames(output=output), *candidate.stats_frames(output=output))


def run_arms(run: RunData) -> list[str]:
    """The arms the run's trials hold, sorted (``main`` for a table without arms)."""
    trials = run.stats_frames()[0]
    return sorted({str(a) for a in trials["arm"].unique()}) if "arm" in trials else ["main"]


def single_arm(run: RunData) -> str:
    """The run's only arm, or an error naming the arms."""
    arms = run_arms(run)
    if len(arms) != 1:
        raise InputError(
            f"{run.path} holds arms {', '.join(arms)}; a stored-run comparison needs one arm "
            "per run", )
    return arms[0]


def metrics_payload(summary: RunSummary) -> dict[str, dict[str, Any]]:
    """``{name: {estimate, ci_low, ci_high, n_cases, n_trials}}``."""
    return {
        name: {k: v for k, v in m.to_dict().items() if k in _HEADLINE}
        for name, m in summary.metrics.items()
    }


def deltas_payload(comparison: Comparison) -> dict[str, dict[str, Any]]:
    """``{name: {estimate, ci_low, ci_high, p_value, …}}``."""
    keep = ("estimate", "ci_low", "ci_high", "p_value", "p_value_regression", "method",
            "n_paired", "baseline", "candidate")
    return {
        name: {k: v for k, v in d.to_dict().items() if k in keep}
        for name, d in comparison.deltas.items()
    }


def _seed(run: RunData) -> int:
    try:
        return int(run.manifest.get("seed", 0) or 0)
    except (TypeError, ValueError):
        return 0


def evaluate_run_gate(
    run_dir: str | Path, *, baseline: str | Path | None = None, suite: str | None = None,
) -> dict[str, Any]:
    """Gate a stored run (two-arm runs compare their arms; ``baseline`` adds a stored run).

    Returns the JSON payload: verdict, exit_code, metrics, deltas (with a baseline),
    violations, inconclusive, warnings, mde.
    """
    from evalkit.gate import evaluate_gate
    from evalkit.results import open_run
    from evalkit.stats import compare_frames, compare_runs, summarize_run

    run = open_run(run_dir)
    spec = load_gate_spec(run, suite)
    seed = _seed(run)
    # the statistics read a few columns: loading only those keeps a large run's memory down
    trials, scores = run.stats_frames()
    arms = run_arms(run)
    comparison: Comparison | None = None
    notes: list[str] = []
    baseline_path: str | None = None
    options: dict[str, Any] = {"missing": spec.missing, "confidence": spec.confidence,
                               "seed": seed}
    if spec.per_case is not None:
        options["case_pass_fraction"] = spec.per_case.share
    if baseline is not None:
        base = open_run(baseline)
        baseline_path = str(base.path)
        notes += check_same_dataset(base, run, intersect=False)
        single_arm(base)
        single_arm(run)
        comparison = compare_frames(*stored_frames(base, run), **options)
        notes.append(STORED_BASELINE_NOTE)
    elif {"baseline", "candidate"} <= set(arms):
        comparison = compare_runs(trials, scores, **options)
        baseline_path = f"{run.path} (arm baseline)"
    if comparison is not None:
        summary = comparison.candidate
    else:
        if len(arms) != 1:
            raise InputError(f"{run.path} holds arms {', '.join(arms)}; which one to gate is "
                             "ambiguous (name them baseline and candidate)")
        summary = summarize_run(trials, scores, missing=spec.missing,
                                confidence=spec.confidence, seed=seed)
    result = evaluate_gate(spec, summary, comparison)
    payload: dict[str, Any] = {
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "run": str(run.path),
        "baseline": baseline_path,
        "metrics": metrics_payload(summary),
    }
    if comparison is not None:
        payload["deltas"] = deltas_payload(comparison)
        payload["regressed_cases"] = [c for c, _, _ in comparison.regressed_cases]
    gate = result.to_dict()
    payload.update({
        "violations": gate["violations"],
        "inconclusive": gate["inconclusive"],
        "warnings": [*gate["warnings"], *notes],
        "mde": gate["mde"],
        "checks": gate["checks"],
        "on_inconclusive": gate["on_inconclusive"],
        "next_stage": gate["next_stage"],
    })
    return payload


def _num(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def echo_verdict(payload: dict[str, Any]) -> None:
    """Print a gate payload as text: the verdict, every violated rule, warnings, the MDE."""
    verdict = payload["verdict"]
    colour = {"PASS": "green", "FAIL": "red"}.get(verdict, "yellow")
    click.secho(f"gate: {verdict}", fg=colour, bold=True)
    for check in payload.get("violations", []):
        click.echo(f"  FAIL       [{check['rule']}] {check['reason']}")
    for check in payload.get("inconclusive", []):
        click.echo(f"  undecided  [{check['rule']}] {check['reason']}")
    for check in payload.get("checks", []):
        if check["outcome"] == "pass":
            click.echo(f"  ok         [{check['rule']}] {check['reason']}")
    for warning in payload.get("warnings", []):
        click.echo(f"  note       {warning}")
    mde = payload.get("mde") or {}
    if mde:
        click.echo("minimum detectable effect (smallest true regression FAILed "
                   f"{next(iter(mde.values()))['power']:.0%} of the time at this n and K):")
        for name, m in mde.items():
            click.echo(f"  {name}: {_num(m['mde'])}  (n={m['n_cases']}, "
                       f"K={m['trials_per_case']:g}; {m['basis']})")
    if verdict == "INCONCLUSIVE":
        policy = payload.get("on_inconclusive", "fail")
        what = {"fail": "fails the job", "warn": "is a warning only",
                "next-stage": "asks for the next planned stage"}.get(policy, policy)
        click.echo(f"INCONCLUSIVE {what} (on_inconclusive: {policy}); never re-run until green")


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False))
@click.option("--baseline", type=click.Path(file_okay=False),
              help="A stored baseline run for the gate's regression rules.")
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False),
              help="Take the gate from this suite file instead of the run's manifest.")
@format_option
@handle_errors
def gate(run_dir: str, baseline: str | None, suite_path: str | None, output_format: str) -> None:
    """Decide PASS / FAIL / INCONCLUSIVE for RUN.

    Thresholds are judged on the confidence bound in the unfavourable direction; with a
    baseline (a two-arm RUN, or --baseline) regression rules test non-inferiority within
    each metric's margin. Exit 0 PASS, 1 FAIL (or INCONCLUSIVE under
    on_inconclusive: fail), 2 bad input, 3 internal error.
    """
    payload = evaluate_run_gate(run_dir, baseline=baseline, suite=suite_path)
    if output_format == "json":
        emit_json({k: v for k, v in payload.items() if k != "checks"})
    else:
        echo_verdict(payload)
    sys.exit(int(payload["exit_code"]))
