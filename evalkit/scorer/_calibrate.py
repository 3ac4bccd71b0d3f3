"""Judge calibration against human labels, and the Rogan–Gladen correction.

STATISTICS.md §7: agreement is Cohen's κ and Krippendorff's α (nominal) with seeded
bootstrap intervals, and — for the binary pass/fail reading of the verdicts —
sensitivity q₁ and specificity q₀ with Wilson intervals (κ depends on prevalence, q₀
and q₁ do not). A calibration record is saved per judge spec hash
(``judges/.calibration/<hex>.json``, one entry per judge model) so that scorers and
reports can say when a judge's calibration is weak (κ < 0.6) or missing.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import DatasetError, JudgeError, StatsError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_ROOT = Path("judges") / ".calibration"
WEAK_KAPPA = 0.6


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure with its confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready (NaN → None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in (("estimate", self.estimate), ("ci_low", self.ci_low),
                             ("ci_high", self.ci_high), ("n", self.n))}


def confusion_matrix(human: Sequence[str], judge: Sequence[str],
                     categories: Sequence[str]) -> NDArray[np.int64]:
    """Counts with human verdicts as rows and judge verdicts as columns."""
    import numpy as np

    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    m = np.zeros((k, k), dtype=np.int64)
    for h, j in zip(human, judge, strict=True):
        m[index[h], index[j]] += 1
    return m


def _kappa(tables: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cohen's κ of one (K, K) table or a stack (B, K, K)."""
    import numpy as np

    n = tables.sum(axis=(-2, -1))
    po = np.trace(tables, axis1=-2, axis2=-1) / n
    pe = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pe < 1.0, (po - pe) / (1.0 - pe), np.nan)


def _alpha(tables: NDArray[np.float64]) -> NDArray[np.float64]:
    """Krippendorff's α (nominal, two coders, no missing values) from confusion tables."""
    import numpy as np

    coincidence = tables + np.swapaxes(tables, -1, -2)
    total = coincidence.sum(axis=(-2, -1))
    marg = coincidence.sum(axis=-1)
    disagree = total - np.trace(coincidence, axis1=-2, axis2=-1)
    expected = total * total - (marg * marg).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1.0 - (total - 1.0) * disagree / expected, np.nan)


def cohens_kappa(table: NDArray[Any]) -> float:
    """Cohen's κ from a square confusion table; NaN when chance agreement is 1."""
    import numpy as np

    return float(_kappa(np.asarray(table, dtype=float)))


def krippendorff_alpha_nominal(table: NDArray[Any]) -> float:
    """Krippendorff's α (nominal) for two raters from their confusion table."""
    import numpy as np

    return float(_alpha(np.asarray(table, dtype=float)))


def bootstrap_tables(table: NDArray[Any], *, n_boot: int, seed: int) -> NDArray[np.float64]:
    """Resample rated units with replacement: ``n_boot`` confusion tables (seeded)."""
    import numpy as np

    table = np.asarray(table, dtype=np.int64)
    k = table.shape[0]
    codes = np.repeat(np.arange(k * k), table.ravel())
    n = codes.size
    rng = np.random.default_rng(seed)
    draws = codes[rng.integers(0, n, size=(n_boot, n))]
    flat = draws + (np.arange(n_boot) * k * k)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_boot * k * k)
    return counts.reshape(n_boot, k, k).astype(float)


