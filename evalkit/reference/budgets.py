"""Cost rails: per-run token, step and cost budgets that halt a run cleanly.

A *step* is one model call or one tool-call attempt. The budget is charged before
a step starts (so a run never begins a step it may not take) and with tokens after
a model call returns; crossing a limit raises
:class:`~evalkit.errors.BudgetExceeded`, which the pipeline turns into the outcome
``budget_exceeded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import BudgetExceeded


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Hard limits for one pipeline run (None: unlimited)."""

    max_tokens: int | None = 6000
    """Input plus output tokens over all model calls."""
    max_steps: int | None = 40
    """Model calls plus tool-call attempts."""
    max_cost_usd: float | None = None
    """Spend on priced models (the embedded model costs nothing)."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> BudgetLimits:
        """Read ``params.budget`` (``max_tokens``, ``max_steps``, ``max_cost_usd``)."""
        raw = params.get("budget") or {}
        default = cls()

        def pick(key: str, fallback: Any, kind: type) -> Any:
            value = raw.get(key, fallback)
            return None if value is None else kind(value)

        return cls(
            max_tokens=pick("max_tokens", default.max_tokens, int),
            max_steps=pick("max_steps", default.max_steps, int),
            max_cost_usd=pick("max_cost_usd", default.max_cost_usd, float),
        )


@dataclass(slots=True)
class RunBudget:
    """What one run has used, checked against its limits on every charge."""

    limits: BudgetLimits = field(default_factory=BudgetLimits)
    tokens: int = 0
    steps: int = 0
    cost_usd: float = 0.0

    def charge_step(self) -> None:
        """Account for one more step before it starts.

        Raises:
            BudgetExceeded: the step would exceed ``max_steps``.
        """
        limit = self.limits.max_steps
        if limit is not None and self.steps + 1 > limit:
            raise BudgetExceeded("steps", limit=limit, used=self.steps + 1)
        self.steps += 1

    def charge_tokens(self, tokens: int, cost_usd: float = 0.0) -> None:
        """Account for a finished model call.

        Raises:
            BudgetExceeded: tokens or cost now exceed their limit.
        """
        self.tokens += max(0, int(tokens))
        self.cost_usd += max(0.0, float(cost_usd))
        if self.limits.max_tokens is not None and self.tokens > self.limits.max_tokens:
            raise BudgetExceeded("tokens", limit=self.limits.max_tokens, used=self.tokens)
        if self.limits.max_cost_usd is not None and self.cost_usd > self.limits.max_cost_usd:
            raise BudgetExceeded("cost_usd", limit=self.limits.max_cost_usd, used=self.cost_usd)

    def snapshot(self) -> dict[str, Any]:
        """Usage and limits, for the output and the checkpoint."""
        return {
            "tokens": self.tokens,
            "steps": self.steps,
            "cost_usd": round(self.cost_usd, 6),
            "limits": {
                "max_tokens": self.limits.max_tokens,
                "max_steps": self.limits.max_steps,
                "max_cost_usd": self.limits.max_cost_usd,
            },
        }

    def restore(self, usage: Mapping[str, Any]) -> None:
        """Resume counting from a checkpointed snapshot."""
        self.tokens = int(usage.get("tokens", 0))
        self.steps = int(usage.get("steps", 0))
        self.cost_usd = float(usage.get("cost_usd", 0.0))
