"""``evalkit run``: run a suite and print rates with confidence intervals."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click

from evalkit._cli._common import ExitCode, emit_json, format_option, handle_errors
from evalkit._options import click_options
from evalkit.errors import ConfigError


def suite_options(fn: Any) -> Any:
    """Options shared by ``run`` and ``compare SUITE``.

    Trials, seed, params and models come from :mod:`evalkit._options`, the single
    definition the pytest plugin uses too (``--evalkit-trials`` …).
    """
    fn = click_options("trials", "seed", "param", "model", "judge_model")(fn)
    extra = [
        click.option("--cases", help="Only these case ids (comma-separated)."),
        click.option("--tag", "tags", multiple=True, help="Only cases with this tag (repeatable)."),
        click.option("--concurrency", type=click.IntRange(min=1), help="Trials in flight."),
        click.option("--timeout", "timeout_s", type=float, help="Per-trial timeout (s)."),
        click.option("--otlp-endpoint", help="Also export spans to this OTLP/HTTP collector."),
        click.option(
            "--progress/--no-progress",
            default=None,
            help="Progress on stderr (default: on unless --format json).",
        ),
    ]
    for option in reversed(extra):
        fn = option(fn)
    return fn


def estimate_options(fn: Any) -> Any:
    """``--estimate`` and ``--estimate-from`` (``run`` and ``compare SUITE``)."""
    fn = click.option(
        "--estimate-from",
        "estimate_from",
        type=click.Path(exists=True, file_okay=False),
        help="The run folder --estimate projects from.",
    )(fn)
    return click.option(
        "--estimate",
        is_flag=True,
        help="Run nothing: print the planned trials and their cost, tokens and time, "
        "projected from the newest complete run of this suite.",
    )(fn)


def load_suite_from_options(suite_path: str, opts: dict[str, Any]) -> Any:
    """Load a suite applying the shared command-line overrides."""
    from evalkit.suite import load_suite, parse_override

    overrides = {
        "trials": opts.get("trials"),
        "seed": opts.get("seed"),
        "model": opts.get("model"),
        "judge_model": opts.get("judge_model"),
        "concurrency": opts.get("concurrency"),
        "timeout_s": opts.get("timeout_s"),
    }
    params = [parse_override(p) for p in opts.get("param") or ()]
    return load_suite(suite_path, overrides=overrides, params=params)


def case_list(text: str | None) -> list[str] | None:
    """``a,b,c`` → ``["a", "b", "c"]``."""
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def summarize(run_dir: Path, *, missing: str = "fail") -> dict[str, Any]:
    """Per-arm summaries of a stored run (``RunSummary.to_dict()`` by arm)."""
    from evalkit.results import open_run
    from evalkit.stats import summarize_run

    run = open_run(run_dir)
    seed = int(run.manifest.get("seed", 0))
    trials, scores = run.stats_frames()  # only the columns the statistics read
    out = {}
    for arm in run.arms:
        summary = summarize_run(
            trials,
            scores,
            arm=arm,
            missing=missing,  # type: ignore[arg-type]
            seed=seed,
        )
        out[arm] = summary.to_dict()
    return out


@click.command()
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@suite_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Run folder (default reports/<suite>/<run-id>).",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False),
    help="Resume an interrupted run folder: only missing trials run.",
)
@click_options("gate", "baseline", "report")
@click.option(
    "--reports/--no-reports",
    "reports",
    default=True,
    show_default=True,
    help="Write report.html / summary.md / junit.xml into the run folder.",
)
@estimate_options
@format_option
@handle_errors
def run(
    suite: str | None,
    out_dir: str | None,
    resume: str | None,
    gate: bool,
    baseline: str | None,
    report: str | None,
    reports: bool,
    estimate: bool,
    estimate_from: str | None,
    output_format: str,
    **opts: Any,
) -> None:
    """Run SUITE (a suites/*.yaml file): every case K times, scored and summarised.

    Prints completion and per-scorer pass rates with 95% intervals that respect
    repeated trials, and writes the run folder (manifest.json, trials/scores/
    spans.parquet). Ctrl-C leaves a run you can finish with --resume.
    """
    from evalkit.runner import run_suite

    if suite is None and resume is None:
        raise click.UsageError("give a SUITE file, or --resume RUN_DIR")
    if suite is not None and resume is not None:
        raise click.UsageError("give either SUITE or --resume, not both")
    progress = opts.pop("progress")
    if progress is None:
        progress = output_format == "text"
    loaded = load_suite_from_options(suite, opts) if suite else None
    if estimate or estimate_from:
        if loaded is None:
            raise click.UsageError("--estimate needs a SUITE file")
        estimate_command(loaded, opts, estimate_from, output_format)
        return
    try:
        result = run_suite(
            loaded,
            out_dir=out_dir,
            resume=resume,
            case_ids=case_list(opts.get("cases")),
            tags=list(opts.get("tags") or ()) or None,
            progress=progress,
            otlp_endpoint=opts.get("otlp_endpoint"),
            argv=sys.argv,
        )
    except KeyboardInterrupt as exc:
        click.echo(f"\n{exc}" if str(exc) else "\ninterrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    manifest = result.manifest
    missing = str((manifest.get("suite", {}).get("gate") or {}).get("missing", "fail"))
    summaries = summarize(result.run_dir, missing=missing)
    verdict: dict[str, Any] | None = None
    if gate:
        from evalkit._cli.gate import evaluate_run_gate

        verdict = evaluate_run_gate(result.run_dir, baseline=baseline)
    if reports or report:
        _write_reports(result.run_dir, baseline, report)
    payload: dict[str, Any] = {
        "run_dir": str(result.run_dir),
        "run_id": result.run_id,
        "suite": manifest.get("suite_name"),
        "dataset": manifest.get("dataset"),
        "counts": manifest.get("counts"),
        "duration_s": manifest.get("duration_s"),
        "metrics": _headline(summaries),
        "arms": summaries,
    }
    if verdict is not None:
        payload.update({k: v for k, v in verdict.items() if k not in {"metrics"}})
    if output_format == "json":
        emit_json(payload)
    else:
        _echo_text(result.run_dir, manifest, summaries, verdict)
    if verdict is not None:
        sys.exit(int(verdict.get("exit_code", 0)))


def estimate_command(suite: Any, opts: dict[str, Any], basis: str | None, output_format: str,
                     arms: Any = None) -> None:
    """Print (or emit as JSON) the plan and projection of a run of *suite*; run nothing."""
    from evalkit.runner._estimate import estimate_run

    est = estimate_run(suite, arms=arms, case_ids=case_list(opts.get("cases")),
                       tags=list(opts.get("tags") or ()) or None, basis=basis)
    if output_format == "json":
        emit_json(est.to_dict())
        return
    click.echo(f"{est.suite}: {est.n_cases} cases x {est.trials_per_case} trials"
               f"{f' x {len(est.arms)} arms' if len(est.arms) > 1 else ''} = "
               f"{est.n_trials} trials planned, concurrency {est.concurrency} (nothing run)")
    if est.basis:
        click.echo(f"projected from {est.basis} (mean per trial, cases weighted equally; "
                   "95% interval over cases):")
        for p in est.projections.values():
            if p.column == "latency_s" or not math.isfinite(p.total):
                continue
            interval = (f"  [{_fmt(p.low)}, {_fmt(p.high)}]" if math.isfinite(p.low)
                        else "")
            click.echo(f"  {p.label:<15} {_fmt(p.total)}{interval}  "
                       f"({_fmt(p.per_trial)} per trial)")
        if est.wall_s is not None:
            click.echo(f"  wall time       about {est.wall_s:.0f} s at concurrency "
                       f"{est.concurrency} (at least; rate limits and retries add to it)")
    for note in est.notes:
        click.echo(f"  note  {note}")


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def _headline(summaries: dict[str, Any]) -> dict[str, Any]:
    keep = ("estimate", "ci_low", "ci_high", "n_cases", "n_trials")
    first: dict[str, Any] = summaries.get("main") or next(iter(summaries.values()), {})
    return {name: {k: m.get(k) for k in keep} for name, m in first.get("metrics", {}).items()}


def _write_reports(run_dir: Path, baseline: str | None, html: str | None) -> None:
    try:
        from evalkit.report import write_reports
    except ImportError:  # reports are an optional layer over the run folder
        return
    if html:
        write_reports(run_dir, baseline=baseline, html=Path(html))
    else:
        write_reports(run_dir, baseline=baseline)


def _echo_text(
    run_dir: Path,
    manifest: dict[str, Any],
    summaries: dict[str, Any],
    verdict: dict[str, Any] | None,
) -> None:
    from evalkit._cli._render import echo_summary

    ds = manifest.get("dataset", {})
    click.echo(
        f"suite {manifest.get('suite_name')}  dataset {ds.get('name')}@{ds.get('version')} "
        f"({ds.get('hash', '')[:19]})  model {manifest.get('model')}  "
        f"{manifest.get('duration_s', 0):.1f}s"
    )
    for arm, summary in summaries.items():
        echo_summary(summary, title=None if arm == "main" else f"arm {arm}")
    click.echo(f"run folder: {run_dir}")
    if verdict is not None:
        from evalkit._cli.gate import echo_verdict

        echo_verdict(verdict)


if __name__ == "__main__":  # pragma: no cover
    raise ConfigError("use 'evalkit run'")