def _percentile_ci(values: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _wilson(successes: int, n: int, confidence: float) -> Estimate:
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    from evalkit.stats import wilson_interval

    iv = wilson_interval(int(successes), n, confidence)
    return Estimate(successes / n, iv.low, iv.high, n)


def agreement_stats(human: Sequence[str], judge: Sequence[str], *, categories: Sequence[str],
                    positive: Sequence[str], confidence: float = 0.95, n_boot: int = 2000,
                    seed: int = 0) -> dict[str, Any]:
    """κ, α, q₁, q₀, accuracy (each with an interval) and the confusion matrices.

    Args:
        human: the human verdict of each rated item.
        judge: the judge's verdict of the same items.
        categories: every verdict, in display order.
        positive: the verdicts that count as pass (for q₁ / q₀).
        confidence: interval level.
        n_boot: bootstrap resamples for κ and α (percentile intervals, seeded).
        seed: bootstrap seed.
    """
    import numpy as np

    if len(human) != len(judge) or not human:
        raise StatsError("calibration needs one judge verdict per human label (and at least one)")
    table = confusion_matrix(human, judge, categories)
    boots = bootstrap_tables(table, n_boot=n_boot, seed=seed)
    kappa = cohens_kappa(table)
    alpha = krippendorff_alpha_nominal(table)
    n = len(human)
    pos = set(positive)
    tp = sum(1 for h, j in zip(human, judge, strict=True) if h in pos and j in pos)
    fn = sum(1 for h, j in zip(human, judge, strict=True) if h in pos and j not in pos)
    fp = sum(1 for h, j in zip(human, judge, strict=True) if h not in pos and j in pos)
    tn = n - tp - fn - fp
    return {
        "kappa": Estimate(kappa, *_percentile_ci(_kappa(boots), confidence), n),
        "alpha": Estimate(alpha, *_percentile_ci(_alpha(boots), confidence), n),
        "sensitivity": _wilson(tp, tp + fn, confidence),
        "specificity": _wilson(tn, tn + fp, confidence),
        "accuracy": _wilson(int(np.trace(table)), n, confidence),
        "binary_accuracy": _wilson(tp + tn, n, confidence),
        "judge_pass_rate": _wilson(tp + fp, n, confidence),
        "human_pass_rate": _wilson(tp + fn, n, confidence),
        "confusion": {"categories": list(categories), "matrix": table.tolist()},
        "binary_confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
    }


@dataclass(frozen=True, slots=True)
class RoganGladen:
    """A judged rate corrected for judge error (STATISTICS.md §7)."""

    theta: float
    """Corrected rate (θ̂, not clipped)."""
    variance: float
    """Delta-method variance of θ̂."""

    @property
    def se(self) -> float:
        """Standard error."""
        return math.sqrt(self.variance)

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Normal interval ``θ̂ ± z·se``, clipped to [0, 1]."""
        from evalkit.stats._intervals import z_quantile

        z = z_quantile(1.0 - (1.0 - confidence) / 2.0)
        return max(0.0, self.theta - z * self.se), min(1.0, self.theta + z * self.se)


def rogan_gladen(p_hat: float, n: int, q0: float, q1: float, m0: int, m1: int) -> RoganGladen:
    """Correct a judged rate for judge error (Rogan–Gladen).

    θ̂ = (p̂ + q₀ − 1)/(q₀ + q₁ − 1), valid when q₀ + q₁ > 1, with
    Var(θ̂) ≈ [p̂(1−p̂)/n + (1−θ̂)² q₀(1−q₀)/m₀ + θ̂² q₁(1−q₁)/m₁] / (q₀ + q₁ − 1)².

    Args:
        p_hat: the judged pass rate.
        n: items behind ``p_hat``.
        q0: judge specificity (from ``m0`` human negatives).
        q1: judge sensitivity (from ``m1`` human positives).
        m0: calibration items labelled negative.
        m1: calibration items labelled positive.

    Raises:
        StatsError: ``q0 + q1 ≤ 1`` (the judge is no better than chance) or bad counts.

    Example:
        >>> round(rogan_gladen(0.6, 100, 0.9, 0.8, 50, 50).theta, 4)
        0.7143
    """
    youden = q0 + q1 - 1.0
    if not youden > 0.0:
        raise StatsError(f"Rogan–Gladen needs q0 + q1 > 1 (a judge better than chance); "
                         f"got q0={q0:.3f}, q1={q1:.3f}")
    if n <= 0 or m0 <= 0 or m1 <= 0:
        raise StatsError("Rogan–Gladen needs n, m0 and m1 all positive")
    theta = (p_hat + q0 - 1.0) / youden
    var = (p_hat * (1 - p_hat) / n + (1 - theta) ** 2 * q0 * (1 - q0) / m0
           + theta ** 2 * q1 * (1 - q1) / m1) / youden ** 2
    return RoganGladen(theta, var)


def corrected_pass_rate(p_hat: float, n: int, record: dict[str, Any]) -> RoganGladen:
    """Rogan–Gladen with q₀, q₁, m₀, m₁ taken from a calibration record."""
    metrics = record["metrics"]
    spec, sens = metrics["specificity"], metrics["sensitivity"]
    if spec["estimate"] is None or sens["estimate"] is None:
        raise StatsError("the calibration record has no specificity/sensitivity")
    return rogan_gladen(p_hat, n, spec["estimate"], sens["estimate"], spec["n"], sens["n"])


# -- running a calibration -------------------------------------------------------------


async def calibrate(judge: Any, dataset: Any, *, answer: str = "input.answer",
                    label: str = "expected.verdict", concurrency: int = 4, seed: int = 0,
                    n_boot: int = 2000, confidence: float = 0.95, limit: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run *judge* (a :class:`~evalkit.scorer.Judge`) on every labelled case.

    The question and reference come from the judge spec's paths, evaluated against
    each labels case; the answer comes from *answer* and the human verdict from *label*.
    Rows whose judgement fails are counted (``n_errors``) and left out of the figures.

    Raises:
        DatasetError: a case misses a field, or its verdict is not one the judge allows.
    """
    from evalkit.scorer._base import PathNotFound, TrialView
    from evalkit.scorer._text import as_text

    spec = judge.spec
    cases = list(dataset.cases)[:limit]
    prepared = []
    for case in cases:
        view = TrialView(case=case, output=None)
        try:
            human = view.resolve(label)
            item = {"id": case.id, "human": human, "answer": as_text(view.resolve(answer)),
                    "question": as_text(view.resolve(spec.question)) if spec.question else None,
                    "reference": as_text(view.resolve(spec.reference)) if spec.reference else None}
        except PathNotFound as exc:
            raise DatasetError(f"case {case.id!r}: {exc}", path=dataset.path) from None
        if human not in spec.verdicts:
            raise DatasetError(f"case {case.id!r}: verdict {human!r} is not one of the judge's "
                               f"verdicts ({', '.join(spec.verdicts)})", path=dataset.path,
                               field="expected.verdict")
        prepared.append(item)
    gate = asyncio.Semaphore(concurrency)
    done = 0
    start = time.perf_counter()

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        async with gate:
            try:
                j = await judge.judge(answer=item["answer"], question=item["question"],
                                      reference=item["reference"], trial=0, seed=seed)
                row = {"id": item["id"], "human": item["human"], "judge": j.verdict,
                       "score": j.score, "spread": j.spread, "error": None,
                       "reasoning": j.reasoning[:300]}
            except JudgeError as exc:
                row = {"id": item["id"], "human": item["human"], "judge": None,
                       "score": None, "spread": None, "error": str(exc)[:300], "reasoning": ""}
        done += 1
        if progress is not None:
            progress(done, len(prepared))
        return row

    rows = list(await asyncio.gather(*(one(item) for item in prepared)))
    wall = time.perf_counter() - start
    ok = [r for r in rows if r["error"] is None]
    positive = [v for v in spec.verdicts if spec.passes(spec.verdict_score(v))]
    record: dict[str, Any] = {
        "spec_hash": judge.hash, "judge": spec.name, "model": judge.model,
        "params": judge.params(), "threshold": spec.threshold,
        "labels": {"name": dataset.name, "version": dataset.version, "hash": dataset.hash,
                   "n": len(prepared)},
        "n": len(ok), "n_errors": len(rows) - len(ok), "positive": positive,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": confidence},
        "wall_s": round(wall, 3), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    if ok:
        stats = agreement_stats([r["human"] for r in ok], [r["judge"] for r in ok],
                                categories=list(spec.verdicts), positive=positive,
                                confidence=confidence, n_boot=n_boot, seed=seed)
        record["metrics"] = {k: v.to_dict() for k, v in stats.items() if isinstance(v, Estimate)}
        record["confusion"] = stats["confusion"]
        record["binary_confusion"] = stats["binary_confusion"]
    else:
        record["metrics"] = {}
    return record


def _file_for(spec_hash: str, root: Path) -> Path:
    return root / f"{spec_hash.removeprefix('sha256:')}.json"


def save_calibration(record: dict[str, Any], root: str | Path = DEFAULT_ROOT) -> Path:
    """Store *record* under its spec hash (one entry per judge model), atomically."""
    from evalkit.results import atomic_write_text

    path = _file_for(record["spec_hash"], Path(root))
    doc: dict[str, Any] = {"spec_hash": record["spec_hash"], "judge": record["judge"],
                           "by_model": {}}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("by_model"), dict):
                doc["by_model"] = old["by_model"]
        except json.JSONDecodeError:
            pass
    doc["by_model"][record["model"]] = record
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def load_calibration(spec_hash: str, model: str | None = None,
                     root: str | Path | None = None) -> dict[str, Any] | None:
    """The calibration record of a judge spec (for *model*, else the newest), or None."""
    path = _file_for(spec_hash, Path(root) if root is not None else DEFAULT_ROOT)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    by_model = doc.get("by_model") if isinstance(doc, dict) else None
    if not isinstance(by_model, dict) or not by_model:
        return None
    if model is not None:
        found = by_model.get(model)
        return found if isinstance(found, dict) else None
    newest = max(by_model.values(), key=lambda r: str(r.get("created_at", "")))
    return newest if isinstance(newest, dict) else None


def calibration_status(record: dict[str, Any] | None,
                       weak_below: float = WEAK_KAPPA) -> tuple[str, str]:
    """``("missing" | "weak" | "ok", message)`` for a calibration record."""
    if record is None:
        return "missing", "calibration missing (run 'evalkit judge calibrate')"
    kappa = (record.get("metrics") or {}).get("kappa") or {}
    value = kappa.get("estimate")
    if value is None:
        return "weak", "calibration weak (κ undefined)"
    if value < weak_below:
        return "weak", f"calibration weak (κ = {value:.2f} < {weak_below:g})"
    return "ok", f"calibrated (κ = {value:.2f}, n = {record.get('n')})"


def calibration_summary(spec_hash: str, model: str, root: Path | None = None) -> dict[str, Any]:
    """A short summary for a scorer's details: status, message, κ, q₀, q₁."""
    record = load_calibration(spec_hash, model, root)
    status, message = calibration_status(record)
    out: dict[str, Any] = {"status": status, "message": message}
    if record is not None:
        metrics = record.get("metrics") or {}
        for name in ("kappa", "sensitivity", "specificity"):
            if name in metrics:
                out[name] = metrics[name].get("estimate")
        out["n"] = record.get("n")
        # m0 / m1: human negatives / positives behind specificity / sensitivity, which
        # the Rogan–Gladen variance needs.
        out["m0"] = (metrics.get("specificity") or {}).get("n")
        out["m1"] = (metrics.get("sensitivity") or {}).get("n")
        out["labels"] = record.get("labels")
    return out
