"""The HTML report in real headless Chromium, opened from file://."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_synthetic import ARTIFACTS, IMG_PAYLOAD, SCRIPT_PAYLOAD, SyntheticSpec, write_run

from evalkit.report import render_html, write_reports

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _ids(page: Any) -> list[str]:
    return _texts(page, "tr.case-row td:nth-child(2)")


def _texts(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")


@pytest.fixture
def report_page(compare_run: Path, open_report: Callable[[Path], Any]) -> Any:
    paths = write_reports(compare_run)
    return open_report(paths["html"])


def test_opens_offline_without_console_errors(report_page: Any) -> None:
    page = report_page
    assert page.errors == []
    assert page.inner_text(".verdict") in {"FAIL", "INCONCLUSIVE"}
    banner = page.inner_text("header.banner")
    assert "task completion" in banner
    assert "Minimum detectable effect" in banner
    assert page.locator("#forest-plot .row").count() >= 3
    assert page.locator("#provenance").inner_text().count("sha256:") >= 2
    assert page.inner_text("#case-count") == "showing 10 of 10 cases"


def test_regressions_come_first_and_sorting_changes_the_order(report_page: Any) -> None:
    page = report_page
    first = _ids(page)
    flips = _texts(page, "tr.case-row td:nth-child(5)")
    n_regressed = flips.count("regressed")
    assert n_regressed >= 2
    assert flips[:n_regressed] == ["regressed"] * n_regressed  # regressions first
    page.click("th[data-key=id]")
    by_id = _ids(page)
    assert by_id == sorted(first)
    assert by_id != first
    page.click("th[data-key=id]")
    assert _ids(page) == sorted(first, reverse=True)
    assert "sorted-desc" in (page.get_attribute("th[data-key=id]", "class") or "")


def test_filters_change_the_visible_rows(report_page: Any) -> None:
    page = report_page
    tag = page.eval_on_selector_all("#f-tag option",
                                    "els => els.map(e => [e.value, e.textContent])")
    edge = next(v for v, label in tag if label == "edge")
    page.select_option("#f-tag", edge)
    rows = _texts(page, "tr.case-row td:nth-child(3)")
    assert rows
    assert all("edge" in r for r in rows)
    assert len(rows) < 10
    page.select_option("#f-tag", "")
    page.select_option("#f-status", "pass")
    statuses = _texts(page, "tr.case-row td:nth-child(4)")
    assert statuses
    assert set(statuses) == {"pass"}
    page.select_option("#f-status", "")
    page.select_option("#f-flip", "regressed")
    flips = _texts(page, "tr.case-row td:nth-child(5)")
    assert flips
    assert set(flips) == {"regressed"}
    assert page.inner_text("#case-count") == f"showing {len(flips)} of 10 cases"
    page.fill("#f-search", "no-such-case")
    assert page.locator("tr.case-row").count() == 0
    assert "no case matches" in page.inner_text("#case-body")


def test_drilldown_shows_trials_scores_and_trace(report_page: Any) -> None:
    page = report_page
    page.select_option("#f-flip", "regressed")
    page.click("tr.case-row")
    panel = page.locator("#detail")
    panel.wait_for(state="visible")
    text = panel.inner_text()
    assert "candidate — " in text
    assert "baseline — " in text
    assert "question" in text  # the case input, from the dataset
    assert '"answer": "wrong"' in text  # a candidate trial's output
    assert "output.answer" in text  # a score reason
    assert "execute_tool search" in text
    assert "chat fake-model" in text
    assert panel.locator(".span-row.err").count() >= 1  # tool error highlighted
    assert panel.locator(".badge.retry").count() >= 1  # retry highlighted
    assert "120 → 40 tok" in text
    # Collapsed trials fill in when opened.
    trial = panel.locator("details.trial:not([open])").first.get_attribute("data-trial")
    closed = panel.locator(f'details.trial[data-trial="{trial}"]')
    assert closed.locator(".trial-output").count() == 0
    closed.locator("summary").click()
    closed.locator(".trial-body").wait_for()  # filled in by the toggle event
    assert closed.locator(".trial-output").count() == 1
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    assert page.errors == []


def test_payloads_in_outputs_and_inputs_are_text(report_page: Any) -> None:
    page = report_page
    page.fill("#f-search", "xss")
    page.click("tr.case-row")
    page.locator("#detail").wait_for(state="visible")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    text = page.inner_text("#detail")
    assert SCRIPT_PAYLOAD in text  # the case input, shown as text
    assert "window.__xss=1" in text  # the output, shown as text
    assert page.locator("#detail img").count() == 0
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2  # the data block and ours, nothing injected
    assert page.errors == []


def test_screenshot(report_page: Any) -> None:
    page = report_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.select_option("#f-flip", "regressed")
    page.click("tr.case-row")
    page.locator("#detail").wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / "report-detail.png"))
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_large_report_renders_only_visible_rows(tmp_path: Path,
                                                open_report: Callable[[Path], Any]) -> None:
    spec = SyntheticSpec(n_cases=3_000, trials=2, arms=("baseline", "candidate"),
                         latency=False, huge_every=101)
    run = write_run(tmp_path / "run", spec, root=tmp_path)
    out = tmp_path / "big.html"
    out.write_text(render_html(run))
    page = open_report(out)
    assert page.errors == []
    assert page.inner_text("#case-count") == "showing 3,000 of 3,000 cases"
    assert page.locator("tr.case-row").count() < 120  # virtualised
    page.eval_on_selector("#case-scroll", "e => { e.scrollTop = e.scrollHeight; }")
    page.wait_for_timeout(200)
    last = _ids(page)[-1]
    ranks = _texts(page, "tr.case-row td:first-child")
    assert ranks[-1] == "3000"
    assert last
    # A huge output is cut, with a visible marker.
    page.fill("#f-search", "case-00000")
    page.click("tr.case-row")
    page.locator("#detail").wait_for(state="visible")
    page.eval_on_selector_all("#detail details.trial",
                              "els => els.forEach(e => { e.open = true; })")
    page.wait_for_function("document.querySelectorAll('#detail .trial-body').length == "
                           "document.querySelectorAll('#detail details.trial').length")
    assert re.search(r"output cut at [\d,]+ of 60,\d{3} characters", page.inner_text("#detail"))
    assert page.errors == []


def test_payload_cannot_close_the_script_element(compare_run: Path) -> None:
    html = render_html(compare_run)
    block = html.split('<script type="application/json" id="evalkit-data">', 1)[1]
    data = block.split("</script>", 1)[0]
    assert "<" not in data
    assert ">" not in data
    assert IMG_PAYLOAD not in html
    assert SCRIPT_PAYLOAD not in html
    assert "window.__xss" in data  # still there, as inert escaped JSON text
    assert re.search(r"(src|href)=[\"']?https?:", html) is None  # nothing loaded from a network
    assert "Content-Security-Policy" in html
    assert "script-src 'nonce-" in html
