"""Harness overhead per trial, evalkit vs Inspect AI, measured in the same process.

    pip install -e '.[bench]'        # Inspect AI comes with the bench extra only
    python benchmarks/bench_inspect.py [--trials 1000 10000] [--repeats 3]

Both frameworks run the same work end to end through their public Python API, from a
warm process (one warm-up run each), with nothing subtracted:

- evalkit: ``run_suite`` over 1,000 cases x K trials, a zero-latency async target, the
  ``equals`` scorer, concurrency 64, journal + Parquet tables + manifest written.
- Inspect AI: ``eval()`` of a Task over a ``MemoryDataset`` of 1,000 samples x K epochs,
  ``mockllm/model`` whose scripted outputs carry token usage, the ``exact()`` scorer,
  ``max_samples`` 64, ``display="none"``, ``log_realtime=False``, log written to a temp
  ``log_dir`` (samples included, the default).

Prints wall and CPU milliseconds per trial for each and the Inspect/evalkit ratio.
CPU is this process's user+system time (plus waited-for children), which is what a
trial costs when the machine is shared; wall time is what a user waits for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import make_project, table, write_suite

N_CASES = 1000
CONCURRENCY = 64


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(fn: Callable[[], Any], repeats: int) -> tuple[float, float, list[float]]:
    """Median wall and CPU seconds of fn over repeats (plus the wall times)."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), _cpu()
        fn()
        cpus.append(_cpu() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), walls


class EvalkitBench:
    """``run_suite`` over a 1,000-case dataset, K trials each, run folder written."""

    def __init__(self) -> None:
        from evalkit.suite import load_suite

        self.root = make_project(N_CASES)
        os.chdir(self.root)  # the default reports/ folder and git lookup stay in the temp dir
        sys.path.insert(0, str(self.root / "suites"))
        self._load = load_suite
        self._runs = 0

    def run(self, n_trials: int) -> None:
        from evalkit.runner import run_suite

        k = max(1, n_trials // N_CASES)
        suite = self._load(write_suite(self.root, f"zero{n_trials}", trials=k,
                                       concurrency=CONCURRENCY, seed=1))
        out = self.root / "reports" / f"run{self._runs}"
        self._runs += 1
        result = run_suite(suite, out_dir=out)
        assert result.manifest["rows"]["trials"] == N_CASES * k, result.manifest["rows"]
        assert (out / "trials.parquet").is_file()
        shutil.rmtree(out)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class InspectBench:
    """Inspect AI ``eval()`` with ``mockllm/model`` over 1,000 samples x K epochs."""

    def __init__(self, max_samples: int | None) -> None:
        import inspect_ai

        self.version = inspect_ai.__version__
        self.max_samples = max_samples
        self.log_root = Path(tempfile.mkdtemp(prefix="inspect-bench-"))
        self._runs = 0

    def run(self, n_trials: int) -> None:
        from inspect_ai import Task, eval
        from inspect_ai.dataset import MemoryDataset, Sample
        from inspect_ai.model import ModelOutput, ModelUsage, get_model
        from inspect_ai.scorer import exact
        from inspect_ai.solver import generate

        k = max(1, n_trials // N_CASES)
        samples = [Sample(id=f"case-{i:06d}", input=f"question {i}", target=str(i))
                   for i in range(N_CASES)]

        def scripted(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
            # The answer is the sample number, so exact() passes every trial.
            answer = messages[-1].text.rsplit(" ", 1)[-1]
            out = ModelOutput.from_content(model="mockllm/model", content=answer)
            out.usage = ModelUsage(input_tokens=12, output_tokens=1, total_tokens=13)
            return out

        model = get_model("mockllm/model", custom_outputs=scripted, memoize=False)
        task = Task(dataset=MemoryDataset(samples), solver=generate(), scorer=exact(),
                    epochs=k)
        log_dir = self.log_root / f"run{self._runs}"
        self._runs += 1
        logs = eval(task, model=model, display="none", log_realtime=False,
                    log_dir=str(log_dir), max_samples=self.max_samples)
        log = logs[0]
        assert log.status == "success", log.error
        assert log.results is not None
        assert len(log.samples or []) == N_CASES * k
        assert log.results.scores[0].metrics["mean"].value == 1.0  # every trial passed
        assert any(log_dir.iterdir())
        shutil.rmtree(log_dir)

    def close(self) -> None:
        shutil.rmtree(self.log_root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1_000, 10_000],
                        help="trials per run (multiples of 1,000: 1,000 cases x K)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size")
    parser.add_argument("--inspect-repeats", type=int, default=None,
                        help="timed Inspect runs per size (default: --repeats)")
    parser.add_argument("--inspect-max-samples", type=int, default=CONCURRENCY,
                        help="Inspect max_samples (0: Inspect's adaptive default)")
    parser.add_argument("--skip-inspect", action="store_true")
    args = parser.parse_args()

    load0 = os.getloadavg()[0]
    cwd = os.getcwd()
    ek = EvalkitBench()
    ins = None
    if not args.skip_inspect:
        try:
            ins = InspectBench(args.inspect_max_samples or None)
        except ImportError:
            print("inspect_ai is not installed: pip install -e '.[bench]'", file=sys.stderr)
    try:
        ek.run(N_CASES)  # warm-up: imports, first Parquet write
        if ins is not None:
            ins.run(N_CASES)
        rows = []
        for n in args.trials:
            e_wall, e_cpu, e_runs = measure(lambda n=n: ek.run(n), args.repeats)
            row: list[Any] = [n, f"{e_wall / n * 1e3:.4f}", f"{e_cpu / n * 1e3:.4f}"]
            if ins is not None:
                i_wall, i_cpu, i_runs = measure(lambda n=n: ins.run(n),
                                                args.inspect_repeats or args.repeats)
                row += [f"{i_wall / n * 1e3:.3f}", f"{i_cpu / n * 1e3:.3f}",
                        f"{i_wall / e_wall:.0f}x", f"{i_cpu / e_cpu:.0f}x"]
                runs = (", ".join(f"{t:.2f}" for t in e_runs) + " / "
                        + ", ".join(f"{t:.1f}" for t in i_runs))
            else:
                row += ["-", "-", "-", "-"]
                runs = ", ".join(f"{t:.2f}" for t in e_runs)
            rows.append((*row, runs))
    finally:
        os.chdir(cwd)
        ek.close()
        if ins is not None:
            ins.close()
    load1 = os.getloadavg()[0]
    print(table(rows, ("trials", "evalkit wall ms/trial", "evalkit CPU ms/trial",
                       "Inspect wall ms/trial", "Inspect CPU ms/trial", "ratio (wall)",
                       "ratio (CPU)", "runs wall s (evalkit / Inspect)")))
    print()
    version = ins.version if ins is not None else "not run"
    print(f"evalkit: 1,000 cases x K trials, concurrency {CONCURRENCY}; Inspect AI {version}: "
          f"1,000 samples x K epochs, max_samples {args.inspect_max_samples or 'default'}; "
          f"median of {args.repeats} runs after one warm-up each; "
          f"load average {load0:.2f} before, {load1:.2f} after, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
