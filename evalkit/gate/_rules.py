"""Each gate rule judged on its own: thresholds, regression margins, the k-of-n rule.

A rule ends in one of ``pass``, ``fail``, ``inconclusive`` or ``skipped``, with a reason
a person can read. The verdict (``_verdict.py``) only combines them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import ConfigError
from evalkit.gate._spec import GateSpec, PerCaseRule, RegressionRule, ThresholdRule

if TYPE_CHECKING:  # evalkit.stats pulls in pandas; the gate spec alone must stay light
    from evalkit.stats import Comparison, DeltaEstimate, MetricEstimate, RunSummary

__all__ = ["RuleCheck", "check_per_case", "check_regressions", "check_thresholds"]

Outcome = Literal["pass", "fail", "inconclusive", "skipped"]


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """The outcome of one rule.

    Attributes:
        rule: ``threshold``, ``regression`` or ``per_case``.
        metric: the metric judged (``completion_rate`` for the per-case rule).
        outcome: ``pass``, ``fail``, ``inconclusive`` or ``skipped``.
        reason: why, in words, with the numbers that decided.
        estimate: the point estimate (or Δ̂) judged.
        bound: the confidence bound that decided (NaN when none).
        limit: the threshold, or −δ / +δ for a regression rule.
        p_value: one-sided regression p-value (Holm-adjusted), for regression rules.
        blocking: whether the rule can fail the gate.
        cases: cases that broke the per-case rule.
        warning: a note to surface even though the rule passed.
    """

    rule: Literal["threshold", "regression", "per_case"]
    metric: str
    outcome: Outcome
    reason: str
    estimate: float = math.nan
    bound: float = math.nan
    limit: float = math.nan
    p_value: float = math.nan
    blocking: bool = True
    cases: tuple[str, ...] = ()
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (NaN becomes null)."""

        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        out: dict[str, Any] = {
            "rule": self.rule,
            "metric": self.metric,
            "outcome": self.outcome,
            "reason": self.reason,
            "estimate": clean(self.estimate),
            "bound": clean(self.bound),
            "limit": clean(self.limit),
            "blocking": self.blocking,
        }
        if self.rule == "regression":
            out["p_value"] = clean(self.p_value)
        if self.cases:
            out["cases"] = list(self.cases)
        return out


def _require_metric(
    name: str, metrics: Mapping[str, object], section: str
) -> bool:
    """True if present; ConfigError for a per-scorer metric the run does not have."""
    if name in metrics:
        return True
    if name.startswith("corrected_pass_rate:"):
        raise ConfigError(
            f"the run has no metric {name!r}: set 'correct_for_judge_error: true' on the "
            f"llm-rubric scorer whose metric is {name.split(':', 1)[1]!r}",
            key=f"gate.{section}.{name}",
        )
    if name.startswith(("pass_rate:", "score:")):
        known = sorted(m for m in metrics if m.startswith(name.split(":")[0] + ":"))
        raise ConfigError(
            f"the run has no metric {name!r}; it has {', '.join(known) or 'none of that kind'}",
            key=f"gate.{section}.{name}",
        )
    return False


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "n/a"


def check_thresholds(spec: GateSpec, summary: RunSummary) -> list[RuleCheck]:
    """Absolute thresholds, each judged on the unfavourable confidence bound."""
    checks: list[RuleCheck] = []
    conf = f"{summary.confidence:.0%}"
    for name, rule in spec.thresholds.items():
        if not _require_metric(name, summary.metrics, "thresholds"):
            checks.append(RuleCheck("threshold", name, "inconclusive",
                                    f"{name} is not available for this run (e.g. pass@k needs "
                                    "K ≥ k trials per case)"))
            continue
        checks.extend(_threshold(name, rule, summary.metrics[name], conf))
    return checks


