"""Baseline vs candidate: paired by case, Δ = candidate − baseline (STATISTICS.md §4).

Each metric's Δ comes from :mod:`evalkit.stats._deltas`; this module pairs the arms,
lists the cases only one arm has, the flips, and the per-tag changes (BH-adjusted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from evalkit.errors import InputError, StatsError
from evalkit.stats._deltas import (
    RATE_LIMITS,
    DeltaEstimate,
    common_cases,
    latency_deltas,
    paired_delta,
    pass_k_deltas,
    tool_error_delta,
)
from evalkit.stats._estimates import DEFAULT_RESAMPLES
from evalkit.stats._intervals import RateMethod
from evalkit.stats._judge import CORRECTED_PREFIX, corrected_delta, judge_notes
from evalkit.stats._paired import benjamini_hochberg
from evalkit.stats._summary import RunSummary, summarize_arm
from evalkit.stats._trials import (
    ArmTrials,
    CaseValues,
    MissingPolicy,
    ScorerInfo,
    prepare_arm,
)

__all__ = ["Comparison", "TagDelta", "compare_frames", "compare_runs"]


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class TagDelta:
    """Completion Δ on the cases carrying one tag, with a Benjamini–Hochberg q-value."""

    tag: str
    delta: DeltaEstimate
    q_value: float
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {**self.delta.to_dict(), "q_value": _clean(self.q_value), "flagged": self.flagged}


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two arms.

    Attributes:
        baseline_arm: name of arm A.
        candidate_arm: name of arm B.
        baseline: summary of A over all of its cases.
        candidate: summary of B over all of its cases.
        n_paired: cases present in both arms.
        only_in_baseline: cases only A has (not compared, listed).
        only_in_candidate: cases only B has.
        deltas: metric name → Δ.
        by_tag: tag → completion Δ with BH-adjusted q-value (diagnostic, non-blocking).
        regressed_cases: (case, p_A, p_B) passing in A and failing in B.
        improved_cases: (case, p_A, p_B) failing in A and passing in B.
        case_pass_fraction: completion share at which a case counts as passing.
        notes: caveats to print with the result.
    """

    baseline_arm: str
    candidate_arm: str
    baseline: RunSummary
    candidate: RunSummary
    n_paired: int
    only_in_baseline: tuple[str, ...]
    only_in_candidate: tuple[str, ...]
    deltas: dict[str, DeltaEstimate]
    by_tag: dict[str, TagDelta]
    regressed_cases: tuple[tuple[str, float, float], ...]
    improved_cases: tuple[tuple[str, float, float], ...]
    case_pass_fraction: float
    confidence: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""

        def flips(rows: Sequence[tuple[str, float, float]]) -> list[dict[str, Any]]:
            return [{"case_id": c, "baseline": a, "candidate": b} for c, a, b in rows]

        return {
            "baseline_arm": self.baseline_arm,
            "candidate_arm": self.candidate_arm,
            "n_paired": self.n_paired,
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_candidate": list(self.only_in_candidate),
            "deltas": {k: v.to_dict() for k, v in self.deltas.items()},
            "by_tag": {k: v.to_dict() for k, v in self.by_tag.items()},
            "regressed_cases": flips(self.regressed_cases),
            "improved_cases": flips(self.improved_cases),
            "case_pass_fraction": self.case_pass_fraction,
            "confidence": self.confidence,
            "notes": list(self.notes),
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
        }


_LINEAR: tuple[tuple[str, str, bool, tuple[float, float]], ...] = (
    ("completion_rate", "completion", True, RATE_LIMITS),
    ("trials_with_tool_error", "any_tool_error", True, RATE_LIMITS),
    ("cost_per_trial_usd", "cost_usd", False, (-math.inf, math.inf)),
)


