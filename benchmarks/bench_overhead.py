"""Harness overhead per trial: zero-latency target, ``equals`` scorer, results stored.

    python benchmarks/bench_overhead.py [--trials 100000] [--repeats 3]

Prints total and per-trial time for ``run_suite`` end to end (plan, run, score,
journal, Parquet + manifest), and the latency-bound efficiency of 10,000 trials of a
50 ms target at concurrency 256 against the ideal 10,000 x 0.05 / 256 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import make_project, median_wall_cpu, table, write_suite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    from evalkit.runner import run_suite
    from evalkit.suite import load_suite

    root = make_project(1000)
    os.chdir(root)
    sys.path.insert(0, str(root / "suites"))
    rows = []
    for n in args.trials:
        k = max(1, n // 1000)
        suite = load_suite(write_suite(root, f"zero{n}", trials=k, concurrency=64, seed=1))
        counter = iter(range(10**6))

        def once(suite=suite, counter=counter) -> None:
            out = root / "reports" / f"run{next(counter)}"
            run_suite(suite, out_dir=out)
            shutil.rmtree(out)

        once()  # warm-up (imports, first Parquet write)
        med, cpu, times = median_wall_cpu(once, args.repeats)
        rows.append(("zero-latency + equals + storage", n, f"{med:.3f}",
                     f"{med / n * 1e3:.4f}", f"{cpu / n * 1e3:.4f}",
                     ", ".join(f"{t:.3f}" for t in times)))
    print(table(rows, ("benchmark", "trials", "median wall s", "wall ms/trial",
                       "CPU ms/trial", "runs (wall s)")))

    if not args.skip_latency:
        suite = load_suite(write_suite(root, "sleep", target="bench_targets:sleeper",
                                       trials=10, concurrency=256, seed=1))
        ideal = 10_000 * 0.05 / 256
        counter2 = iter(range(10**6))

        def slow() -> None:
            out = root / "reports" / f"slow{next(counter2)}"
            run_suite(suite, out_dir=out)
            shutil.rmtree(out)

        slow()  # warm-up: the first run pays imports and the first Parquet write
        med, cpu, times = median_wall_cpu(slow, args.repeats)
        print()
        print(table([("50 ms target, concurrency 256", 10_000, f"{ideal:.3f}", f"{med:.3f}",
                      f"{med / ideal:.3f}", f"{ideal / med:.3f}", f"{cpu / 10_000 * 1e6:.0f}",
                      ", ".join(f"{t:.3f}" for t in times))],
                    ("benchmark", "trials", "ideal s", "median s", "ratio to ideal",
                     "efficiency", "CPU us/trial", "runs (wall s)")))
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
