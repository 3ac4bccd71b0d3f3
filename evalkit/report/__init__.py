"""Reports of a run: one self-contained HTML file, a Markdown summary and JUnit XML.

Example::

    from evalkit.report import write_reports

    paths = write_reports("reports/pydocs/20261123T233000-1a2b3c")
    paths["html"]  # reports/pydocs/20261123T233000-1a2b3c/report.html

A run whose arms are ``baseline`` and ``candidate`` is compared within itself; a single-arm
run is compared against ``baseline=`` (a stored run, paired by case id) when given.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.report._data import CaseRow, ProvenanceItem, ReportData, load_report
from evalkit.report._markdown import REPORT_URL_PLACEHOLDER
from evalkit.report._payload import PayloadLimits

__all__ = [
    "REPORT_URL_PLACEHOLDER",
    "CaseRow",
    "PayloadLimits",
    "ProvenanceItem",
    "ReportData",
    "load_report",
    "render_html",
    "render_junit",
    "render_markdown",
    "write_reports",
]

DEFAULT_FILES = {"html": "report.html", "markdown": "summary.md", "junit": "junit.xml"}


def _data(run: ReportData | str | Path, baseline: str | Path | None) -> ReportData:
    if isinstance(run, ReportData):
        return run
    return load_report(run, baseline=baseline)


def render_html(run: ReportData | str | Path, *, baseline: str | Path | None = None,
                limits: PayloadLimits | None = None) -> str:
    """The self-contained HTML report of *run* (a run folder or a loaded ``ReportData``)."""
    from evalkit.report._html import render_html as _render

    return _render(_data(run, baseline), limits=limits)


def render_markdown(run: ReportData | str | Path, *, baseline: str | Path | None = None,
                    report_url: str | None = None, max_chars: int = 60_000) -> str:
    """The Markdown summary for ``$GITHUB_STEP_SUMMARY`` or a PR comment.

    Args:
        run: a run folder, or a ``ReportData`` from :func:`load_report`.
        baseline: a stored baseline run (ignored when *run* is a ``ReportData``).
        report_url: where the HTML report can be opened; without it the link reads
            ``{{REPORT_URL}}`` for the caller to replace.
        max_chars: upper bound on the length (never above 65,535, GitHub's comment limit).

    Example:
        >>> render_markdown("reports/s/run", report_url="https://ci/a/1")  # doctest: +SKIP
    """
    from evalkit.report._markdown import markdown_summary

    return markdown_summary(_data(run, baseline), report_url=report_url, max_chars=max_chars)


def render_junit(run: ReportData | str | Path, *, baseline: str | Path | None = None) -> str:
    """JUnit XML: one testcase per case and one for the gate verdict."""
    from evalkit.report._junit import junit_xml

    return junit_xml(_data(run, baseline))


def write_reports(
    run_dir: str | Path | ReportData,
    *,
    baseline: str | Path | None = None,
    html: Path | None = None,
    markdown: Path | None = None,
    junit: Path | None = None,
    report_url: str | None = None,
) -> dict[str, Path]:
    """Write ``report.html``, ``summary.md`` and ``junit.xml`` (default: in the run folder).

    Args:
        run_dir: the run folder (or a ``ReportData`` already loaded from it).
        baseline: a stored single-arm run to compare a single-arm run with.
        html: where the HTML report goes.
        markdown: where the Markdown summary goes.
        junit: where the JUnit XML goes.
        report_url: link to the HTML report used in the Markdown (default
            ``{{REPORT_URL}}``, to be replaced by the caller, e.g. the GitHub Action).

    Returns:
        ``{"html": path, "markdown": path, "junit": path}``.

    Raises:
        RunFolderError: a run folder is missing or unreadable.
        InputError: a baseline that cannot be used with this run.
    """
    from evalkit.report._html import render_html as _html
    from evalkit.report._junit import junit_xml
    from evalkit.report._markdown import markdown_summary
    from evalkit.results import atomic_write_text

    data = _data(run_dir, baseline)
    run_dir = data.run.path
    targets = {
        "html": Path(html) if html else run_dir / DEFAULT_FILES["html"],
        "markdown": Path(markdown) if markdown else run_dir / DEFAULT_FILES["markdown"],
        "junit": Path(junit) if junit else run_dir / DEFAULT_FILES["junit"],
    }
    atomic_write_text(targets["html"], _html(data))
    atomic_write_text(targets["markdown"], markdown_summary(data, report_url=report_url))
    atomic_write_text(targets["junit"], junit_xml(data))
    return targets
