"""Run every benchmark, each in its own subprocess, and assemble their tables.

    python benchmarks/run_all.py                      # everything, full sizes (long)
    python benchmarks/run_all.py --quick              # small sizes: a smoke test
    python benchmarks/run_all.py --only stats memory  # a subset
    python benchmarks/run_all.py --out benchmarks/results-$(date +%F).md

Each benchmark runs in a fresh interpreter (no shared imports, caches or heap), one
after the other, so they never compete for the 2 cores. The output is Markdown: per
benchmark its exact command, load average before it started, wall time, and its own
tables, then a summary table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    """One benchmark: a script, its arguments at full and quick size."""

    name: str
    script: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    what: str
    last_table_only: bool = False


BENCHES = (
    Bench("overhead", "bench_overhead.py", ("--skip-latency",),
          ("--trials", "1000", "--repeats", "1", "--skip-latency"),
          "harness overhead per trial (zero-latency target, equals, storage)"),
    Bench("latency", "bench_overhead.py", ("--trials", "1000"),
          ("--trials", "1000", "--repeats", "1"),
          "10,000 trials of a 50 ms target at concurrency 256 vs ideal", last_table_only=True),
    Bench("inspect", "bench_inspect.py", (), ("--trials", "1000", "--repeats", "1"),
          "overhead per trial, evalkit vs Inspect AI in the same run"),
    Bench("stats", "bench_stats.py", (), ("--cases", "1000", "--repeats", "1"),
          "summary + compare + 2,000-resample cluster bootstraps, 10,000 x 10 x 2"),
    Bench("memory", "bench_memory.py", (), ("--cases", "1000", "--trials", "10"),
          "peak RSS: 1,000,000 trials run + stored, then loaded + summarised"),
    Bench("report", "bench_report.py", (), ("--cases", "1000", "--repeats", "1"),
          "HTML report for 10,000 cases x 5 trials"),
    Bench("model", "bench_model.py", (), ("--repeats", "1", "--threads", "1"),
          "embedded model tokens/s and chat latency"),
)


def _last_table(text: str) -> str:
    blocks = [b for b in text.strip().split("\n\n") if b.lstrip().startswith("|")]
    return blocks[-1] if blocks else text


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_one(bench: Bench, quick: bool, timeout: float) -> tuple[str, int | str, float, float]:
    """Run one benchmark; returns (markdown section, exit code, wall s, load before)."""
    script = HERE / bench.script
    argv = [sys.executable, str(script), *(bench.quick if quick else bench.args)]
    shown = " ".join(["python", f"benchmarks/{bench.script}", *argv[2:]])
    load = os.getloadavg()[0]
    if not script.is_file():
        return (f"## {bench.name}\n\n`{shown}`: not run, {bench.script} does not exist yet.\n",
                "missing", 0.0, load)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=HERE.parent)
        code: int | str = proc.returncode
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = f"timeout {timeout:.0f}s"
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = ""
    wall = time.perf_counter() - t0
    body = _last_table(out) if bench.last_table_only and code == 0 else out.strip()
    lines = [f"## {bench.name}: {bench.what}", "",
             f"Command: `{shown}` (exit {code}, {wall:.0f} s, load average before "
             f"{load:.2f})", "", body or "(no output)"]
    if code != 0 and err.strip():
        lines += ["", "```", err.strip()[-3000:], "```"]
    return "\n".join(lines) + "\n", code, wall, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHES]
    parser.add_argument("--only", nargs="+", choices=names, help="run only these")
    parser.add_argument("--skip", nargs="+", choices=names, default=[], help="skip these")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--timeout", type=float, default=3 * 3600,
                        help="seconds per benchmark before it is stopped")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args()

    selected = [b for b in BENCHES
                if (not args.only or b.name in args.only) and b.name not in args.skip]
    header = (f"# evalkit benchmarks, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\n\n"
              f"CPU: {_cpu_model()} x {os.cpu_count()}; Python {platform.python_version()}; "
              f"{'quick sizes' if args.quick else 'full sizes'}\n")
    print(header, flush=True)
    sections, summary = [header], []
    for bench in selected:
        section, code, wall, load = run_one(bench, args.quick, args.timeout)
        print(section, flush=True)
        sections.append(section)
        summary.append((bench.name, code, f"{wall:.0f}", f"{load:.2f}"))
    lines = ["## summary", "", "| benchmark | exit | wall s | load before |", "|---|---|---|---|"]
    lines += [f"| {n} | {c} | {w} | {ld} |" for n, c, w, ld in summary]
    tail = "\n".join(lines) + "\n"
    print(tail)
    sections.append(tail)
    if args.out:
        args.out.write_text("\n".join(sections))
    if any(code not in (0, "missing") for _, code, _, _ in summary):
        sys.exit(1)


if __name__ == "__main__":
    main()
