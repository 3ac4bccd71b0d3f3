"""Fixtures for the reference pipeline: a scripted model and trial contexts.

The scripted model has the real client's ``chat`` signature and opens a real LLM
span, so control flow (checkpoints, budgets, escalation, contracts) is tested fast
and deterministically. End-to-end tests use the embedded model instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from evalkit.dataset import Case
from evalkit.model import ChatResult
from evalkit.runner._context import TrialContext, _ctx_var, trial_seed
from evalkit.trace import TrialTracer


class ScriptedModel:
    """A model client whose replies are chosen by the output schema's name.

    ``replies`` maps a schema name (``QueryPlan``, ``EvidenceChoice``,
    ``SupportCheck``) to a dict or to a function of the user message returning one.
    """

    name = "scripted"

    def __init__(self, replies: Mapping[str, Any] | None = None, *,
                 tokens: int = 50) -> None:
        self.replies: dict[str, Any] = {
            "QueryPlan": lambda user: {"queries": [user.split(":", 1)[-1].strip()[:40]]},
            "EvidenceChoice": {"chosen": [1], "confidence": "high"},
            "SupportCheck": {"supported": True},
            **(replies or {}),
        }
        self.tokens = tokens
        self.calls: list[dict[str, Any]] = []

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: Any = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int | None = None,
        trial: int | None = None,
        stop: list[str] | None = None,
        span_attributes: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        from evalkit.runner._context import current_trial

        name = schema.__name__ if schema is not None else "text"
        reply = self.replies[name]
        user = messages[-1]["content"]
        data = reply(user) if callable(reply) else reply
        self.calls.append({"schema": name, "messages": messages, "seed": seed,
                           "attributes": dict(span_attributes or {})})
        ctx = current_trial()
        assert ctx is not None, "the scripted model needs a current trial"
        with ctx.tracer.llm("scripted", **dict(span_attributes or {})) as span:
            span.record_usage(input_tokens=self.tokens, output_tokens=10, cost_usd=0.0)
            await asyncio.sleep(0)
        parsed = schema.model_validate(data) if schema is not None else None
        return ChatResult(text=str(data), parsed=parsed, model="scripted",
                          input_tokens=self.tokens, output_tokens=10, latency_s=0.0,
                          cost_usd=0.0, cached=False, finish_reason="stop")


def _make_ctx(
    *,
    params: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
    model: Any = None,
    case_id: str = "case-1",
    trial: int = 0,
    seed: int | None = None,
) -> TrialContext:
    """A trial context with a fresh tracer, made current (as the runner does)."""
    ctx = TrialContext(
        trial=trial,
        seed=trial_seed(0, case_id, trial) if seed is None else seed,
        params=dict(params or {}),
        tracer=TrialTracer(),
        case_id=case_id,
        faults=faults,
        model_factory=(lambda: model) if model is not None else None,
    )
    _ctx_var().set(ctx)
    return ctx


def _run_target(
    target: Callable[..., Any], question: str, ctx: TrialContext, case_id: str = "case-1"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a pipeline target on one question; return its output and span rows."""
    case = Case(id=case_id, input={"question": question})
    out: dict[str, Any] = asyncio.run(target(case, ctx))
    return out, ctx.tracer.close()


@pytest.fixture
def scripted() -> Callable[..., ScriptedModel]:
    """Factory for scripted models."""
    return ScriptedModel


@pytest.fixture
def make_ctx() -> Callable[..., TrialContext]:
    """Factory for current trial contexts."""
    return _make_ctx


@pytest.fixture
def run_target() -> Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Run a target on one question: ``run_target(target, question, ctx)``."""
    return _run_target
