"""Token, step and cost budgets raise BudgetExceeded at the limit, and resume their counts."""

from __future__ import annotations

import pytest

from evalkit.errors import BudgetExceeded
from evalkit.reference.budgets import BudgetLimits, RunBudget


def test_steps_are_charged_before_they_start():
    budget = RunBudget(BudgetLimits(max_tokens=None, max_steps=2))
    budget.charge_step()
    budget.charge_step()
    with pytest.raises(BudgetExceeded) as info:
        budget.charge_step()
    assert (info.value.budget, info.value.limit, info.value.used) == ("steps", 2, 3)
    assert budget.steps == 2


def test_tokens_and_cost():
    budget = RunBudget(BudgetLimits(max_tokens=100, max_steps=None, max_cost_usd=0.01))
    budget.charge_tokens(60)
    with pytest.raises(BudgetExceeded, match="tokens budget exceeded: used 120 of 100"):
        budget.charge_tokens(60)
    budget = RunBudget(BudgetLimits(max_tokens=None, max_steps=None, max_cost_usd=0.01))
    with pytest.raises(BudgetExceeded) as info:
        budget.charge_tokens(10, cost_usd=0.02)
    assert info.value.budget == "cost_usd"


def test_limits_from_params_and_unlimited():
    limits = BudgetLimits.from_params({"budget": {"max_tokens": 500, "max_steps": None}})
    assert limits == BudgetLimits(max_tokens=500, max_steps=None, max_cost_usd=None)
    budget = RunBudget(BudgetLimits(max_tokens=None, max_steps=None))
    for _ in range(1000):
        budget.charge_step()
        budget.charge_tokens(10_000)


def test_snapshot_restores_counts():
    budget = RunBudget()
    budget.charge_step()
    budget.charge_tokens(42, 0.5)
    again = RunBudget()
    again.restore(budget.snapshot())
    assert (again.tokens, again.steps, again.cost_usd) == (42, 1, 0.5)
