"""Group-sequential monitoring with O'Brien–Fleming-type boundaries (STATISTICS.md §6).

Boundaries come from the Lan–DeMets O'Brien–Fleming spending function
``α(t) = 2 − 2Φ(z_{1−α/2} / √t)`` at information fractions t_1 < … < t_L = 1. Each look's
critical value c_j solves ``P(Z_1 < c_1, …, Z_{j−1} < c_{j−1}, Z_j ≥ c_j) = α(t_j) −
α(t_{j−1})`` under H0, with ``corr(Z_i, Z_j) = √(t_i/t_j)``. The probabilities are
computed by deterministic recursive numerical integration of the score process
(Armitage, McPherson & Rowe 1969), not by simulation and not from a table.

Two one-sided procedures run side by side at each look: a regression test (stop with
FAIL when ``Δ̂/SE ≤ −c_fail``) and a non-inferiority test (stop with PASS when
``(Δ̂ + δ)/SE ≥ c_pass``). "Never re-run until green": the looks are planned up front and
each is recorded.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evalkit.errors import StatsError
from evalkit.stats._intervals import clustered_mean, z_quantile

__all__ = [
    "LookRecord",
    "SequentialPlan",
    "SequentialResult",
    "obrien_fleming_boundaries",
    "obrien_fleming_spending",
    "sequential_decision",
]

Decision = Literal["stop-fail", "stop-pass", "continue", "inconclusive"]

_GRID = 1601


def obrien_fleming_spending(alpha: float, t: float) -> float:
    """Lan–DeMets O'Brien–Fleming alpha spent by information fraction t (one-sided α)."""
    from scipy.special import ndtr

    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return float(2.0 * ndtr(-z_quantile(1.0 - alpha / 2.0) / math.sqrt(t)))


def _simpson_weights(n: int, h: float) -> NDArray[np.float64]:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def _normal_pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi), dtype=np.float64)


def obrien_fleming_boundaries(
    alpha: float, looks: int | Sequence[float] = 2
) -> tuple[float, ...]:
    """Critical z values of a one-sided group-sequential test with OBF-type spending.

    Args:
        alpha: one-sided overall type I error.
        looks: the number of equally spaced looks, or the information fractions
            (increasing, ending at 1).

    Returns:
        One critical value per look: stop at look j when Z_j ≥ c_j.

    Example:
        >>> [round(c, 2) for c in obrien_fleming_boundaries(0.05, 2)]
        [2.54, 1.66]
    """
    if not 0.0 < alpha < 0.5:
        raise StatsError(f"alpha must be in (0, 0.5), got {alpha}")
    return _boundaries(float(alpha), tuple(_fractions(looks)))


@functools.lru_cache(maxsize=64)
def _boundaries(alpha: float, fractions: tuple[float, ...]) -> tuple[float, ...]:
    from scipy.optimize import brentq
    from scipy.special import ndtr, ndtri

    crit: list[float] = []
    # Density of the score S_j = Z_j·√t_j on a grid over the continuation region.
    grid = np.empty(0)
    dens = np.empty(0)
    spent = 0.0
    for j, t in enumerate(fractions):
        target = obrien_fleming_spending(alpha, t) - spent
        spent += target
        if j == 0:
            c = float(-ndtri(target))
            crit.append(c)
            grid = np.linspace(-10.0 * math.sqrt(t), c * math.sqrt(t), _GRID)
            dens = _normal_pdf(grid / math.sqrt(t)) / math.sqrt(t)
            continue
        step = math.sqrt(t - fractions[j - 1])
        weights = _simpson_weights(grid.size, float(grid[1] - grid[0])) * dens
        root_t = math.sqrt(t)

        def excess(c_j: float, w: NDArray[np.float64] = weights, g: NDArray[np.float64] = grid,
                   sd: float = step, rt: float = root_t, tgt: float = target) -> float:
            # P(continued so far, then cross c_j at this look) − the alpha to spend here.
            return float(w @ ndtr((g - c_j * rt) / sd)) - tgt

        c = float(brentq(excess, -5.0, 40.0, xtol=1e-10))
        crit.append(c)
        new_grid = np.linspace(-10.0 * root_t, c * root_t, _GRID)
        dens = _normal_pdf((new_grid[:, None] - grid[None, :]) / step) @ weights / step
        grid = new_grid
    return tuple(crit)


def _fractions(looks: int | Sequence[float]) -> list[float]:
    if isinstance(looks, int):
        if looks < 1:
            raise StatsError(f"a sequential plan needs at least one look, got {looks}")
        return [(j + 1) / looks for j in range(looks)]
    fr = [float(x) for x in looks]
    if not fr or any(b <= a for a, b in itertools.pairwise(fr)) or fr[0] <= 0:
        raise StatsError(f"information fractions must increase from above 0: {fr}")
    if abs(fr[-1] - 1.0) > 1e-9:
        raise StatsError(f"the last information fraction must be 1, got {fr[-1]}")
    return fr


