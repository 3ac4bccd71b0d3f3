"""Helpers shared by the benchmarks: a synthetic dataset and suite in a temp folder."""

from __future__ import annotations

import json
import statistics
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

TARGETS = textwrap.dedent("""
    import asyncio

    async def zero(case, ctx):
        return {"answer": case.expected["answer"]}

    async def sleeper(case, ctx):
        await asyncio.sleep(0.05)
        return {"answer": case.expected["answer"]}
""")


def make_project(n_cases: int, root: Path | None = None) -> Path:
    """A folder with datasets/bench (n_cases) and suites/ holding bench_targets.py."""
    root = root or Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    ds = root / "datasets" / "bench"
    ds.mkdir(parents=True, exist_ok=True)
    (ds / "dataset.yaml").write_text("name: bench\nversion: 1.0.0\ntags: [happy]\n")
    with (ds / "cases.jsonl").open("w") as fh:
        for i in range(n_cases):
            fh.write(
                json.dumps(
                    {
                        "id": f"case-{i:06d}",
                        "input": {"q": i},
                        "expected": {"answer": str(i)},
                        "tags": ["happy"],
                    }
                )
                + "\n"
            )
    suites = root / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "bench_targets.py").write_text(TARGETS)
    return root


def write_suite(root: Path, name: str, **spec: Any) -> Path:
    """Write suites/<name>.yaml with the equals scorer."""
    data = {
        "name": name,
        "dataset": "bench",
        "target": "bench_targets:zero",
        "scorers": [{"type": "equals", "actual": "output.answer", "expected": "expected.answer"}],
        **spec,
    }
    path = root / "suites" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of fn over repeats."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def median_wall_cpu(fn: Callable[[], Any], repeats: int) -> tuple[float, float, list[float]]:
    """Median wall and CPU (this process) seconds of fn; CPU is less noisy on a busy box."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), walls


def table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
