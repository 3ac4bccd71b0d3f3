"""Helpers shared by evalkit's tests (a uniquely named module: several test folders
have their own conftest.py, so `from conftest import ...` would be ambiguous)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent

TARGETS = textwrap.dedent('''
    """Targets used by evalkit's own tests (written into each temp project)."""
    import asyncio, os, time

    class Transient(ConnectionError):
        pass

    class RateLimited(Exception):
        status_code = 429

    class BadRequest(Exception):
        status_code = 400

    async def echo(case, ctx):
        return {"answer": case.expected.get("answer"), "seed": ctx.seed, "trial": ctx.trial}

    async def noisy(case, ctx):
        wrong = ctx.rng.random() < float(ctx.params.get("error_rate", 0.3))
        return {"answer": "wrong" if wrong else case.expected.get("answer")}

    def sync_echo(case, ctx):
        import threading
        return {"answer": case.expected.get("answer"), "thread": threading.current_thread().name}

    async def boom(case, ctx):
        raise ValueError(f"bad input in {case.id}")

    async def slow(case, ctx):
        await asyncio.sleep(float(ctx.params.get("sleep", 5)))
        return {"answer": None}

    FLAKY = {}
    async def flaky(case, ctx):
        key = (case.id, ctx.trial)
        FLAKY[key] = FLAKY.get(key, 0) + 1
        if FLAKY[key] < int(ctx.params.get("fail_times", 1)) + 1:
            raise RateLimited("429 Too Many Requests")
        return {"answer": case.expected.get("answer"), "attempt": FLAKY[key]}

    async def always_transient(case, ctx):
        raise Transient("connection reset")

    CALLS = {"bad": 0}
    async def bad_request(case, ctx):
        CALLS["bad"] += 1
        raise BadRequest("400 invalid parameter")

    async def not_json(case, ctx):
        return {"when": object()}

    async def with_tools(case, ctx):
        for i in range(3):
            with ctx.tracer.tool("search", arguments={"q": case.id, "i": i}) as span:
                if i == 2 and ctx.params.get("fail_last"):
                    span.set_error("Unavailable", "down")
                else:
                    span.set_result({"hits": i})
        with ctx.tracer.llm("fake-model") as span:
            span.record_usage(input_tokens=10, output_tokens=5, cost_usd=0.001)
        return {"answer": case.expected.get("answer")}

    async def logged(case, ctx):
        """Appends one line per invocation to params.log, sleeps, answers."""
        with open(ctx.params["log"], "a") as fh:
            fh.write(f"{case.id}:{ctx.trial}\\n")
            fh.flush()
        await asyncio.sleep(float(ctx.params.get("sleep", 0.0)))
        return {"answer": case.expected.get("answer")}
''')


def write_dataset(
    root: Path,
    name: str = "mini",
    n: int = 6,
    *,
    version: str = "1.0.0",
    tags: tuple[str, ...] = ("happy", "edge"),
    extra_cases: list[dict[str, Any]] | None = None,
    clusters: int | None = 2,
) -> Path:
    folder = root / "datasets" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(
        yaml.safe_dump(
            {
                "name": name,
                "version": version,
                "description": "test data",
                "tags": list(tags),
                "case_schema": {"input": {"type": "object", "required": ["q"]}},
            }
        )
    )
    cases = [
        {
            "id": f"c{i}",
            "input": {"q": f"question {i}"},
            "expected": {"answer": f"a{i}"},
            "tags": ["happy" if i % 3 else "edge"],
            "cluster": f"g{i % clusters}" if clusters else None,
        }
        for i in range(n)
    ]
    cases += extra_cases or []
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return folder
