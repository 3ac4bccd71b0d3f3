"""``evalkit report``: write the HTML report, Markdown summary and JUnit XML of a run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from evalkit._cli._common import emit_json, format_option, handle_errors


def _clean(x: Any) -> Any:
    return x if not isinstance(x, float) or math.isfinite(x) else None


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--baseline", type=click.Path(exists=True, file_okay=False),
              help="Stored single-arm run to compare RUN with, paired by case id.")
@click.option("-o", "--output", "html", type=click.Path(dir_okay=False),
              help="HTML report path (default RUN/report.html).")
@click.option("--markdown", type=click.Path(dir_okay=False),
              help="Markdown summary path (default RUN/summary.md).")
@click.option("--junit", type=click.Path(dir_okay=False),
              help="JUnit XML path (default RUN/junit.xml).")
@click.option("--report-url", metavar="URL",
              help="Where the HTML report will be published; the Markdown links to it "
                   "(default: the placeholder {{REPORT_URL}}).")
@format_option
@handle_errors
def report(run_dir: str, baseline: str | None, html: str | None, markdown: str | None,
           junit: str | None, report_url: str | None, output_format: str) -> None:
    """Write the reports of RUN: one self-contained HTML file, a Markdown summary and JUnit XML.

    A run with baseline and candidate arms (from 'evalkit compare') is compared within
    itself; a single-arm run is compared with --baseline when given (a stored baseline
    can be confounded by model drift: the reports say so). Exits 0 whatever the verdict:
    use 'evalkit gate' to fail a job.
    """
    from evalkit.report import load_report, write_reports

    data = load_report(run_dir, baseline=baseline)
    paths = write_reports(data, html=Path(html) if html else None,
                          markdown=Path(markdown) if markdown else None,
                          junit=Path(junit) if junit else None, report_url=report_url)
    if output_format == "json":
        keep = ("estimate", "ci_low", "ci_high", "n_cases", "n_trials")
        payload: dict[str, Any] = {
            "verdict": data.verdict,
            "run_dir": str(data.run.path),
            "baseline": str(data.baseline_run.path) if data.baseline_run else None,
            "comparison": data.mode,
            "files": {k: str(v) for k, v in paths.items()},
            "metrics": {name: {k: v for k, v in m.to_dict().items() if k in keep}
                        for name, m in data.summary.metrics.items()},
            "mde": {name: _clean(m.mde) for name, m in data.mde.items()},
            "regressed_cases": len(data.regressed),
            "failing_cases": len(data.failing),
            "notes": list(data.notes),
        }
        if data.comparison is not None:
            payload["deltas"] = {
                name: {k: v for k, v in d.to_dict().items()
                       if k in ("estimate", "ci_low", "ci_high", "p_value")}
                for name, d in data.comparison.deltas.items()}
        emit_json(payload)
        return
    verdict = data.verdict or "no gate"
    click.echo(f"{verdict}: {len(data.cases):,} cases, {len(data.regressed):,} regressed, "
               f"{len(data.failing):,} failing")
    for note in data.notes:
        click.echo(f"note: {note}")
    for kind, path in paths.items():
        click.echo(f"{kind:<9} {path}")
