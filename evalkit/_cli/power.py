"""``evalkit power``: how many cases (and trials) a comparison needs, from a pilot run."""

from __future__ import annotations

from typing import Any

import click
import numpy as np

from evalkit._cli._common import emit_json, format_option, handle_errors
from evalkit.errors import InputError


def power_payload(run_dir: str, *, mde: float, alpha: float, power: float, metric: str,
                  correlation: float, ks: tuple[int, ...]) -> dict[str, Any]:
    """Variance components from the run, cases needed per K, and the run's own MDE."""
    from evalkit.results import open_run
    from evalkit.stats import (
        components_from_paired,
        components_from_single_run,
        minimum_detectable_effect,
        sample_size_table,
        unpaired_sample_size,
    )
    from evalkit.stats._trials import prepare_arm

    column = {"completion_rate": "completion"}.get(metric)
    if column is None and metric.startswith(("pass_rate:", "score:")):
        kind, _, name = metric.partition(":")
        column = f"{'pass' if kind == 'pass_rate' else 'score'}:{name}"
    if column is None:
        raise InputError(f"--metric must be completion_rate, pass_rate:<m> or score:<m>, "
                         f"got {metric!r}")
    run = open_run(run_dir)
    trials, scores = run.stats_frames()
    arms = sorted(set(trials["arm"].astype(str))) if "arm" in trials else ["main"]
    paired = {"baseline", "candidate"} <= set(arms)
    names = ["baseline", "candidate"] if paired else arms[:1]
    prepared = [prepare_arm(trials, scores, a) for a in names]
    for arm in prepared:
        if column not in arm.table:
            raise InputError(f"the run has no metric {metric!r}")
    if paired:
        a, b = (arm.per_case(column) for arm in prepared)
        # both sorted by case id: positions of the common cases by one intersect, not a
        # list search per case (10,000 cases made that 50,000,000 comparisons)
        _, ia, ib = np.intersect1d(a.case_ids.astype(str), b.case_ids.astype(str),
                                   return_indices=True)
        comps = components_from_paired(b.mean[ib] - a.mean[ia], a.n[ia], a.var_within[ia],
                                       b.n[ib], b.var_within[ib])
        n_cases, k = int(ia.size), float(a.n[ia].mean())
        rate = float(a.mean[ia].mean())
    else:
        cv = prepared[0].per_case(column)
        comps = components_from_single_run(cv.mean, cv.n, cv.var_within, correlation=correlation)
        n_cases, k = int(cv.mean.size), float(cv.n.mean())
        rate = float(cv.mean.mean())
    table = sample_size_table(mde, comps, ks, alpha=alpha, power=power)
    unpaired = unpaired_sample_size(mde, rate, alpha=alpha, power=power) if 0 < rate < 1 else None
    return {
        "run": str(run.path),
        "metric": metric,
        "mde": mde,
        "alpha": alpha,
        "power": power,
        "rate": rate,
        "components": comps.to_dict(),
        "cases_needed": {str(kk): n for kk, n in table.items()},
        "unpaired_cases_needed_k1": unpaired,
        "current": {
            "n_cases": n_cases,
            "trials_per_case": k,
            "mde": minimum_detectable_effect(n_cases, comps, k, alpha=alpha, power=power),
        },
    }


@click.command()
@click.option("--from", "run_dir", required=True, type=click.Path(file_okay=False),
              help="A pilot run folder (a two-arm run measures the arm correlation).")
@click.option("--mde", type=float, required=True, help="Effect to detect, e.g. 0.05 (5 points).")
@click.option("--alpha", type=float, default=0.01, show_default=True,
              help="One-sided significance level (the gate's alpha_fail).")
@click.option("--power", "power_", type=float, default=0.8, show_default=True)
@click.option("--metric", default="completion_rate", show_default=True,
              help="completion_rate, pass_rate:<metric> or score:<metric>.")
@click.option("--correlation", type=float, default=0.8, show_default=True,
              help="Single run only: assumed correlation of per-case rates between arms.")
@click.option("-K", "--trials", "ks", type=click.IntRange(min=1), multiple=True,
              help="Trials per case to tabulate (repeatable; default 1 3 5 10).")
@format_option
@handle_errors
def power(run_dir: str, mde: float, alpha: float, power_: float, metric: str,
          correlation: float, ks: tuple[int, ...], output_format: str) -> None:
    """Cases needed to detect a paired difference of --mde, per trials-per-case K.

    n = (z_{1−α} + z_{1−β})² · (ω² + (σ²_A + σ²_B)/K) / δ², with the variance components
    estimated from the pilot run (STATISTICS.md §6). Also prints the MDE of the run itself.
    """
    payload = power_payload(run_dir, mde=mde, alpha=alpha, power=power_, metric=metric,
                            correlation=correlation, ks=ks or (1, 3, 5, 10))
    if output_format == "json":
        emit_json(payload)
        return
    c = payload["components"]
    click.echo(f"{payload['metric']} ≈ {payload['rate']:.3f} in {payload['run']}")
    click.echo(f"variance components: ω²={c['omega2']:.4f}, σ²_A={c['sigma2_a']:.4f}, "
               f"σ²_B={c['sigma2_b']:.4f} ({c['basis']})")
    click.echo(f"cases needed to detect Δ={mde:g} (one-sided α={alpha:g}, power "
               f"{power_:.0%}), paired:")
    for k, n in payload["cases_needed"].items():
        click.echo(f"  K={k:>3}: {n} cases ({n * int(k)} trials per arm)")
    if payload["unpaired_cases_needed_k1"] is not None:
        click.echo(f"  unpaired, K=1: {payload['unpaired_cases_needed_k1']} cases per arm")
    cur = payload["current"]
    click.echo(f"this run ({cur['n_cases']} cases, K={cur['trials_per_case']:g}) detects "
               f"Δ ≥ {cur['mde']:.3f} with {power_:.0%} power")