def _threshold(name: str, rule: ThresholdRule, m: MetricEstimate, conf: str) -> list[RuleCheck]:
    if not m.defined:
        return [RuleCheck("threshold", name, "inconclusive", f"{name} is undefined: {m.method}")]
    out: list[RuleCheck] = []
    if rule.min is not None:
        ok = m.ci_low >= rule.min
        rel = "≥" if ok else "<"
        out.append(RuleCheck(
            "threshold", name, "pass" if ok else "fail",
            f"{name}: lower {conf} bound {_fmt(m.ci_low)} {rel} min {_fmt(rule.min)} "
            f"(estimate {_fmt(m.estimate)}, {m.n_cases} cases, {m.n_trials} trials)",
            m.estimate, m.ci_low, rule.min,
        ))
    if rule.max is not None:
        ok = m.ci_high <= rule.max
        rel = "≤" if ok else ">"
        out.append(RuleCheck(
            "threshold", name, "pass" if ok else "fail",
            f"{name}: upper {conf} bound {_fmt(m.ci_high)} {rel} max {_fmt(rule.max)} "
            f"(estimate {_fmt(m.estimate)}, {m.n_cases} cases, {m.n_trials} trials)",
            m.estimate, m.ci_high, rule.max,
        ))
    return out


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (monotone, capped at 1)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[idx]))
        adjusted[idx] = running
    return adjusted


def check_regressions(spec: GateSpec, comparison: Comparison | None) -> list[RuleCheck]:
    """Non-inferiority rules (STATISTICS.md §5).

    Per blocking rule: PASS when the unfavourable one-sided bound of Δ at α_pass stays
    within the margin (shown non-inferior; a significant drop inside the margin adds a
    warning); otherwise FAIL when the regression is significant at α_fail after Holm
    across the blocking rules; otherwise INCONCLUSIVE. Non-blocking rules never fail:
    what would fail them becomes a warning.
    """
    if not spec.regression:
        return []
    if comparison is None:
        return [
            RuleCheck("regression", name, "skipped", f"{name}: no baseline to compare with",
                      blocking=rule.blocking)
            for name, rule in spec.regression.items()
        ]
    present: dict[str, DeltaEstimate] = {}
    checks: list[RuleCheck] = []
    for name, rule in spec.regression.items():
        if _require_metric(name, comparison.deltas, "regression"):
            present[name] = comparison.deltas[name]
        else:
            checks.append(RuleCheck(
                "regression", name, "inconclusive" if rule.blocking else "skipped",
                f"{name}: no paired estimate of Δ (metric undefined in one arm)",
                blocking=rule.blocking,
            ))
    blocking = [n for n in present if spec.regression[n].blocking]
    p_blocking = [present[n].p_value_regression for n in blocking]
    from evalkit.stats import holm

    rejected = dict(zip(blocking, holm(p_blocking, spec.alpha_fail), strict=True))
    adjusted = dict(zip(blocking, holm_adjusted(p_blocking), strict=True))
    for name, delta in present.items():
        checks.append(_regression(name, spec.regression[name], delta, spec,
                                  rejected.get(name, delta.p_value_regression <= spec.alpha_fail),
                                  adjusted.get(name, delta.p_value_regression)))
    order = list(spec.regression)
    return sorted(checks, key=lambda c: order.index(c.metric))


