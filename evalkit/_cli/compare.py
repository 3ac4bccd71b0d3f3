"""``evalkit compare``: baseline vs candidate, paired by case, Δ with CI, p and flips.

Two forms:

- ``evalkit compare RUN_A RUN_B`` compares two stored runs (A is the baseline). Runs on
  different dataset content are refused unless ``--intersect``; the output always says that
  a stored baseline can be confounded by model/provider drift.
- ``evalkit compare SUITE --baseline k=v --candidate k=v`` runs both arms in one job on the
  same cases and seeds, interleaved per case, then compares them (the recommended form).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from evalkit._cli._common import emit_json, format_option, handle_errors
from evalkit._cli.gate import (
    STORED_BASELINE_NOTE,
    check_same_dataset,
    deltas_payload,
    metrics_payload,
    single_arm,
    stored_frames,
)
from evalkit._cli.run import (
    case_list,
    estimate_command,
    estimate_options,
    load_suite_from_options,
    suite_options,
)
from evalkit.errors import InputError

if TYPE_CHECKING:
    from evalkit.stats import Comparison, MissingPolicy

REGRESSION_ALPHA = 0.01
"""One-sided level at which the table flags a metric as a significant regression."""


def _sequential_payload(comparison: Comparison, looks: int, margin: float) -> dict[str, Any]:
    """Replay the paired cases as a group-sequential test with ``looks`` planned looks."""
    from evalkit.stats import SequentialPlan, sequential_decision

    base = {c.case_id: c.rate for c in comparison.baseline.cases}
    cand = {c.case_id: c.rate for c in comparison.candidate.cases}
    ids = sorted(set(base) & set(cand))
    diffs = [cand[i] - base[i] for i in ids if not (math.isnan(base[i]) or math.isnan(cand[i]))]
    plan = SequentialPlan.create(looks, len(diffs), margin)
    result = sequential_decision(plan, [diffs[: plan.cases_at(j + 1)] for j in range(looks)])
    return {"plan": {"looks": looks, "max_cases": len(diffs), "margin": margin,
                     "fail_boundaries": list(plan.fail_boundaries),
                     "pass_boundaries": list(plan.pass_boundaries)},
            **result.to_dict()}


def _payload(comparison: Comparison, notes: list[str]) -> dict[str, Any]:
    deltas = deltas_payload(comparison)
    for name, d in comparison.deltas.items():
        deltas[name]["regression"] = bool(d.p_value_regression <= REGRESSION_ALPHA)
    tags = {t: {"estimate": v.delta.estimate, "p_value": v.delta.p_value, "q_value": v.q_value,
                "flagged": v.flagged, "n_paired": v.delta.n_paired}
            for t, v in comparison.by_tag.items()}
    return {
        "baseline": comparison.baseline_arm,
        "candidate": comparison.candidate_arm,
        "n_paired": comparison.n_paired,
        "metrics": metrics_payload(comparison.candidate),
        "baseline_metrics": metrics_payload(comparison.baseline),
        "deltas": deltas,
        "by_tag": tags,
        "regressed_cases": [{"case_id": c, "baseline": a, "candidate": b}
                            for c, a, b in comparison.regressed_cases],
        "improved_cases": [{"case_id": c, "baseline": a, "candidate": b}
                           for c, a, b in comparison.improved_cases],
        "only_in_baseline": list(comparison.only_in_baseline),
        "only_in_candidate": list(comparison.only_in_candidate),
        "notes": [*notes, *comparison.notes],
    }


def _policy(value: str) -> MissingPolicy:
    if value == "exclude":
        return "exclude"
    if value == "fail":
        return "fail"
    raise InputError(f"missing must be 'fail' or 'exclude', got {value!r}")


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:+.3f}" if isinstance(x, float) else str(x)


def _echo(payload: dict[str, Any]) -> None:
    from evalkit._cli._render import echo_table

    click.secho(f"{payload['candidate']} vs {payload['baseline']}: {payload['n_paired']} paired "
                "cases, Δ = candidate − baseline (95% CI)", bold=True)
    rows = []
    for name, d in payload["deltas"].items():
        base, cand = d.get("baseline"), d.get("candidate")
        flag = "REGRESSION" if d["regression"] else ""
        rows.append((
            name,
            "n/a" if base is None else f"{base:.3f}",
            "n/a" if cand is None else f"{cand:.3f}",
            f"{_fmt(d['estimate'])} [{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}]",
            "n/a" if d["p_value"] is None else f"{d['p_value']:.3g}",
            flag,
        ))
    echo_table(rows, ("metric", "baseline", "candidate", "Δ [95% CI]", "p", ""))
    click.echo(f"(REGRESSION: one-sided p ≤ {REGRESSION_ALPHA} in the unfavourable direction, "
               "unadjusted; the gate applies margins and Holm)")
    for label, key in (("regressed", "regressed_cases"), ("improved", "improved_cases")):
        cases = payload[key]
        if cases:
            shown = ", ".join(f"{c['case_id']} ({c['baseline']:.2f}→{c['candidate']:.2f})"
                              for c in cases[:15])
            more = f" … {len(cases) - 15} more" if len(cases) > 15 else ""
            click.echo(f"{label} cases ({len(cases)}): {shown}{more}")
    flagged = [t for t, v in payload["by_tag"].items() if v["flagged"]]
    if flagged:
        click.echo("tags with a significant change (Benjamini–Hochberg, FDR 5%): "
                   + ", ".join(f"{t} ({payload['by_tag'][t]['estimate']:+.3f})" for t in flagged))
    seq = payload.get("sequential")
    if seq:
        for look in seq["looks"]:
            click.echo(f"look {look['look']}: {look['n_cases']} cases, Δ={look['estimate']:+.3f}, "
                       f"z_fail={look['z_fail']:.2f} (stop < −{look['fail_boundary']:.2f}), "
                       f"z_pass={look['z_pass']:.2f} (stop > {look['pass_boundary']:.2f}) → "
                       f"{look['decision']}")
    for note in payload["notes"]:
        click.echo(f"note: {note}")


def _parse_params(items: tuple[str, ...], option: str) -> dict[str, Any]:
    from evalkit.suite import parse_override

    out: dict[str, Any] = {}
    for item in items:
        try:
            key, value = parse_override(item)
        except Exception as exc:
            raise InputError(f"{option}: {exc}") from None
        out[key] = value
    return out


def _arms(baseline: tuple[str, ...], candidate: tuple[str, ...]) -> list[Any]:
    from evalkit.runner import Arm

    return [Arm("baseline", _parse_params(baseline, "--baseline")),
            Arm("candidate", _parse_params(candidate, "--candidate"))]


def _in_job(suite_path: str, baseline: tuple[str, ...], candidate: tuple[str, ...],
            opts: dict[str, Any], progress: bool) -> tuple[Path, str]:
    from evalkit.runner import run_suite

    loaded = load_suite_from_options(suite_path, opts)
    arms = _arms(baseline, candidate)
    result = run_suite(loaded, arms=arms, case_ids=case_list(opts.get("cases")),
                       tags=list(opts.get("tags") or ()) or None, progress=progress)
    return Path(result.run_dir), str(loaded.gate_spec().missing)


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="RUN_A RUN_B | SUITE")
@click.option("--baseline", "baseline_params", multiple=True, metavar="KEY=VALUE",
              help="With SUITE: a param of the baseline arm (repeatable).")
@click.option("--candidate", "candidate_params", multiple=True, metavar="KEY=VALUE",
              help="With SUITE: a param of the candidate arm (repeatable).")
@click.option("--intersect", is_flag=True,
              help="Stored runs on different datasets: compare the cases both have.")
@click.option("--missing", type=click.Choice(["fail", "exclude"]), default=None,
              help="How error/timeout trials count (default: the suite's gate, else fail).")
@click.option("--sequential", "looks", type=click.IntRange(2, 5), default=None,
              help="Also replay the paired cases as a group-sequential test with this many "
                   "looks (O'Brien–Fleming).")
@click.option("--margin", type=float, default=0.05, show_default=True,
              help="Non-inferiority margin on completion for --sequential.")
@click.option("--gate/--no-gate", "apply_gate", default=True, show_default=True,
              help="Apply the suite's gate to the comparison and exit 1 on FAIL.")
@suite_options
@estimate_options
@format_option
@handle_errors
def compare(targets: tuple[str, ...], baseline_params: tuple[str, ...],
            candidate_params: tuple[str, ...], intersect: bool, missing: str | None,
            looks: int | None, margin: float, apply_gate: bool, estimate: bool,
            estimate_from: str | None, output_format: str, **opts: Any) -> None:
    """Compare a baseline and a candidate, paired by case id.

    RUN_A RUN_B: two stored run folders (A is the baseline). SUITE --baseline k=v
    --candidate k=v: run both arms in one job on the same cases and seeds, then compare.
    Prints Δ = candidate − baseline with its CI and p-value per metric, the case-level
    flips, and per-tag changes (Benjamini–Hochberg). With --gate (the default) the
    suite's gate decides: exit 0 PASS, 1 FAIL (or INCONCLUSIVE under the fail policy).
    """
    from evalkit.results import open_run
    from evalkit.stats import compare_frames, compare_runs

    notes: list[str] = []
    progress = opts.pop("progress")
    if len(targets) == 1 and Path(targets[0]).is_file():
        if not baseline_params and not candidate_params:
            raise click.UsageError("with a SUITE, give --baseline and/or --candidate KEY=VALUE")
        if estimate or estimate_from:
            estimate_command(load_suite_from_options(targets[0], opts), opts, estimate_from,
                             output_format, arms=_arms(baseline_params, candidate_params))
            return
        run_dir, suite_missing = _in_job(targets[0], baseline_params, candidate_params, opts,
                                         progress if progress is not None
                                         else output_format == "text")
        run = open_run(run_dir)
        seed = int(run.manifest.get("seed", 0) or 0)
        policy = _policy(missing or suite_missing)
        comparison = compare_runs(*run.stats_frames(), missing=policy, seed=seed)
        notes.append(f"both arms ran in one job, interleaved per case: {run_dir}")
        gate_args: tuple[Path, str | None] = (run_dir, None)
    elif estimate or estimate_from:
        raise click.UsageError("--estimate plans a run: give a SUITE, not run folders")
    elif len(targets) == 2:
        if baseline_params or candidate_params:
            raise click.UsageError("--baseline/--candidate KEY=VALUE need a SUITE, not two runs")
        base, cand = open_run(targets[0]), open_run(targets[1])
        notes += check_same_dataset(base, cand, intersect=intersect)
        single_arm(base)
        single_arm(cand)
        policy = _policy(missing or str(((cand.manifest.get("suite") or {}).get("gate") or {})
                                        .get("missing", "fail")))
        comparison = compare_frames(*stored_frames(base, cand),
                                    missing=policy, seed=int(cand.manifest.get("seed", 0) or 0))
        notes.append(STORED_BASELINE_NOTE)
        gate_args = (Path(targets[1]), targets[0])
    else:
        raise click.UsageError("give two run folders (RUN_A RUN_B) or one SUITE file")
    payload = _payload(comparison, notes)
    if looks is not None:
        payload["sequential"] = _sequential_payload(comparison, looks, margin)
    verdict: dict[str, Any] | None = None
    if apply_gate:
        from evalkit._cli.gate import echo_verdict, load_gate_spec
        from evalkit.gate import evaluate_gate

        spec = load_gate_spec(open_run(gate_args[0]), None)
        verdict = evaluate_gate(spec, comparison.candidate, comparison).to_dict()
        payload.update({k: v for k, v in verdict.items()
                        if k not in ("metrics", "deltas") and k not in payload})
        payload["run_dir"] = str(gate_args[0])
    if output_format == "json":
        emit_json(payload)
    else:
        _echo(payload)
        if verdict is not None:
            echo_verdict(verdict)
    if verdict is not None:
        sys.exit(int(verdict.get("exit_code", 0)))
