"""The Markdown summary: content, escaping, and GitHub's 65,536-character limit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from report_synthetic import SyntheticSpec, write_run

from evalkit.report import REPORT_URL_PLACEHOLDER, load_report, render_markdown
from evalkit.report._markdown import GITHUB_COMMENT_LIMIT, md


def test_summary_has_verdict_table_regressions_mde_and_link(compare_run: Path) -> None:
    text = render_markdown(compare_run)
    data = load_report(compare_run)
    assert data.verdict is not None
    assert text.startswith("## ")
    assert data.verdict in text.splitlines()[0]
    assert "| metric | baseline | candidate | Δ | 95% interval | p |" in text
    assert "| task completion |" in text
    assert "**MDE** task completion" in text
    assert "### Regressed cases" in text
    for row in data.regressed:
        assert f"| {row.case_id} |" in text
    assert f"[Full HTML report]({REPORT_URL_PLACEHOLDER})" in text
    url = "https://ci.example/artifacts/42 (report).html"
    linked = render_markdown(data, report_url=url)
    assert "(https://ci.example/artifacts/42%20%28report%29.html)" in linked
    assert REPORT_URL_PLACEHOLDER not in linked


def test_untrusted_text_is_inert() -> None:
    assert md('<img src=x onerror="alert(1)">') == '&lt;img src=x onerror="alert\\(1\\)"&gt;'
    assert md("a | b") == "a \\| b"
    assert md("ping @octocat") == "ping &#64;octocat"
    assert md("line\nbreak") == "line break"
    assert md("x" * 500, 10) == "x" * 9 + "…"


def test_xss_case_is_escaped_in_the_summary(compare_run: Path) -> None:
    text = render_markdown(compare_run)
    assert "<img" not in text
    assert "<script" not in text


def test_stays_under_the_github_limit_on_a_large_regressed_run(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_cases=10_000, trials=2, latency=False, regress_tag="edge",
                         regress_by=0.6, spans_per_trial=1, judge=False, huge_every=0,
                         output_words=(3, 5))
    run = write_run(tmp_path / "run", spec, root=tmp_path)
    data = load_report(run)
    assert len(data.regressed) > 1_000
    text = render_markdown(data)
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "### Regressed cases (20 of" in text
    assert "more regressed cases are listed in the [HTML report]" in text
    # Long, hostile case ids and reasons still fit: lists shrink, then the text is cut.
    rows = tuple(dataclasses.replace(r, case_id="|" * 400 + r.case_id, reason="<b>" * 400)
                 for r in data.cases)
    worst = dataclasses.replace(data, cases=rows, notes=tuple("@team " * 200 for _ in range(50)))
    text = render_markdown(worst, max_chars=100_000)
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "<b>" not in text
    assert "@team" not in text


def test_single_run_summary_has_estimates_and_no_deltas(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run("single")
    text = render_markdown(run)
    assert "single run, no baseline" in text
    assert "| metric | estimate | 95% interval | cases | trials |" in text
    assert "Regressed cases" not in text
