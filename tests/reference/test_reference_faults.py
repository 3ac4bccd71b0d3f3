"""Fault injection is seeded, validated, and moves the measured tool-error rate as configured."""

from __future__ import annotations

import asyncio
import random

import pytest

from evalkit.errors import ConfigError
from evalkit.reference.budgets import BudgetLimits, RunBudget
from evalkit.reference.corpus import default_corpus
from evalkit.reference.faults import Fault, FaultConfig, FaultInjector, drift
from evalkit.reference.resilience import BreakerConfig
from evalkit.reference.tools import ToolExecutor
from evalkit.runner._retry import RetryPolicy
from evalkit.trace import TrialTracer, count_tool_calls


def measured_error_rate(faults: dict, calls: int = 600) -> float:
    async def no_sleep(_s: float) -> None:
        return None

    tracer = TrialTracer()
    ex = ToolExecutor(
        corpus=default_corpus(), tracer=tracer,
        faults=FaultInjector(FaultConfig.parse(faults), seed=2024),
        budget=RunBudget(BudgetLimits(max_tokens=None, max_steps=None)),
        retry=RetryPolicy(1, 0.0, 0.0, 1.0),
        breaker_config=BreakerConfig(failure_threshold=10**9),
        rng=random.Random(0), sleep=no_sleep,
    )

    async def go() -> None:
        for i in range(calls):
            await ex.read_doc(["assert", "pass", "lambda"][i % 3])

    asyncio.run(go())
    n, errors = count_tool_calls(tracer.close())
    assert n == calls
    return errors / n


def test_no_faults_means_no_tool_errors():
    assert measured_error_rate({}, calls=60) == 0.0


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_measured_tool_error_rate_follows_the_configured_rate(rate):
    faults = {"timeout_s": 0.002, "tools": {"read_doc": {
        "rate_limit": rate / 3, "server_error": rate / 3, "malformed": rate / 3}}}
    measured = measured_error_rate(faults)
    # 600 Bernoulli draws: 4 standard errors is about ±0.075 at p = 0.3.
    assert abs(measured - rate) < 4 * (rate * (1 - rate) / 600) ** 0.5


def test_slow_faults_are_not_errors():
    assert measured_error_rate({"slow_s": 0.0, "tools": {"read_doc": {"slow": 1.0}}},
                               calls=30) == 0.0


def test_draws_are_reproducible_per_seed_and_tool():
    cfg = FaultConfig.parse({"tools": {"*": {"server_error": 0.5}}})
    a = FaultInjector(cfg, seed=1)
    b = FaultInjector(cfg, seed=1)
    c = FaultInjector(cfg, seed=2)
    seq_a = [a.draw("search_docs") for _ in range(50)]
    assert seq_a == [b.draw("search_docs") for _ in range(50)]
    assert seq_a != [c.draw("search_docs") for _ in range(50)]
    assert set(seq_a) == {Fault.SERVER_ERROR, None}
    assert a.injected["search_docs"]["server_error"] == seq_a.count(Fault.SERVER_ERROR)


def test_wildcard_applies_to_unnamed_tools_only():
    cfg = FaultConfig.parse({"tools": {"*": {"timeout": 1.0}, "read_doc": {}}})
    assert cfg.rates("search_docs").timeout == 1.0
    assert cfg.rates("read_doc").total == 0.0


@pytest.mark.parametrize(("raw", "key"), [
    ({"tools": {"read_doc": {"server_error": 0.7, "timeout": 0.5}}}, "faults.tools.read_doc"),
    ({"tools": {"read_doc": {"explode": 0.1}}}, "faults.tools.read_doc.explode"),
    ({"timeout_s": 0}, "faults.timeout_s"),
])
def test_bad_fault_config_names_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        FaultConfig.parse(raw)
    assert info.value.key == key


def test_drift_always_breaks_the_schema():
    from pydantic import ValidationError

    from evalkit.reference.contracts import ReadDocOutput, SearchDocsOutput

    search = {"schema_version": "search_docs/1", "query": "q",
              "hits": [{"doc_id": "assert", "title": "t", "score": 1.5, "snippet": "s"}]}
    read = {"schema_version": "read_doc/1", "doc_id": "assert", "title": "t", "text": "x"}
    for seed in range(40):
        rng = random.Random(seed)
        with pytest.raises(ValidationError):
            SearchDocsOutput.model_validate(drift(search, rng))
        with pytest.raises(ValidationError):
            ReadDocOutput.model_validate(drift(read, rng))
