"""Plain-text rendering of summaries shared by ``run``, ``gate`` and ``compare``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import click


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metric_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(name, estimate [ci], cases, trials) rows for a metrics mapping."""
    rows = []
    for name, m in metrics.items():
        est, lo, hi = m.get("estimate"), m.get("ci_low"), m.get("ci_high")
        unit_digits = 4 if "cost" in name else 3
        if est is None:
            text = "undefined" + (f" ({m['note']})" if m.get("note") else "")
        elif lo is None or hi is None:
            text = _num(est, unit_digits)
        else:
            text = f"{_num(est, unit_digits)}  [{_num(lo, unit_digits)}, {_num(hi, unit_digits)}]"
        excl = m.get("n_excluded") or 0
        rows.append(
            (
                name,
                text,
                str(m.get("n_cases", "")),
                f"{m.get('n_trials', '')}" + (f" (-{excl} excl.)" if excl else ""),
            )
        )
    return rows


def echo_table(rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    """Print a left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line)
    click.echo("  ".join("-" * w for w in widths))
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def echo_summary(summary: Mapping[str, Any], *, title: str | None = None) -> None:
    """Print a run summary (``RunSummary.to_dict()``): metrics with 95% intervals and counts."""
    if title:
        click.secho(title, bold=True)
    conf = summary.get("confidence", 0.95)
    click.echo(
        f"{summary.get('n_cases')} cases x {summary.get('trials_per_case')} trials "
        f"= {summary.get('n_trials')} trials; intervals at {conf:.0%} "
        "(per-case reduction, Wilson on effective n)"
    )
    echo_table(
        metric_rows(summary.get("metrics", {})),
        ("metric", f"estimate  [{conf:.0%} CI]", "cases", "trials"),
    )
    counts = summary.get("counts") or {}
    parts = []
    for group, values in counts.items():
        if isinstance(values, Mapping) and values:
            parts.append(f"{group}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    if parts:
        click.echo("counts  " + "; ".join(parts))
    for note in summary.get("notes") or ():
        click.echo(f"note    {note}")
