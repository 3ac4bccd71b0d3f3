"""A toy agent that answers "capital of X?" with a lookup tool and seeded noise.

It is deliberately imperfect: ``error_rate`` of its answers are wrong (decided by
the trial's seed, so a re-run reproduces them), and ``tool_failure_rate`` of its
lookups fail and are retried once. That makes it a good subject for repeated
trials, intervals and paired comparisons without any model installed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from evalkit.dataset import Case
from evalkit.runner import TrialContext

CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Portugal": "Lisbon",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Australia": "Canberra",
    "Egypt": "Cairo",
    "Norway": "Oslo",
}
_DECOYS = {"Australia": "Sydney", "Canada": "Toronto", "Germany": "Bonn", "Spain": "Barcelona"}


class LookupError_(Exception):
    """A (simulated) non-transient lookup failure."""


async def capital_agent(case: Case, ctx: TrialContext) -> dict[str, Any]:
    """Answer ``case.input["country"]``; params: ``error_rate``, ``tool_failure_rate``."""
    country = str(case.input["country"])
    error_rate = float(ctx.params.get("error_rate", 0.1))
    tool_failure_rate = float(ctx.params.get("tool_failure_rate", 0.0))
    delay = float(ctx.params.get("delay_s", 0.0))
    rng = ctx.rng
    answer = None
    for _attempt in range(2):
        with ctx.tracer.tool("lookup_capital", arguments={"country": country}) as span:
            if delay:
                await asyncio.sleep(delay)
            if rng.random() < tool_failure_rate:
                span.set_error("LookupUnavailable", "lookup service unavailable")
                continue
            answer = CAPITALS.get(country)
            span.set_result({"capital": answer})
            break
    hard = country in _DECOYS
    if answer is not None and rng.random() < error_rate * (3.0 if hard else 1.0):
        answer = _DECOYS.get(country, "Paris" if country != "France" else "Lyon")
    ctx.record_version("prompt.capital", str(ctx.params.get("prompt_version", "v1")))
    return {"answer": answer or "I don't know", "country": country}


def capital_agent_sync(case: Case, ctx: TrialContext) -> dict[str, Any]:
    """Synchronous flavour (runs in a worker thread)."""
    return asyncio.run(capital_agent(case, ctx))
