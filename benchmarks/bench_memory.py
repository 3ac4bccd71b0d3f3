"""Peak memory of 1,000,000 trials: run + store, then load + summarise.

    python benchmarks/bench_memory.py [--cases 10000] [--trials 100] [--repeats 3] [--keep DIR]
                                      [--full-tables] [--reuse]

Each phase runs in a fresh Python subprocess so that its peak RSS is its own:

- ``run``: ``run_suite`` over ``--cases`` x ``--trials`` (default 10,000 x 100 =
  1,000,000) zero-latency trials with the ``equals`` scorer, journal and Parquet tables
  written (the storage ``evalkit run`` does);
- ``summarize``: ``open_run`` on that folder, ``run.stats_frames()`` (only the columns the
  statistics read, keys as categoricals), then ``summarize_run`` per arm with the
  manifest's seed (2,000-resample bootstraps): the path ``evalkit run`` takes to print its
  summary (``evalkit._cli.run.summarize``), and the one ``evalkit gate`` / ``compare`` take.
  ``--full-tables`` loads ``run.trials`` / ``run.scores`` (every column) instead, the path
  before ``stats_frames`` existed.

``--reuse`` with ``--keep DIR`` skips the run phase when ``DIR`` already holds the run
folder (to measure the summarise phase alone).

Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (and VmHWM from
/proc/self/status, which agrees); the RSS after imports, before any work, is shown too.
Each phase runs ``--repeats`` times (a fresh subprocess each time); the table shows the
median and the largest peak, since allocator and GC timing move the peak by 10-20 %.
Target: both peaks <= 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import make_project, table, write_suite

GIB = 1024**3


def _rss_now() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _report(extra: dict[str, Any], base_rss: int, t0: float, c0: float) -> None:
    print(json.dumps({
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "vm_hwm": _vm_hwm(),
        "base_rss": base_rss,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        **extra,
    }))


def phase_run(root: Path, cases: int, trials: int, out: Path) -> None:
    """Subprocess body: run the suite, write the run folder."""
    from evalkit.runner import run_suite
    from evalkit.suite import load_suite

    os.chdir(root)
    sys.path.insert(0, str(root / "suites"))
    suite = load_suite(write_suite(root, "memory", trials=trials, concurrency=64, seed=1))
    base = _rss_now()
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_suite(suite, out_dir=out)
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    _report({"rows": result.manifest["rows"], "sizes": sizes}, base, t0, c0)


def phase_summarize(out: Path, full_tables: bool) -> None:
    """Subprocess body: open the run folder and summarise it as ``evalkit run`` does."""
    import pandas  # noqa: F401 - counted in the base RSS, like any evalkit CLI command
    import pyarrow.parquet  # noqa: F401

    from evalkit.results import open_run
    from evalkit.stats import summarize_run

    base = _rss_now()
    t0, c0 = time.perf_counter(), time.process_time()
    # the steps of evalkit._cli.run.summarize, with the RSS read between load and stats
    run = open_run(out)
    seed = int(run.manifest.get("seed", 0))
    trials, scores = (run.trials, run.scores) if full_tables else run.stats_frames()
    loaded = _rss_now()
    summaries = [summarize_run(trials, scores, arm=arm, seed=seed) for arm in run.arms]
    completion = summaries[0].metrics["completion_rate"]
    _report({"n_trials": sum(s.n_trials for s in summaries),
             "completion": completion.estimate, "rss_after_load": loaded}, base, t0, c0)


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {args[1]} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="subprocesses per phase")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the project and run folder here (default: a temp dir)")
    parser.add_argument("--full-tables", action="store_true",
                        help="summarise from run.trials / run.scores (every column) instead "
                             "of run.stats_frames()")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: reuse the run folder there, skip the run phase")
    parser.add_argument("--phase", choices=["run", "summarize"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "run":
        phase_run(args.root, args.cases, args.trials, args.out)
        return
    if args.phase == "summarize":
        phase_summarize(args.out, args.full_tables)
        return

    load0 = os.getloadavg()[0]
    root = args.keep or Path(tempfile.mkdtemp(prefix="evalkit-mem-"))
    out = root / "reports" / "memory-run"
    reuse = args.reuse and args.keep is not None and (out / "trials.parquet").is_file()
    if not reuse:
        make_project(args.cases, root)
    n = args.cases * args.trials
    runs: list[dict[str, Any]] = []
    summs: list[dict[str, Any]] = []
    summarize_args = ["--phase", "summarize", "--out", str(out)]
    if args.full_tables:
        summarize_args.append("--full-tables")
    try:
        for i in range(0 if reuse else args.repeats):
            if i:
                shutil.rmtree(out)
            runs.append(_child(["--phase", "run", "--root", str(root), "--out", str(out),
                                "--cases", str(args.cases), "--trials", str(args.trials)]))
        for _ in range(args.repeats):
            summs.append(_child(summarize_args))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()[0]

    def mib(x: int) -> str:
        return f"{x / 2**20:,.0f}"

    def verdict(x: int) -> str:
        return "met" if x <= GIB else "MISSED"

    def row(name: str, trials: int, results: list[dict[str, Any]]) -> tuple[str, ...]:
        peaks = [r["peak_rss"] for r in results]
        med = int(statistics.median(peaks))
        return (name, f"{trials:,}", mib(int(statistics.median(r["base_rss"] for r in results))),
                f"**{mib(med)}**", mib(max(peaks)), ", ".join(mib(p) for p in peaks),
                mib(max(r["vm_hwm"] for r in results)),
                f"{statistics.median(r['wall_s'] for r in results):.1f}",
                f"{statistics.median(r['cpu_s'] for r in results):.1f}",
                verdict(max(peaks)))

    summ = summs[-1]
    load_path = "run.trials/.scores" if args.full_tables else "run.stats_frames()"
    rows = [row(f"open_run + {load_path} + summarize_run", summ["n_trials"], summs)]
    if runs:
        rows.insert(0, row("run_suite + journal + Parquet", n, runs))
    print(table(rows, ("phase", "trials", "RSS after imports MiB", "median peak RSS MiB",
                       "max peak MiB", "runs MiB", "max VmHWM MiB", "median wall s",
                       "median CPU s", "<= 1 GiB")))
    print()
    folder = sorted((p.name, p.stat().st_size) for p in out.iterdir() if p.is_file()) \
        if reuse else sorted(runs[-1]["sizes"].items())
    sizes = ", ".join(f"{k} {v / 2**20:,.1f} MiB" for k, v in folder)
    print(f"{args.cases:,} cases x {args.trials} trials; run folder: {sizes}; "
          f"RSS after loading the tables {mib(summ['rss_after_load'])} MiB; "
          f"completion {summ['completion']:.3f}")
    print(f"{args.repeats} subprocess(es) per phase; load average {load0:.2f} before, "
          f"{load1:.2f} after, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