def compare_runs(
    trials: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    baseline_arm: str = "baseline",
    candidate_arm: str = "candidate",
    missing: MissingPolicy = "fail",
    confidence: float = 0.95,
    ks: Sequence[int] = (1, 3, 5),
    seed: int = 0,
    interval: Literal["wilson", "clopper-pearson"] = "wilson",
    n_resamples: int = DEFAULT_RESAMPLES,
    case_pass_fraction: float = 0.5,
    tag_fdr: float = 0.05,
) -> Comparison:
    """Compare two arms of one run, paired by case id.

    Args:
        trials: trials of both arms (column ``arm``).
        scores: scores of both arms.
        baseline_arm: arm A.
        candidate_arm: arm B; Δ = B − A.
        missing: policy for non-ok trials (see :func:`summarize_run`).
        confidence: two-sided confidence of the reported intervals.
        ks: k values for pass@k / pass^k.
        seed: seed of every bootstrap and Monte Carlo permutation.
        interval: rate interval for the per-arm summaries.
        n_resamples: bootstrap resamples.
        case_pass_fraction: a case "passes" when its completion share reaches this;
            decides the flip lists.
        tag_fdr: false discovery rate at which per-tag Δs are flagged (BH).

    Raises:
        InputError: when an arm is missing.
        StatsError: when no case appears in both arms.
    """
    info = ScorerInfo.of(scores)  # suite-wide: decided once for both arms
    a = prepare_arm(trials, scores, baseline_arm, missing=missing, scorer_info=info)
    b = prepare_arm(trials, scores, candidate_arm, missing=missing, scorer_info=info)
    kw: dict[str, Any] = {
        "missing": missing, "confidence": confidence, "ks": ks, "seed": seed,
        "interval": interval, "n_resamples": n_resamples,
    }
    sum_a, sum_b = summarize_arm(a, **kw), summarize_arm(b, **kw)
    cases_a, cases_b = set(a.case_ids), set(b.case_ids)
    paired = np.array(sorted(cases_a & cases_b), dtype=object)
    if paired.size == 0:
        raise StatsError(f"no case appears in both arms {baseline_arm!r} and {candidate_arm!r}")
    only_a, only_b = tuple(sorted(cases_a - cases_b)), tuple(sorted(cases_b - cases_a))
    notes: list[str] = []
    if only_a or only_b:
        notes.append(
            f"{len(only_a)} case(s) only in {baseline_arm!r} and {len(only_b)} only in "
            f"{candidate_arm!r} are not compared; {paired.size} paired cases remain"
        )

    linear = list(_LINEAR)
    for m in sorted(set(a.pass_metrics) & set(b.pass_metrics)):
        linear.append((f"pass_rate:{m}", f"pass:{m}", True, RATE_LIMITS))
    for m in sorted(set(a.score_metrics) & set(b.score_metrics)):
        linear.append((f"score:{m}", f"score:{m}", False, RATE_LIMITS))

    deltas: dict[str, DeltaEstimate] = {}
    mask_a, mask_b = a.case_mask(paired), b.case_mask(paired)
    comp_a = a.per_case("completion", case_mask=mask_a)
    comp_b = b.per_case("completion", case_mask=mask_b)
    for name, column, binary, limits in linear:
        cv_a = comp_a if column == "completion" else a.per_case(column, case_mask=mask_a)
        cv_b = comp_b if column == "completion" else b.per_case(column, case_mask=mask_b)
        delta = paired_delta(name, cv_a, cv_b, binary=binary, confidence=confidence,
                              seed=seed, interval=interval, limits=limits)
        if delta is not None:
            deltas[name] = delta
    if "completion_rate" in deltas:
        for k in (1,):
            for label in ("pass@", "pass^"):
                if f"{label}{k}" in sum_a.metrics and f"{label}{k}" in sum_b.metrics:
                    deltas[f"{label}{k}"] = deltas["completion_rate"]
    te = tool_error_delta(a, b, paired, confidence=confidence, seed=seed,
                           n_resamples=n_resamples)
    if te is not None:
        deltas["tool_error_rate"] = te
    deltas.update(pass_k_deltas(comp_a, comp_b, ks, a, confidence=confidence, seed=seed,
                                 n_resamples=n_resamples))
    deltas.update(latency_deltas(a, b, paired, confidence=confidence, seed=seed,
                                  n_resamples=n_resamples))
    for metric, cal in b.judge_calibrations.items():
        judged = deltas.get(f"pass_rate:{metric}")
        name = CORRECTED_PREFIX + metric
        if judged is not None and name in sum_a.metrics and name in sum_b.metrics:
            corrected = corrected_delta(judged, cal, sum_a.metrics[name], sum_b.metrics[name])
            if corrected is not None:
                deltas[name] = corrected
    for metric in sorted(set(a.judge_calibrations) ^ set(b.judge_calibrations)):
        asked = candidate_arm if metric in b.judge_calibrations else baseline_arm
        notes.append(
            f"judge-error correction of {metric!r} was asked for in {asked!r} only: "
            f"{CORRECTED_PREFIX}{metric} is not compared; score both arms with the same "
            "judge settings")
    calibrations = {**a.judge_calibrations, **b.judge_calibrations}
    ratio = b.median_output_chars / a.median_output_chars \
        if a.median_output_chars and a.median_output_chars > 0 else math.nan
    notes.extend(judge_notes(calibrations, paired=True, length_ratio=ratio))
    deltas = {k: deltas[k] for k in _metric_order(deltas, sum_b)}

    by_tag = _tag_deltas(a, comp_a, comp_b, confidence=confidence, seed=seed,
                         interval=interval, fdr=tag_fdr)
    regressed, improved = _flips(comp_a, comp_b, case_pass_fraction)
    return Comparison(
        baseline_arm=baseline_arm,
        candidate_arm=candidate_arm,
        baseline=sum_a,
        candidate=sum_b,
        n_paired=int(paired.size),
        only_in_baseline=only_a,
        only_in_candidate=only_b,
        deltas=deltas,
        by_tag=by_tag,
        regressed_cases=regressed,
        improved_cases=improved,
        case_pass_fraction=case_pass_fraction,
        confidence=confidence,
        notes=tuple(notes),
    )