@dataclass(frozen=True, slots=True)
class SequentialPlan:
    """A pre-planned group-sequential gate on one metric.

    Attributes:
        looks: number of planned looks (2–3 is typical).
        max_cases: cases at the final look; look j is planned at ``j/looks`` of them.
        margin: non-inferiority margin δ (≥ 0, on the metric's scale).
        alpha_fail: one-sided α of the regression (FAIL) test.
        alpha_pass: one-sided α of the non-inferiority (PASS) test.
        fail_boundaries: critical z per look for FAIL.
        pass_boundaries: critical z per look for PASS.
    """

    looks: int
    max_cases: int
    margin: float
    alpha_fail: float = 0.01
    alpha_pass: float = 0.05
    fail_boundaries: tuple[float, ...] = field(default=())
    pass_boundaries: tuple[float, ...] = field(default=())

    @classmethod
    def create(
        cls, looks: int, max_cases: int, margin: float, *, alpha_fail: float = 0.01,
        alpha_pass: float = 0.05,
    ) -> SequentialPlan:
        """Plan with boundaries computed for equally spaced looks."""
        if margin < 0:
            raise StatsError(f"the margin must be ≥ 0, got {margin}")
        if max_cases < 2 * looks:
            raise StatsError(f"{max_cases} cases are too few for {looks} looks")
        return cls(
            looks, max_cases, margin, alpha_fail, alpha_pass,
            obrien_fleming_boundaries(alpha_fail, looks),
            obrien_fleming_boundaries(alpha_pass, looks),
        )

    def cases_at(self, look: int) -> int:
        """Cumulative cases planned at look ``look`` (1-based)."""
        return math.ceil(self.max_cases * look / self.looks)


@dataclass(frozen=True, slots=True)
class LookRecord:
    """What one look saw and decided."""

    look: int
    n_cases: int
    estimate: float
    se: float
    z_fail: float
    z_pass: float
    fail_boundary: float
    pass_boundary: float
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """The decision after the looks seen so far, with every look recorded."""

    decision: Decision
    looks: tuple[LookRecord, ...]

    @property
    def n_cases(self) -> int:
        """Cases used up to the deciding (or last) look."""
        return self.looks[-1].n_cases if self.looks else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"decision": self.decision, "looks": [r.to_dict() for r in self.looks]}


def sequential_decision(
    plan: SequentialPlan,
    looks: Sequence[ArrayLike],
    clusters: Sequence[ArrayLike | None] | None = None,
) -> SequentialResult:
    """Apply the plan to the looks taken so far.

    Args:
        plan: the pre-planned boundaries.
        looks: per look, the cumulative per-case differences d_i = p̂_B,i − p̂_A,i
            (each look contains all cases of the previous ones).
        clusters: optional cluster labels per look, aligned with ``looks``.

    Returns:
        ``stop-fail`` / ``stop-pass`` at the first look that crosses a boundary,
        ``continue`` while looks remain, ``inconclusive`` after the last look.
    """
    if len(looks) > plan.looks:
        raise StatsError(f"the plan has {plan.looks} looks; got {len(looks)}")
    records: list[LookRecord] = []
    for j, diffs in enumerate(looks):
        d = np.asarray(diffs, dtype=float)
        cl = clusters[j] if clusters is not None else None
        cm = clustered_mean(d, None if cl is None else np.asarray(cl, dtype=object))
        se = cm.se if math.isfinite(cm.se) and cm.se > 0 else math.nan
        z_fail = cm.mean / se if math.isfinite(se) else math.nan
        z_pass = (cm.mean + plan.margin) / se if math.isfinite(se) else math.nan
        c_fail, c_pass = plan.fail_boundaries[j], plan.pass_boundaries[j]
        decision: Decision
        if math.isfinite(z_fail) and z_fail <= -c_fail:
            decision = "stop-fail"
        elif math.isfinite(z_pass) and z_pass >= c_pass:
            decision = "stop-pass"
        else:
            decision = "continue" if j + 1 < plan.looks else "inconclusive"
        records.append(
            LookRecord(j + 1, int(d.size), cm.mean, cm.se, z_fail, z_pass, c_fail, c_pass,
                       decision)
        )
        if decision in ("stop-fail", "stop-pass"):
            break
    if not records:
        return SequentialResult("continue", ())
    return SequentialResult(records[-1].decision, tuple(records))
