"""Operational checks: latency, cost, tokens, steps and tool errors, each "≤ max".

Figures come from the trial's spans when it has any (``source: auto``), else from its
usage totals; ``source`` forces one or the other. Spans of LLM-judge calls are left out:
they are the scorer's cost, not the agent's. Latency is the trial's wall time.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from evalkit.scorer._base import Score, Scorer, ScorerSpec, TrialView, register_scorer
from evalkit.scorer._toolcalls import agent_spans


class BudgetSpec(ScorerSpec):
    """Options shared by the "≤ max" checks."""

    max: float = Field(ge=0)
    """Largest allowed value (inclusive)."""
    source: Literal["auto", "spans", "usage"] = "auto"
    """Where figures come from: spans when present (auto), spans, or usage totals."""


class _Budget(Scorer):
    spec: BudgetSpec
    unit: ClassVar[str] = ""
    what: ClassVar[str] = ""

    @abstractmethod
    def measure(self, view: TrialView) -> float | str:
        """The figure, or a reason why it is unavailable."""

    def use_spans(self, view: TrialView) -> bool:
        """Whether to read spans (per ``source``)."""
        return self.spec.source == "spans" or (self.spec.source == "auto" and bool(view.spans))

    def spans(self, view: TrialView) -> list[Mapping[str, Any]]:
        """The agent's spans (judge calls left out)."""
        return agent_spans(view.spans)

    def check(self, view: TrialView) -> Score:
        """1 when the figure is at most ``max``."""
        value = self.measure(view)
        if isinstance(value, str):
            return Score(0.0, value)
        limit = self.spec.max
        shown = f"{self.what} {_fmt(value)}{self.unit}"
        details = {"value": value, "max": limit}
        if value <= limit:
            return Score(1.0, f"{shown} ≤ {_fmt(limit)}{self.unit}", details)
        return Score(0.0, f"{shown} > {_fmt(limit)}{self.unit}", details)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) and not x.is_integer() else f"{x:g}"


def _usage(view: TrialView, key: str) -> float | str:
    value = view.usage.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"usage.{key} was not recorded for this trial"
    return float(value)


@register_scorer("latency")
class Latency(_Budget):
    """The trial's wall time in seconds is at most ``max``."""

    spec_model = BudgetSpec
    unit = " s"
    what = "latency"

    def measure(self, view: TrialView) -> float | str:
        """The trial latency."""
        value = float(view.latency_s)
        if math.isnan(value):
            return "latency was not recorded for this trial"
        return value


@register_scorer("cost")
class Cost(_Budget):
    """The trial's model cost in USD is at most ``max``."""

    spec_model = BudgetSpec
    unit = " USD"
    what = "cost"

    def measure(self, view: TrialView) -> float | str:
        """Cost from LLM spans or usage."""
        if self.use_spans(view):
            return sum(float(r.get("cost_usd") or 0.0) for r in self.spans(view))
        return _usage(view, "cost_usd")


class TokensSpec(BudgetSpec):
    """Options of ``tokens``."""

    count: Literal["total", "input", "output"] = "total"
    """Which tokens to count."""


@register_scorer("tokens")
class Tokens(_Budget):
    """The trial's token usage is at most ``max``."""

    spec_model = TokensSpec
    spec: TokensSpec
    unit = ""
    what = "tokens"

    def measure(self, view: TrialView) -> float | str:
        """Input, output or total tokens."""
        keys = {"total": ("input_tokens", "output_tokens"), "input": ("input_tokens",),
                "output": ("output_tokens",)}[self.spec.count]
        total = 0.0
        for key in keys:
            if self.use_spans(view):
                total += sum(float(r.get(key) or 0) for r in self.spans(view))
            else:
                got = _usage(view, key)
                if isinstance(got, str):
                    return got
                total += got
        return total


Operation = Literal["chat", "execute_tool", "invoke_agent"]
_DEFAULT_STEPS: tuple[Operation, ...] = ("chat", "execute_tool")


class StepsSpec(BudgetSpec):
    """Options of ``steps``."""

    operations: list[Operation] = Field(default_factory=lambda: list(_DEFAULT_STEPS))
    """Span operations that count as a step (usage: LLM calls + tool calls)."""


@register_scorer("steps")
class Steps(_Budget):
    """The number of steps (LLM and tool calls by default) is at most ``max``."""

    spec_model = StepsSpec
    spec: StepsSpec
    what = "steps"

    def measure(self, view: TrialView) -> float | str:
        """Count matching spans, or LLM + tool calls from usage."""
        if self.use_spans(view):
            ops = set(self.spec.operations)
            return float(sum(1 for r in self.spans(view) if r.get("operation") in ops))
        total = 0.0
        keys = {"chat": "llm_calls", "execute_tool": "tool_calls"}
        for op in self.spec.operations:
            if op not in keys:
                return f"usage does not count {op} steps; use source: spans"
            got = _usage(view, keys[op])
            if isinstance(got, str):
                return got
            total += got
        return total


class ToolErrorsSpec(BudgetSpec):
    """Options of ``tool-errors``."""

    max: float = Field(default=0, ge=0)
    """Largest allowed number of failed tool calls (default 0)."""
    tools: list[str] | None = None
    """Only count these tools (spans only)."""


@register_scorer("tool-errors")
class ToolErrors(_Budget):
    """The number of failed tool calls (spans with status ERROR) is at most ``max``."""

    spec_model = ToolErrorsSpec
    spec: ToolErrorsSpec
    what = "tool errors"

    def measure(self, view: TrialView) -> float | str:
        """Count ERROR tool spans (or usage.tool_errors)."""
        if self.use_spans(view) or self.spec.tools is not None:
            wanted = set(self.spec.tools) if self.spec.tools is not None else None
            failed = [r for r in view.spans
                      if r.get("operation") == "execute_tool" and r.get("status") == "ERROR"
                      and (wanted is None or r.get("tool_name") in wanted)]
            return float(len(failed))
        return _usage(view, "tool_errors")

    def check(self, view: TrialView) -> Score:
        """As the base check, naming the failed tools."""
        score = super().check(view)
        if score.value == 0.0 and view.spans:
            names = [f"{r.get('tool_name')} ({r.get('error_type') or 'error'})"
                     for r in view.spans
                     if r.get("operation") == "execute_tool" and r.get("status") == "ERROR"]
            if names:
                return Score(0.0, f"{score.reason}: {', '.join(names[:5])}", score.details)
        return score