def _regression(
    name: str, rule: RegressionRule, delta: DeltaEstimate, spec: GateSpec, significant: bool,
    p_adj: float,
) -> RuleCheck:
    higher = delta.direction == "higher"
    limit = -rule.margin if higher else rule.margin
    ni_bound = delta.unfavourable_bound(spec.alpha_pass)
    shown = ni_bound > limit if higher else ni_bound < limit
    worse = "drop" if higher else "rise"
    side = "lower" if higher else "upper"
    base = (f"{name}: Δ = {_fmt(delta.estimate)} (baseline {_fmt(delta.baseline)} → "
            f"candidate {_fmt(delta.candidate)}, {delta.n_paired} paired cases, {delta.method})")
    if shown:
        warning = None
        if delta.p_value_regression <= spec.alpha_pass:
            warning = (f"{name}: significant {worse} of {_fmt(abs(delta.estimate))} "
                       f"(one-sided p={_fmt(delta.p_value_regression)}), within the margin "
                       f"{_fmt(rule.margin)}")
        return RuleCheck(
            "regression", name, "pass",
            f"{base}; {side} {1 - spec.alpha_pass:.0%} bound {_fmt(ni_bound)} is within the "
            f"margin {_fmt(limit)}: non-inferior",
            delta.estimate, ni_bound, limit, p_adj, rule.blocking, warning=warning,
        )
    fav_bound = delta.favourable_bound(spec.alpha_fail)
    if significant:
        outcome: Outcome = "fail" if rule.blocking else "pass"
        reason = (f"{base}; significant {worse}: {'upper' if higher else 'lower'} "
                  f"{1 - spec.alpha_fail:.0%} bound {_fmt(fav_bound)} "
                  f"{'<' if higher else '>'} 0 (Holm-adjusted one-sided p={_fmt(p_adj)}), "
                  f"and the {side} {1 - spec.alpha_pass:.0%} bound {_fmt(ni_bound)} is beyond "
                  f"the margin {_fmt(limit)}")
        return RuleCheck("regression", name, outcome, reason, delta.estimate, fav_bound, limit,
                         p_adj, rule.blocking,
                         warning=None if rule.blocking else f"non-blocking: {reason}")
    reason = (f"{base}; cannot tell: the {side} {1 - spec.alpha_pass:.0%} bound "
              f"{_fmt(ni_bound)} is beyond the margin {_fmt(limit)}, but the {worse} is not "
              f"significant (Holm-adjusted one-sided p={_fmt(p_adj)})")
    return RuleCheck(
        "regression", name, "inconclusive" if rule.blocking else "pass", reason,
        delta.estimate, ni_bound, limit, p_adj, rule.blocking,
        warning=None if rule.blocking else f"non-blocking: {reason}",
    )


def check_per_case(rule: PerCaseRule | None, summary: RunSummary) -> list[RuleCheck]:
    """The k-of-n rule: every case must complete its share of trials; name the ones that don't."""
    if rule is None:
        return []
    failing: list[str] = []
    details: list[str] = []
    undefined: list[str] = []
    ks: set[int] = set()
    for case in summary.cases:
        if case.n == 0:
            undefined.append(case.case_id)
            continue
        ks.add(case.n)
        need = math.ceil(rule.share * case.n - 1e-9)
        if case.successes < need:
            failing.append(case.case_id)
            details.append(f"{case.case_id} {case.successes}/{case.n}")
    stated = f"{rule.min_passes} of {rule.of}"
    scaled = ""
    if ks and ks != {rule.of}:
        k_list = ", ".join(str(k) for k in sorted(ks))
        scaled = f" (cases ran K={k_list}; the same share {rule.share:.0%} is required)"
    checks: list[RuleCheck] = []
    if failing:
        shown = ", ".join(details[:20]) + (f", … {len(details) - 20} more" if len(details) > 20
                                           else "")
        checks.append(RuleCheck(
            "per_case", "completion_rate", "fail",
            f"{len(failing)} of {len(summary.cases)} case(s) completed fewer than {stated} "
            f"trials{scaled}: {shown}",
            cases=tuple(failing),
        ))
    elif summary.cases:
        checks.append(RuleCheck("per_case", "completion_rate", "pass",
                                f"every case completed at least {stated} trials{scaled}"))
    if undefined:
        checks.append(RuleCheck(
            "per_case", "completion_rate", "inconclusive",
            f"{len(undefined)} case(s) have no trial with a defined completion: "
            + ", ".join(undefined[:20]),
            cases=tuple(undefined),
        ))
    return checks