def _metric_order(deltas: dict[str, DeltaEstimate], summary: RunSummary) -> list[str]:
    order = [m for m in summary.metrics if m in deltas]
    return order + sorted(set(deltas) - set(order))


def _tag_deltas(
    a: ArmTrials, comp_a: CaseValues, comp_b: CaseValues, *, confidence: float, seed: int,
    interval: RateMethod, fdr: float,
) -> dict[str, TagDelta]:
    _, ia, ib = common_cases(comp_a, comp_b)
    pos_a = comp_a.positions if comp_a.positions is not None else a.positions(comp_a.case_ids)
    raw: dict[str, DeltaEstimate] = {}
    for tag, mask in a.tag_masks().items():
        keep_a = mask[pos_a]
        if not keep_a.any():
            continue
        keep_b = np.zeros(comp_b.case_ids.size, dtype=bool)
        keep_b[ib[keep_a[ia]]] = True  # the same cases on the candidate's side
        d = paired_delta(f"completion_rate[{tag}]", comp_a.subset(keep_a),
                          comp_b.subset(keep_b), binary=True, confidence=confidence,
                          seed=seed, interval=interval, limits=RATE_LIMITS)
        if d is not None:
            raw[tag] = d
    q = benjamini_hochberg([d.p_value for d in raw.values()])
    return {
        tag: TagDelta(tag, d, qv, qv <= fdr) for (tag, d), qv in zip(raw.items(), q, strict=True)
    }


def _flips(
    comp_a: CaseValues, comp_b: CaseValues, threshold: float
) -> tuple[tuple[tuple[str, float, float], ...], tuple[tuple[str, float, float], ...]]:
    common, ia, ib = common_cases(comp_a, comp_b)
    pa, pb = comp_a.mean[ia], comp_b.mean[ib]
    ok_a, ok_b = pa >= threshold - 1e-12, pb >= threshold - 1e-12
    regressed = tuple(
        (str(c), float(x), float(y))
        for c, x, y, fa, fb in zip(common, pa, pb, ok_a, ok_b, strict=True) if fa and not fb
    )
    improved = tuple(
        (str(c), float(x), float(y))
        for c, x, y, fa, fb in zip(common, pa, pb, ok_a, ok_b, strict=True) if fb and not fa
    )
    return regressed, improved


def compare_frames(
    baseline_trials: pd.DataFrame,
    baseline_scores: pd.DataFrame,
    candidate_trials: pd.DataFrame,
    candidate_scores: pd.DataFrame,
    **options: Any,
) -> Comparison:
    """Compare two stored single-arm runs (each relabelled as one arm), paired by case.

    A stored baseline can be confounded by model/provider drift; callers should say so.
    Accepts the keyword options of :func:`compare_runs` except the arm names.
    """
    for key in ("baseline_arm", "candidate_arm"):
        if key in options:
            raise InputError(f"compare_frames names the arms itself; drop {key!r}")
    frames_t, frames_s = [], []
    for label, t, s in (
        ("baseline", baseline_trials, baseline_scores),
        ("candidate", candidate_trials, candidate_scores),
    ):
        if "arm" in t.columns and t["arm"].nunique() > 1:
            raise InputError(f"the {label} run holds several arms; compare them with compare_runs")
        frames_t.append(t.assign(arm=label))
        frames_s.append(s.assign(arm=label) if len(s.columns) else s)
    scores = pd.concat([f for f in frames_s if len(f.columns)], ignore_index=True) if any(
        len(f.columns) for f in frames_s) else pd.DataFrame()
    return compare_runs(pd.concat(frames_t, ignore_index=True), scores, **options)
