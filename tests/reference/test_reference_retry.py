"""Tool calls retry transient errors only (429, 5xx, timeouts), never 4xx or contract errors."""

from __future__ import annotations

import asyncio
import random

import pytest

from evalkit.reference.budgets import RunBudget
from evalkit.reference.contracts import ReadDocOutput, SearchDocsOutput, ToolUnavailable
from evalkit.reference.corpus import default_corpus
from evalkit.reference.faults import FaultConfig, FaultInjector
from evalkit.reference.resilience import BreakerConfig
from evalkit.reference.tools import ToolExecutor, ToolHTTPError
from evalkit.runner._retry import RetryPolicy, classify
from evalkit.trace import TrialTracer, count_tool_calls


def executor(faults: dict | None = None, *, attempts: int = 3, threshold: int = 100):
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    tracer = TrialTracer()
    ex = ToolExecutor(
        corpus=default_corpus(), tracer=tracer,
        faults=FaultInjector(FaultConfig.parse(faults or {}), seed=7),
        budget=RunBudget(), retry=RetryPolicy(attempts, 0.01, 0.05, 10.0),
        breaker_config=BreakerConfig(failure_threshold=threshold, cooldown_s=60),
        rng=random.Random(1), sleep=fake_sleep,
    )
    return ex, tracer, sleeps


def tool_spans(tracer: TrialTracer) -> list[dict]:
    return [r for r in tracer.close() if r["operation"] == "execute_tool"]


def test_classification_of_tool_errors():
    assert classify(ToolHTTPError(429, retry_after=0.5)).transient
    assert classify(ToolHTTPError(429, retry_after=0.5)).retry_after == 0.5
    assert classify(ToolHTTPError(503)).transient
    assert classify(TimeoutError()).transient
    assert not classify(ToolHTTPError(400)).transient
    assert not classify(ToolHTTPError(404)).transient


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "timeout"])
def test_transient_faults_are_retried_until_attempts_run_out(fault):
    ex, tracer, sleeps = executor(
        {"tools": {"search_docs": {fault: 1.0}}, "timeout_s": 0.01}, attempts=3)
    out = asyncio.run(ex.search_docs("assert statement"))
    assert isinstance(out, ToolUnavailable)
    assert out.reason == "retries_exhausted"
    spans = tool_spans(tracer)
    assert len(spans) == 3
    assert all(s["status"] == "ERROR" for s in spans)
    assert len(sleeps) == 2                      # backoff between the three attempts
    if fault == "rate_limit":
        assert sleeps == [0.01, 0.01]            # Retry-After from the 429 is honoured


def test_a_transient_failure_then_success_returns_the_result():
    ex, tracer, _ = executor({"tools": {"search_docs": {"server_error": 0.5}}}, attempts=6)
    out = asyncio.run(ex.search_docs("assert statement"))
    assert isinstance(out, SearchDocsOutput)
    assert out.hits[0].doc_id == "assert"
    calls, errors = count_tool_calls(tracer.close())
    assert calls == errors + 1


def test_a_client_error_is_not_retried():
    ex, tracer, sleeps = executor(attempts=5)
    out = asyncio.run(ex.read_doc("no-such-topic"))
    assert isinstance(out, ToolUnavailable)
    assert out.reason == "error"
    assert out.error_type == "ToolHTTPError"
    spans = tool_spans(tracer)
    assert len(spans) == 1
    assert spans[0]["status"] == "ERROR"
    assert sleeps == []


def test_a_schema_violation_is_a_contract_error_and_not_retried():
    ex, tracer, sleeps = executor({"tools": {"read_doc": {"malformed": 1.0}}}, attempts=5)
    out = asyncio.run(ex.read_doc("assert"))
    assert isinstance(out, ToolUnavailable)
    assert out.reason == "contract_violation"
    spans = tool_spans(tracer)
    assert len(spans) == 1
    assert spans[0]["error_type"] == "ContractError"
    assert sleeps == []


def test_slow_responses_succeed_and_take_longer():
    ex, tracer, _ = executor({"tools": {"read_doc": {"slow": 1.0}}, "slow_s": 0.05})
    out = asyncio.run(ex.read_doc("assert"))
    assert isinstance(out, ReadDocOutput)
    (span,) = tool_spans(tracer)
    assert span["status"] != "ERROR"
    assert span["duration_s"] >= 0.04


def test_open_breaker_short_circuits_without_calling_the_tool():
    ex, tracer, _ = executor({"tools": {"search_docs": {"server_error": 1.0}}},
                             attempts=2, threshold=2)
    first = asyncio.run(ex.search_docs("assert"))
    second = asyncio.run(ex.search_docs("assert"))
    assert isinstance(first, ToolUnavailable)
    assert first.reason == "retries_exhausted"
    assert isinstance(second, ToolUnavailable)
    assert second.reason == "circuit_open"
    assert second.retry_after_s
    assert second.retry_after_s > 0
    rows = tracer.close()
    assert len([r for r in rows if r["operation"] == "execute_tool"]) == 2
    assert any(r["name"] == "short_circuit search_docs" for r in rows)
    assert any(r["name"] == "circuit_breaker search_docs" for r in rows)
