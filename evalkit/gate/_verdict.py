"""Combine rule outcomes into PASS / FAIL / INCONCLUSIVE, with the MDE beside it.

FAIL when any blocking rule fails; else INCONCLUSIVE when any blocking rule cannot be
decided; else PASS. Every violated rule is listed. The minimum detectable effect (MDE) of
each gated metric is reported with every verdict, so a PASS says what it could not see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import InputError
from evalkit.gate._rules import RuleCheck, check_per_case, check_regressions, check_thresholds
from evalkit.gate._spec import GateSpec

if TYPE_CHECKING:  # evalkit.stats pulls in pandas; the gate spec alone must stay light
    from evalkit.stats import Comparison, RunSummary

__all__ = ["GateResult", "MdeEstimate", "Verdict", "evaluate_gate", "minimum_detectable_effects"]

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]


@dataclass(frozen=True, slots=True)
class MdeEstimate:
    """Smallest true regression the gate would FAIL with the stated power.

    Attributes:
        metric: the gated metric.
        mde: the effect, on the metric's scale (a drop for higher-is-better metrics).
        se: standard error of Δ behind it.
        n_cases: paired (or run) cases.
        trials_per_case: mean K.
        alpha: the one-sided level used (α_fail, divided by the number of blocking rules
            as in Holm's first step).
        power: the power.
        basis: where the SE came from (a paired comparison, or one run plus an assumption).
    """

    metric: str
    mde: float
    se: float
    n_cases: int
    trials_per_case: float
    alpha: float
    power: float
    basis: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "metric": self.metric,
            "mde": self.mde if math.isfinite(self.mde) else None,
            "se": self.se if math.isfinite(self.se) else None,
            "n_cases": self.n_cases,
            "trials_per_case": self.trials_per_case,
            "alpha": self.alpha,
            "power": self.power,
            "basis": self.basis,
        }


@dataclass(frozen=True, slots=True)
class GateResult:
    """A gate verdict with everything needed to explain it.

    Attributes:
        verdict: ``PASS``, ``FAIL`` or ``INCONCLUSIVE``.
        exit_code: 0 PASS; 1 FAIL; INCONCLUSIVE → 1 under ``on_inconclusive: fail``, else 0.
        violations: every blocking rule that failed.
        inconclusive: every blocking rule the data could not decide.
        warnings: things to read even on a PASS (within-margin drops, skipped rules, …).
        checks: every rule's outcome, in spec order.
        mde: metric → minimum detectable effect.
        on_inconclusive: the configured policy.
        next_stage: True when the verdict asks the caller to run the next planned stage.
    """

    verdict: Verdict
    exit_code: int
    violations: tuple[RuleCheck, ...]
    inconclusive: tuple[RuleCheck, ...]
    warnings: tuple[str, ...]
    checks: tuple[RuleCheck, ...]
    mde: dict[str, MdeEstimate] = field(default_factory=dict)
    on_inconclusive: str = "fail"
    next_stage: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "violations": [c.to_dict() for c in self.violations],
            "inconclusive": [c.to_dict() for c in self.inconclusive],
            "warnings": list(self.warnings),
            "checks": [c.to_dict() for c in self.checks],
            "mde": {k: v.to_dict() for k, v in self.mde.items()},
            "on_inconclusive": self.on_inconclusive,
            "next_stage": self.next_stage,
        }


def _mde_value(
    se: float, df: float, alpha: float, power: float, margin: float | None, alpha_pass: float
) -> float:
    """Smallest true unfavourable Δ with P(FAIL) ≥ power.

    FAIL needs the regression test to reject (Δ̂ beyond q_{1−α}·SE) and non-inferiority
    not to be shown (Δ̂ beyond δ − q_{1−α_pass}·SE), so with a margin the gate's MDE is
    ``max((q_{1−α} + q_power)·SE, δ + (q_power − q_{1−α_pass})·SE)``.
    """
    if not math.isfinite(se) or df < 1:
        return math.inf
    from evalkit.stats._intervals import t_quantile

    q_a, q_b = t_quantile(1 - alpha, df), t_quantile(power, df)
    mde = (q_a + q_b) * se
    if margin is not None:
        mde = max(mde, margin + (q_b - t_quantile(1 - alpha_pass, df)) * se)
    return mde


_TRIAL_RATES = ("completion_rate", "pass_rate:", "trials_with_tool_error")
_FLAT = ("not estimable: the metric did not vary in this run (standard error 0, e.g. no "
         "tool error at all), so the run says nothing about the size of change it could "
         "detect")


def _flat(se: float) -> bool:
    """Whether an SE is zero: a metric that never varied has no MDE.

    Per-trial rates are the exception: their variance at the alternative is known (see
    ``_at_alternative``).
    """
    return math.isfinite(se) and se <= 0.0


def _at_alternative(
    se: float, df: float, alpha: float, spec: GateSpec, margin: float | None,
    cand: float, higher: bool, trials: float,
) -> float:
    """MDE of a per-trial rate, with the SE taken at the alternative it describes.

    A trial's variance is p(1 − p), so the candidate's within-case variance moves when its
    rate moves: shifting every case by Δ changes the mean within-case variance by exactly
    v(p̄ − Δ) − v(p̄), v(p) = p(1 − p). Without this the SE measured at the observed rates
    understates the SE at a lower candidate rate (nearer ½) and the power at the stated
    MDE falls short of its promise. A few fixed-point steps settle it.

    Args:
        se: SE of Δ at the observed rates.
        df: degrees of freedom.
        alpha: one-sided level of the FAIL test.
        spec: the gate (power, α_pass).
        margin: the non-inferiority margin, if the metric has one.
        cand: the candidate's observed rate.
        higher: whether higher is better.
        trials: total candidate trials behind the rate (n·K).
    """
    mde = _mde_value(se, df, alpha, spec.power, margin, spec.alpha_pass)
    if not (math.isfinite(mde) and 0.0 <= cand <= 1.0 and trials > 0):
        return mde
    if mde <= 0.0:
        # All trials passed (or all failed): the SE at the observed rate is 0, but not at
        # the alternative. Start the fixed point at one trial's worth and let it grow
        # (towards z²/(n·K)); 0 would be a fixed point that claims any change is caught.
        mde = 1.0 / trials
    for _ in range(30):
        alt = min(1.0, max(0.0, cand - mde if higher else cand + mde))
        extra = (alt * (1 - alt) - cand * (1 - cand)) / trials
        mde = _mde_value(math.sqrt(max(se * se + extra, 0.0)), df, alpha, spec.power, margin,
                         spec.alpha_pass)
    return mde


def minimum_detectable_effects(
    spec: GateSpec, summary: RunSummary, comparison: Comparison | None = None
) -> dict[str, MdeEstimate]:
    """The MDE of every gated metric at this run's n and K.

    With a comparison the SE of Δ is measured. With one run it is projected: the paired
    variance per case is ``2((1 − ρ)τ² + σ²/K)`` with the run's between-case τ² and
    within-case σ², assuming the arms' true per-case values correlate at ρ = 0.8; metrics
    without that decomposition (ratios, quantiles, pass^k) take ``√2·SE`` (unpaired, ρ = 0).
    For per-trial rates the SE is then taken at the alternative (see ``_at_alternative``).
    """
    blocking = [n for n, r in spec.regression.items() if r.blocking]
    out: dict[str, MdeEstimate] = {}
    for name in spec.gated_metrics:
        rule = spec.regression.get(name)
        alpha = spec.alpha_fail / max(1, len(blocking)) if name in blocking else spec.alpha_fail
        margin = rule.margin if rule is not None else None
        is_rate = name.startswith(_TRIAL_RATES)
        if comparison is not None and name in comparison.deltas:
            d = comparison.deltas[name]
            k = comparison.candidate.trials_per_case
            basis = f"paired comparison ({d.method})"
            if is_rate:
                mde = _at_alternative(d.se, d.df, alpha, spec, margin, d.candidate,
                                      d.direction == "higher", d.n_paired * k)
            else:
                mde = _mde_value(d.se, d.df, alpha, spec.power, margin, spec.alpha_pass)
            if not is_rate and _flat(d.se):
                out[name] = MdeEstimate(name, math.nan, d.se, d.n_paired, k, alpha,
                                        spec.power, _FLAT)
                continue
            if d.method.startswith("exact McNemar") and d.n_paired > 0:
                # the exact test is discrete: a continuity step of one case keeps the power
                mde += 1.0 / d.n_paired
                basis += "; +1/n continuity for the exact test"
            out[name] = MdeEstimate(name, mde, d.se, d.n_paired, k, alpha, spec.power, basis)
            continue
        m = summary.metrics.get(name)
        if m is None or not m.defined or m.n_cases < 2:
            continue
        if math.isfinite(m.var_between) and math.isfinite(m.var_within):
            from evalkit.stats import DEFAULT_ARM_CORRELATION as rho

            var = 2.0 * ((1.0 - rho) * m.var_between + m.var_within / m.trials_per_case)
            se = math.sqrt(var / m.n_cases)
            basis = (f"one run, assuming the arms' per-case values correlate at ρ={rho:g} "
                     "(a paired baseline measures it)")
        else:
            se = math.sqrt(2.0) * m.se
            basis = "one run, unpaired projection √2·SE (no within-case variance to split)"
        if not is_rate and _flat(se):
            out[name] = MdeEstimate(name, math.nan, se, m.n_cases, summary.trials_per_case,
                                    alpha, spec.power, _FLAT)
            continue
        df = float(m.n_cases - 1)
        if is_rate:
            mde = _at_alternative(se, df, alpha, spec, margin, m.estimate,
                                  m.direction == "higher", m.n_trials)
        else:
            mde = _mde_value(se, df, alpha, spec.power, margin, spec.alpha_pass)
        out[name] = MdeEstimate(name, mde, se, m.n_cases, summary.trials_per_case, alpha,
                                spec.power, basis)
    return out


def evaluate_gate(
    spec: GateSpec,
    summary: RunSummary | None = None,
    comparison: Comparison | None = None,
) -> GateResult:
    """Decide PASS / FAIL / INCONCLUSIVE for a run, optionally against a baseline.

    Args:
        spec: the suite's gate.
        summary: the run's summary (the candidate's); defaults to
            ``comparison.candidate``.
        comparison: baseline vs candidate, needed by regression rules.

    Raises:
        InputError: with neither a summary nor a comparison.
        ConfigError: when a rule names a per-scorer metric the run does not have.

    Example:
        >>> result = evaluate_gate(spec, comparison=compare_runs(trials, scores))  # doctest: +SKIP
        >>> result.verdict, result.exit_code  # doctest: +SKIP
        ('PASS', 0)
    """
    if summary is None:
        if comparison is None:
            raise InputError("the gate needs a run summary or a comparison")
        summary = comparison.candidate
    if summary.missing != spec.missing:
        raise InputError(
            f"the summary counts missing trials as {summary.missing!r} but the gate says "
            f"{spec.missing!r}; summarise with missing={spec.missing!r}"
        )
    if abs(summary.confidence - spec.confidence) > 1e-12:
        raise InputError(
            f"the summary's intervals are at {summary.confidence:.0%} but the gate judges "
            f"thresholds at {spec.confidence:.0%}; summarise with confidence={spec.confidence}"
        )
    checks = [
        *check_thresholds(spec, summary),
        *check_regressions(spec, comparison),
        *check_per_case(spec.per_case, summary),
    ]
    violations = tuple(c for c in checks if c.outcome == "fail" and c.blocking)
    unsure = tuple(c for c in checks if c.outcome == "inconclusive" and c.blocking)
    warnings: list[str] = [c.warning for c in checks if c.warning]
    if any(c.outcome == "skipped" for c in checks if c.rule == "regression"):
        warnings.append("regression rules not evaluated: no baseline was given")
    if comparison is not None:
        warnings.extend(comparison.notes)
    warnings.extend(n for n in summary.notes if n not in warnings)
    verdict: Verdict = "FAIL" if violations else "INCONCLUSIVE" if unsure else "PASS"
    if verdict == "PASS" and not checks:
        warnings.append("the gate has no rules: PASS says nothing")
    exit_code = 1 if verdict == "FAIL" else 0
    next_stage = False
    if verdict == "INCONCLUSIVE":
        exit_code = 1 if spec.on_inconclusive == "fail" else 0
        next_stage = spec.on_inconclusive == "next-stage"
        if spec.on_inconclusive == "warn":
            warnings.append("INCONCLUSIVE treated as a warning (on_inconclusive: warn)")
    return GateResult(
        verdict=verdict,
        exit_code=exit_code,
        violations=violations,
        inconclusive=unsure,
        warnings=tuple(warnings),
        checks=tuple(checks),
        mde=minimum_detectable_effects(spec, summary, comparison),
        on_inconclusive=spec.on_inconclusive,
        next_stage=next_stage,
    )
