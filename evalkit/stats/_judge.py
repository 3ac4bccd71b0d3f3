"""Judged pass rates corrected for judge error (Rogan–Gladen, STATISTICS.md §7).

A judge with sensitivity q₁ and specificity q₀ (measured against human labels by
``evalkit judge calibrate``) reports p̂ = θ·q₁ + (1 − θ)(1 − q₀) when the true pass rate
is θ, so θ̂ = (p̂ + q₀ − 1)/(q₀ + q₁ − 1), defined when the judge beats chance
(J = q₀ + q₁ − 1 > 0). Its variance adds the calibration's own uncertainty:

    Var(θ̂) ≈ [Var(p̂) + (1−θ̂)² q₀(1−q₀)/m₀ + θ̂² q₁(1−q₁)/m₁] / J²

where Var(p̂) is the design-respecting variance of the judged rate (clustered, over
repeated trials) — with one trial per independent case it is p̂(1−p̂)/n, the textbook term.

For a paired Δ the judge is the same in both arms, so Δθ = Δp / J: the test of Δ = 0 is
the judged rate's own test, and the interval scales by 1/J (with q₀, q₁ taken as known;
that judge error cancels only if the judge is equally accurate on both arms' answers is
the caveat :func:`judge_notes` prints).

The opt-in lives in the scores table: a ``llm-rubric`` scorer with
``correct_for_judge_error: true`` stores its calibration summary in each row's details,
so every consumer of a run folder (run, gate, compare, report, pytest) sees the same
correction, frozen at scoring time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from evalkit.stats._intervals import z_quantile

if TYPE_CHECKING:  # runtime imports would be circular (_trials imports this module)
    from evalkit.stats._deltas import DeltaEstimate
    from evalkit.stats._estimates import MetricEstimate
    from evalkit.stats._paired import PairedTest

__all__ = [
    "CORRECTED_PREFIX",
    "JudgeCalibration",
    "corrected_delta",
    "corrected_estimate",
    "judge_calibrations",
    "judge_notes",
]

CORRECTED_PREFIX = "corrected_pass_rate:"
WEAK_KAPPA = 0.6


@dataclass(frozen=True, slots=True)
class JudgeCalibration:
    """What a judged metric's calibration record says, as stored with its scores.

    Attributes:
        metric: the judged metric (``pass_rate:<metric>`` is corrected).
        status: ``"ok"``, ``"weak"`` (κ < 0.6) or ``"missing"``.
        message: the status in words.
        q0: specificity (NaN when missing).
        q1: sensitivity (NaN when missing).
        m0: human-negative labels behind q0.
        m1: human-positive labels behind q1.
        kappa: Cohen's κ (NaN when missing).
        labels: the label dataset's identity, when recorded.
    """

    metric: str
    status: str
    message: str
    q0: float = math.nan
    q1: float = math.nan
    m0: int = 0
    m1: int = 0
    kappa: float = math.nan
    labels: str = ""

    @property
    def youden(self) -> float:
        """J = q₀ + q₁ − 1: how much better than chance the judge is."""
        return self.q0 + self.q1 - 1.0

    @property
    def usable(self) -> bool:
        """Whether Rogan–Gladen is defined: both rates known, counts positive, J > 0."""
        return (math.isfinite(self.youden) and self.youden > 0.0
                and self.m0 > 0 and self.m1 > 0)

    @property
    def why_unusable(self) -> str:
        """Why the correction cannot be made (empty when it can)."""
        if self.usable:
            return ""
        if self.status == "missing" or not math.isfinite(self.youden):
            return f"no calibration record for the judge ({self.message})"
        if self.m0 <= 0 or self.m1 <= 0:
            return "the calibration labels hold no human positives or no negatives"
        return (f"the judge is no better than chance on the calibration labels "
                f"(q0 + q1 − 1 = {self.youden:+.3f} ≤ 0)")


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _count(x: Any) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return 0


def _from_details(metric: str, details: Mapping[str, Any]) -> JudgeCalibration:
    cal = details.get("calibration")
    if not isinstance(cal, Mapping):
        return JudgeCalibration(metric, "missing", "calibration missing")
    labels = cal.get("labels")
    label_text = ""
    if isinstance(labels, Mapping):
        label_text = f"{labels.get('name', '?')}@{labels.get('version', '?')}"
    return JudgeCalibration(
        metric=metric,
        status=str(cal.get("status", "missing")),
        message=str(cal.get("message", "")),
        q0=_num(cal.get("specificity")),
        q1=_num(cal.get("sensitivity")),
        m0=_count(cal.get("m0")),
        m1=_count(cal.get("m1")),
        kappa=_num(cal.get("kappa")),
        labels=label_text,
    )


def judge_calibrations(
    scores: pd.DataFrame, metric_of: Mapping[str, str], *,
    within: NDArray[np.bool_] | None = None,
) -> dict[str, JudgeCalibration]:
    """Metric → calibration, for judged metrics whose scorer asked for the correction.

    Reads the ``details`` of one scored row per such scorer (the calibration is fixed for
    a scorer within a run), so the cost does not grow with the number of trials.
    ``within`` restricts the rows looked at (one arm: two stored runs compared may differ).
    """
    if not len(scores) or "details" not in scores.columns:
        return {}
    if within is not None and not within.any():
        return {}
    # One scored row per scorer is enough (the flag and calibration are per scorer);
    # error rows may lack details, so prefer each scorer's first ok row. Positions are
    # found on the scorer codes, so no row of the (possibly 1,000,000-row) table is copied.
    codes, names = pd.factorize(scores["scorer"].astype(str))
    if "status" in scores.columns:
        ok = (scores["status"] == "ok").to_numpy(dtype=bool, na_value=False)
    else:
        ok = np.ones(len(scores), dtype=bool)
    mine = np.ones(len(scores), dtype=bool) if within is None else within
    positions = []
    for code in range(len(names)):
        of_scorer = (codes == code) & mine
        rows_of = np.flatnonzero(of_scorer & ok)
        if not rows_of.size:
            rows_of = np.flatnonzero(of_scorer)
        if rows_of.size:
            positions.append(int(rows_of[0]))
    rows = scores[["scorer", "details"]].iloc[positions]
    has_flag = rows["details"].astype(str).str.contains('"correct_for_judge_error"',
                                                        regex=False)
    if not has_flag.any():
        return {}
    out: dict[str, JudgeCalibration] = {}
    flagged = rows.loc[has_flag, ["scorer", "details"]]
    for scorer, raw in zip(flagged["scorer"].astype(str), flagged["details"], strict=True):
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            continue
        if not isinstance(parsed, Mapping) or not parsed.get("correct_for_judge_error"):
            continue
        metric = metric_of.get(scorer, scorer)
        out[metric] = _from_details(metric, parsed)
    return out


def corrected_estimate(judged: MetricEstimate, cal: JudgeCalibration) -> MetricEstimate:
    """``corrected_pass_rate:<metric>`` from the judged rate and the judge's calibration.

    Undefined (NaN, with the reason as its method) when the judged rate is undefined or
    the calibration cannot support the correction.
    """
    name = CORRECTED_PREFIX + cal.metric
    if not judged.defined or not cal.usable:
        why = cal.why_unusable or "the judged pass rate is undefined"
        return replace(judged, name=name, estimate=math.nan, ci_low=math.nan,
                       ci_high=math.nan, se=math.nan, method=f"undefined: {why}")
    j = cal.youden
    p = judged.estimate
    theta_raw = (p + cal.q0 - 1.0) / j
    theta = min(1.0, max(0.0, theta_raw))
    var_p = judged.se ** 2 if math.isfinite(judged.se) else math.nan
    if not math.isfinite(var_p):
        n = max(judged.n_trials, 1)
        var_p = p * (1.0 - p) / n
    var = (var_p + (1.0 - theta) ** 2 * cal.q0 * (1.0 - cal.q0) / cal.m0
           + theta ** 2 * cal.q1 * (1.0 - cal.q1) / cal.m1) / j ** 2
    se = math.sqrt(max(var, 0.0))
    z = z_quantile(0.5 + judged.confidence / 2.0)
    clipped = " (clipped to [0, 1])" if theta != theta_raw else ""
    return replace(
        judged, name=name, estimate=theta, se=se,
        ci_low=max(0.0, theta - z * se), ci_high=min(1.0, theta + z * se),
        method=(f"Rogan–Gladen from {judged.name} with q0={cal.q0:.3f} (m0={cal.m0}), "
                f"q1={cal.q1:.3f} (m1={cal.m1}); normal interval{clipped}"),
        var_between=math.nan, var_within=math.nan,
    )


@dataclass(frozen=True)
class _ScaledTest:
    """A paired test of Δp seen as a test of Δθ = Δp / J (J > 0 fixed)."""

    inner: PairedTest
    factor: float

    @property
    def method(self) -> str:
        return f"{self.inner.method}, scaled by 1/(q0 + q1 − 1) = {self.factor:.3f}"

    def p_less(self, theta: float = 0.0) -> float:
        return self.inner.p_less(theta / self.factor)

    def p_greater(self, theta: float = 0.0) -> float:
        return self.inner.p_greater(theta / self.factor)

    def upper_bound(self, alpha: float) -> float:
        return min(1.0, self.inner.upper_bound(alpha) * self.factor)

    def lower_bound(self, alpha: float) -> float:
        return max(-1.0, self.inner.lower_bound(alpha) * self.factor)


def corrected_delta(judged: DeltaEstimate, cal: JudgeCalibration,
                    baseline: MetricEstimate, candidate: MetricEstimate
                    ) -> DeltaEstimate | None:
    """Δ of the corrected rates: the judged Δ scaled by 1/J, p-values unchanged.

    None when the calibration cannot support the correction.
    """
    if not cal.usable:
        return None
    factor = 1.0 / cal.youden
    test = _ScaledTest(judged.test, factor)
    return replace(
        judged, name=CORRECTED_PREFIX + cal.metric,
        estimate=judged.estimate * factor,
        ci_low=max(-1.0, judged.ci_low * factor), ci_high=min(1.0, judged.ci_high * factor),
        se=judged.se * factor, method=test.method,
        baseline=baseline.estimate, candidate=candidate.estimate, test=test,
    )


def judge_notes(calibrations: Mapping[str, JudgeCalibration], *, paired: bool,
                length_ratio: float = math.nan) -> list[str]:
    """Caveats to print beside corrected metrics (weak or missing calibration, per arm)."""
    notes: list[str] = []
    for metric, cal in calibrations.items():
        if not cal.usable:
            notes.append(f"corrected_pass_rate:{metric} is undefined: {cal.why_unusable}")
        elif cal.status != "ok" or not (cal.kappa >= WEAK_KAPPA):
            notes.append(f"judge behind {metric}: {cal.message}; the corrected rate leans on "
                         f"q0={cal.q0:.2f}, q1={cal.q1:.2f} measured on {cal.m0 + cal.m1} "
                         "labels")
    if paired and calibrations:
        drift = ""
        if math.isfinite(length_ratio) and not 2 / 3 <= length_ratio <= 1.5:
            drift = (f" The candidate's answers are {length_ratio:.2f}× the baseline's "
                     "length: answer style changed, so re-check calibration per arm "
                     "(label a sample of each arm's outputs and run "
                     "'evalkit judge calibrate' on each).")
        notes.append("judge error cancels in the paired Δ only if the judge is equally "
                     "accurate on both arms' answers; the correction uses one calibration "
                     f"for both.{drift}")
    return notes
