"""Fixtures for the report tests: real runs (compare and single-arm) and a real browser."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from report_synthetic import IMG_PAYLOAD, SCRIPT_PAYLOAD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]

REPORT_TARGETS = textwrap.dedent('''
    """A target with tool calls, an LLM call, retries and a regression switch."""

    IMG = %r
    SCRIPT = %r

    async def agent(case, ctx):
        broken = bool(ctx.params.get("broken"))
        with ctx.tracer.tool("search", arguments={"q": case.id}) as span:
            if broken and ctx.trial %% 2 == 0:
                span.set_error("Unavailable", "search backend down")
            else:
                span.set_result({"hits": 3})
        with ctx.tracer.llm("fake-model") as span:
            if broken:
                span.add_event("retry", attempt=1, error="RateLimited")
            span.record_usage(input_tokens=120, output_tokens=40, cost_usd=0.0002)
        if case.id == "xss":
            return {"answer": IMG, "note": SCRIPT}
        if case.id == "huge":
            return {"answer": case.expected.get("answer"), "text": "lorem ipsum " * 20000}
        wrong = broken and case.id in {"c1", "c2", "c4"}
        return {"answer": "wrong" if wrong else case.expected.get("answer")}
''') % (IMG_PAYLOAD, SCRIPT_PAYLOAD)


def write_dataset(root: Path, n: int, extra_cases: list[dict[str, Any]]) -> Path:
    """datasets/mini: n ordinary cases (tags happy/edge, two clusters) plus *extra_cases*."""
    import yaml

    folder = root / "datasets" / "mini"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(yaml.safe_dump({
        "name": "mini", "version": "1.0.0", "description": "report test data",
        "tags": ["happy", "edge"]}))
    cases = [{"id": f"c{i}", "input": {"q": f"question {i}"}, "expected": {"answer": f"a{i}"},
              "tags": ["happy" if i % 3 else "edge"], "cluster": f"g{i % 2}"} for i in range(n)]
    cases += extra_cases
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return folder


def _project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    extra = [
        {"id": "xss", "input": {"q": SCRIPT_PAYLOAD, "html": IMG_PAYLOAD},
         "expected": {"answer": "safe"}, "tags": ["edge"]},
        {"id": "huge", "input": {"q": "write a lot"}, "expected": {"answer": "ok"},
         "tags": ["happy"]},
    ]
    write_dataset(root, n=8, extra_cases=extra)
    suites = root / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "ek_report_targets.py").write_text(REPORT_TARGETS)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(suites))
    return root


def _suite(root: Path, name: str, **overrides: Any) -> Any:
    import yaml

    from evalkit.suite import load_suite

    spec: dict[str, Any] = {
        "name": name, "dataset": "mini", "target": "ek_report_targets:agent",
        "trials": 3, "seed": 3, "concurrency": 4, "timeout_s": 10,
        "scorers": [{"type": "equals", "actual": "output.answer",
                     "expected": "expected.answer"}],
        "gate": {
            "thresholds": {"completion_rate": {"min": 0.5}},
            "regression": {"completion_rate": {"margin": 0.05}},
            "per_case": {"min_passes": 2, "of": 3},
        },
    }
    spec.update(overrides)
    path = root / "suites" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_suite(path)


@pytest.fixture
def report_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with datasets/mini (8 cases + an XSS case + a huge-output case)."""
    return _project(tmp_path, monkeypatch)


@pytest.fixture
def make_run(report_project: Path) -> Callable[..., Path]:
    """Run the real runner: ``make_run("cmp", arms={"baseline": {}, "candidate": {...}})``."""
    from evalkit.runner import Arm, run_suite

    def make(out: str, *, arms: dict[str, dict[str, Any]] | None = None,
             params: dict[str, Any] | None = None, **suite: Any) -> Path:
        loaded = _suite(report_project, out.replace("-", "_"), params=params or {}, **suite)
        arm_list = [Arm(k, v) for k, v in arms.items()] if arms else None
        # A thread of its own: Playwright's sync API keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(run_suite, loaded, arms=arm_list,
                                 out_dir=report_project / "reports" / out).result()
        return Path(result.run_dir)

    return make


@pytest.fixture
def compare_run(make_run: Callable[..., Path]) -> Path:
    """A compare run (baseline and candidate arms) where the candidate regresses."""
    return make_run("cmp", arms={"baseline": {}, "candidate": {"broken": True}})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never ``playwright install``)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_report(browser: Any) -> Iterator[Callable[[Path], Any]]:
    """Open an HTML file from ``file://``; collects console errors in ``page.errors``."""
    pages: list[Any] = []

    def open_(path: Path) -> Any:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.errors = errors
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("tr.case-row")
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()
