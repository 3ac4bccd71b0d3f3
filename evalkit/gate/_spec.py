"""The ``gate:`` section of a suite file, as users write it.

Example::

    gate:
      missing: fail            # fail | exclude: how error/timeout trials count
      on_inconclusive: fail    # fail | warn | next-stage
      alpha_fail: 0.01         # one-sided, Holm across blocking regression rules
      alpha_pass: 0.05         # one-sided, for the non-inferiority (PASS) bound
      thresholds:              # absolute, judged on the unfavourable confidence bound
        completion_rate: {min: 0.8}
        tool_error_rate: {max: 0.1}
      regression:              # vs a baseline: non-inferiority margin per metric
        completion_rate: {margin: 0.05}
        tool_error_rate: {margin: 0.02, blocking: false}
      per_case: {min_passes: 2, of: 3}   # k-of-n rule on completion, per case
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["METRIC_NAME_PATTERN", "GateSpec", "PerCaseRule", "RegressionRule", "ThresholdRule"]

METRIC_NAME_PATTERN = re.compile(
    r"^(completion_rate|tool_error_rate|trials_with_tool_error|latency_p50_s|latency_p95_s"
    r"|cost_per_trial_usd|pass_rate:.+|corrected_pass_rate:.+|score:.+|pass[@^][1-9][0-9]*)$"
)
"""Metric names a gate can refer to (``pass_rate:<metric>``/``score:<metric>`` per scorer)."""


def _check_metric_names(names: list[str]) -> None:
    bad = [n for n in names if not METRIC_NAME_PATTERN.match(n)]
    if bad:
        raise ValueError(
            f"unknown metric {bad[0]!r}; use completion_rate, pass_rate:<metric>, "
            "corrected_pass_rate:<metric>, score:<metric>, tool_error_rate, "
            "trials_with_tool_error, pass@k, pass^k, latency_p50_s, latency_p95_s or "
            "cost_per_trial_usd"
        )


class ThresholdRule(BaseModel):
    """An absolute bound on one metric of the run (candidate)."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    """Lowest acceptable value; met only when the lower confidence bound is at least this."""
    max: float | None = None
    """Highest acceptable value; met only when the upper confidence bound is at most this."""

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdRule:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RegressionRule(BaseModel):
    """Non-inferiority of the candidate against a baseline on one metric."""

    model_config = ConfigDict(extra="forbid")

    margin: float = Field(ge=0)
    """Margin δ on the metric's scale: a true drop smaller than δ is acceptable."""
    blocking: bool = True
    """Blocking rules decide the verdict (Holm-corrected together); others only warn."""


class PerCaseRule(BaseModel):
    """A k-of-n rule on task completion that a high average cannot hide."""

    model_config = ConfigDict(extra="forbid")

    min_passes: int = Field(ge=0)
    """Completed trials each case needs out of ``of``."""
    of: int = Field(ge=1)
    """Trials the rule is stated for; with K ≠ of the same share is required, rounded up."""

    @model_validator(mode="after")
    def _within(self) -> PerCaseRule:
        if self.min_passes > self.of:
            raise ValueError(f"min_passes {self.min_passes} exceeds of {self.of}")
        return self

    @property
    def share(self) -> float:
        """Share of trials each case must complete."""
        return self.min_passes / self.of


class GateSpec(BaseModel):
    """Rules that turn a run (and optionally a baseline) into PASS / FAIL / INCONCLUSIVE."""

    model_config = ConfigDict(extra="forbid")

    missing: Literal["fail", "exclude"] = "fail"
    """How error/timeout/infra_error trials count: as failures, or left out (and reported)."""
    on_inconclusive: Literal["fail", "warn", "next-stage"] = "fail"
    """What an INCONCLUSIVE verdict does: exit 1, exit 0 with a warning, or ask for the next
    pre-planned stage (exit 0; the caller runs more cases). Never "re-run until green"."""
    alpha_fail: float = Field(0.01, gt=0, lt=0.5)
    """One-sided level of the regression test (FAIL), Holm-corrected across blocking rules."""
    alpha_pass: float = Field(0.05, gt=0, lt=0.5)
    """One-sided level of the non-inferiority bound (PASS)."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Two-sided level of reported intervals; thresholds are judged on these bounds."""
    power: float = Field(0.8, gt=0.5, lt=1)
    """Power at which the minimum detectable effect (MDE) is reported."""
    thresholds: dict[str, ThresholdRule] = Field(default_factory=dict)
    """Absolute bounds per metric, judged on the unfavourable confidence bound."""
    regression: dict[str, RegressionRule] = Field(default_factory=dict)
    """Non-inferiority margins per metric against a baseline."""
    per_case: PerCaseRule | None = None
    """k-of-n completion rule per case; failing cases are named."""

    @field_validator("thresholds", "regression")
    @classmethod
    def _known_metrics(cls, value: dict[str, object]) -> dict[str, object]:
        _check_metric_names(list(value))
        return value

    @property
    def gated_metrics(self) -> list[str]:
        """Every metric a rule refers to, thresholds first, without repeats."""
        return list(dict.fromkeys([*self.thresholds, *self.regression]))
