"""Report generation time and HTML size on synthetic runs (issue 6 targets: ≤ 5 s, ≤ 15 MB).

    python benchmarks/bench_report.py [--cases 1000 10000] [--trials 5] [--repeats 3]
                                      [--mode arms|single] [--profile]

``arms``: one run with ``baseline`` and ``candidate`` arms (a compare run: 2 × cases × K
trials, every one of them embedded); ``single``: one arm, no baseline. Synthetic tables
have realistic outputs (30-220 words, some 60,000-character ones), an exact-match and a
judge scorer with reasoning, three spans per trial (tool errors, retries) and a regression
on the ``long-context`` tag. Prints the median of ``--repeats`` runs of each phase:

- load + stats: reading the Parquet tables, ``summarize_run`` / ``compare_runs`` and the
  gate (evalkit.stats, evalkit.gate: not report code);
- render: the HTML, Markdown and JUnit from the loaded data (the report's own work);
- total: what ``write_reports`` / ``evalkit report`` costs end to end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "report"))

from report_synthetic import SyntheticSpec, write_run  # noqa: E402


def _median(fn, repeats):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=["arms", "single"], default="arms")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the render step")
    args = parser.parse_args()

    from evalkit.report import load_report
    from evalkit.report._html import render_html
    from evalkit.report._junit import junit_xml
    from evalkit.report._markdown import markdown_summary

    rows = []
    root = Path(tempfile.mkdtemp(prefix="evalkit-bench-report-"))
    try:
        for n in args.cases:
            arms = ("baseline", "candidate") if args.mode == "arms" else ("main",)
            spec = SyntheticSpec(n_cases=n, trials=args.trials, arms=arms)
            run_dir = write_run(root / f"run{n}", spec, root=root)
            n_trials = n * args.trials * len(arms)

            load_s, data = _median(lambda: load_report(run_dir), args.repeats)  # noqa: B023

            def render(data=data):  # type: ignore[no-untyped-def]
                html = render_html(data)
                md = markdown_summary(data)
                xml = junit_xml(data)
                return html, md, xml

            if args.profile:
                from pyinstrument import Profiler

                with Profiler() as prof:
                    render()
                prof.print(show_all=False)
            render_s, (html, md, xml) = _median(render, args.repeats)
            rows.append((f"{n:,}", f"{n_trials:,}", f"{load_s:.2f}", f"{render_s:.2f}",
                         f"{load_s + render_s:.2f}", f"{len(html.encode()) / 1e6:.2f}",
                         f"{len(md):,}", f"{len(xml.encode()) / 1e6:.2f}",
                         data.verdict or "-"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    head = ("cases", "trials", "load+stats s", "render s", "total s", "HTML MB", "MD chars",
            "JUnit MB", "verdict")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print(f"mode={args.mode} K={args.trials} median of {args.repeats}")
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
