"""Metrics over repeated trials: pass@k, pass^k, ratios, quantiles, cluster bootstrap.

STATISTICS.md §3. Every function here is pure numpy and seeded where random.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evalkit.errors import StatsError

__all__ = [
    "RatioEstimate",
    "bootstrap_counts",
    "bootstrap_ratio",
    "cluster_bootstrap_quantiles",
    "cluster_codes",
    "metric_direction",
    "pass_at_k",
    "pass_hat_k",
    "ratio_estimate",
    "resample_counts",
    "weighted_quantiles",
]

Direction = Literal["higher", "lower"]

_LOWER_IS_BETTER_PREFIXES = (
    "tool_error_rate",
    "trials_with_tool_error",
    "latency_",
    "cost_",
)


def metric_direction(name: str) -> Direction:
    """Which way is better for a metric: ``"higher"`` or ``"lower"``.

    Rates, scores, pass@k and pass^k are higher-is-better; tool-error rates, latency and
    cost are lower-is-better.

    Example:
        >>> metric_direction("completion_rate"), metric_direction("latency_p95_s")
        ('higher', 'lower')
    """
    return "lower" if name.startswith(_LOWER_IS_BETTER_PREFIXES) else "higher"


def pass_at_k(n: ArrayLike, c: ArrayLike, k: int) -> NDArray[np.float64]:
    """Unbiased per-case pass@k: the chance that at least one of k trials succeeds.

    ``1 − C(n−c, k)/C(n, k)``, computed as ``1 − Π_{j=n−c+1..n} (1 − k/j)`` for numerical
    stability; 1.0 when ``n − c < k``; NaN when ``n < k`` (not estimable).

    Args:
        n: trials per case.
        c: successes per case.
        k: the k in pass@k (≥ 1).
    """
    n_arr, c_arr = _check_counts(n, c, k)
    # C(n−c, k)/C(n, k) = Π_{j=0..k−1} (n−c−j)/(n−j): k factors per case, vectorised over
    # cases; a zero factor (n − c < k) makes the product 0, so pass@k = 1.
    nf, ff = n_arr.astype(float), (n_arr - c_arr).astype(float)
    prod = np.ones(n_arr.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):
            prod *= np.clip(ff - j, 0.0, None) / (nf - j)
    return np.where(n_arr < k, math.nan, 1.0 - prod)


def pass_hat_k(n: ArrayLike, c: ArrayLike, k: int) -> NDArray[np.float64]:
    """Unbiased per-case pass^k: the chance that all of k trials succeed.

    ``C(c, k)/C(n, k)``; NaN (undefined, never 1.0) when ``n < k``.
    """
    n_arr, c_arr = _check_counts(n, c, k)
    # C(c,k)/C(n,k) = Π_{j=0..k−1} (c−j)/(n−j), stable for large n; vectorised over cases.
    nf, cf = n_arr.astype(float), c_arr.astype(float)
    prod = np.ones(n_arr.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):
            prod *= np.clip(cf - j, 0.0, None) / (nf - j)
    return np.where(n_arr < k, math.nan, prod)


def _check_counts(
    n: ArrayLike, c: ArrayLike, k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if k < 1:
        raise StatsError(f"k must be at least 1, got {k}")
    n_arr = np.atleast_1d(np.asarray(n, dtype=np.int64))
    c_arr = np.atleast_1d(np.asarray(c, dtype=np.int64))
    if n_arr.shape != c_arr.shape:
        raise StatsError("n and c must have the same length")
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise StatsError("successes must lie between 0 and the number of trials")
    return n_arr, c_arr


@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """A ratio ``R̂ = Σ y / Σ x`` over cases with its linearised clustered SE."""

    estimate: float
    se: float
    n_clusters: int
    denominator: float


def cluster_codes(labels: ArrayLike) -> tuple[NDArray[np.intp], int]:
    """Integer codes 0..C−1 for cluster labels (in order of first appearance), and C.

    Hash-based (``pandas.factorize``), not a sort of the label strings: O(n), which at
    100,000 trials is ten times faster than ``np.unique`` on strings. Labels are compared
    as strings, so ``1`` and ``"1"`` are one cluster; an integer array is taken as codes
    (compared as integers).
    """
    import pandas as pd

    arr = np.asarray(labels)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp), 0
    if arr.dtype.kind in "iu":  # integer codes (prepare_arm's): no string conversion
        int_codes, int_uniques = pd.factorize(arr, sort=False)
        return int_codes.astype(np.intp), len(int_uniques)
    arr = np.asarray(labels, dtype=object)
    codes, uniques = pd.factorize(pd.Series(arr, dtype=object).astype(str), sort=False)
    return codes.astype(np.intp), len(uniques)


def ratio_estimate(
    y: ArrayLike, x: ArrayLike, clusters: ArrayLike | None = None
) -> RatioEstimate:
    """Ratio of sums with the linearised (delta-method) clustered variance.

    ``Var(R̂) ≈ Σ_c (y_c − R̂ x_c)² / (C(C−1) x̄²)`` where ``y_c, x_c`` are the cluster
    totals (STATISTICS.md §3, with the case as cluster by default).

    Args:
        y: numerator per case (e.g. tool errors).
        x: denominator per case (e.g. tool calls).
        clusters: a cluster label per case, or None to use the case.

    Raises:
        StatsError: when the denominator sums to zero.
    """
    y_arr = np.asarray(y, dtype=float)
    x_arr = np.asarray(x, dtype=float)
    if clusters is not None:
        codes, n_c = cluster_codes(clusters)
        y_arr = np.bincount(codes, weights=y_arr, minlength=n_c)
        x_arr = np.bincount(codes, weights=x_arr, minlength=n_c)
    total_x = float(x_arr.sum())
    if total_x <= 0.0:
        raise StatsError("a ratio needs a positive denominator (no tool calls were made)")
    r = float(y_arr.sum()) / total_x
    n = x_arr.size
    if n < 2:
        return RatioEstimate(r, math.nan, n, total_x)
    x_bar = total_x / n
    resid = y_arr - r * x_arr
    var = float(np.sum(resid * resid)) / (n * (n - 1) * x_bar * x_bar)
    return RatioEstimate(r, math.sqrt(var), n, total_x)


def resample_counts(
    n_clusters: int, n_resamples: int, rng: np.random.Generator,
    dtype: type[np.floating[Any]] = np.float64,
) -> NDArray[Any]:
    """How often each cluster is drawn in each bootstrap resample: a (B, C) matrix.

    A cluster bootstrap statistic that is a ratio of cluster totals is then
    ``counts @ numerator / counts @ denominator`` — one matrix product for all B.
    """
    if n_clusters < 1:
        raise StatsError("a bootstrap needs at least one cluster")
    # Drawn in blocks of about 4M draws into the preallocated result, so the int64
    # temporaries stay ~100 MB whatever B x C is (10,000 clusters x 2,000 resamples
    # used to need three 160 MB arrays at once).
    counts = np.empty((n_resamples, n_clusters), dtype=dtype)
    rows = max(1, 4_000_000 // n_clusters)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        m = stop - start
        draws = rng.integers(0, n_clusters, size=(m, n_clusters))
        draws += np.arange(m)[:, None] * n_clusters
        block = np.bincount(draws.ravel(), minlength=m * n_clusters)
        counts[start:stop] = block.reshape(m, n_clusters)
    return counts


_COUNTS_CACHE: OrderedDict[tuple[int, int, int], NDArray[np.float32]] = OrderedDict()
_COUNTS_CACHE_SIZE = 2


def bootstrap_counts(n_clusters: int, n_resamples: int, seed: int) -> NDArray[np.float32]:
    """The (B, C) cluster-resample counts of a run's bootstraps, shared by every metric.

    One resample set per (clusters, B, seed) is the ordinary cluster bootstrap: every
    statistic is computed on the same B resamples of the clusters, so metrics stay fixed
    when others are added, and a summary plus a comparison draw the matrix once instead
    of once per metric. float32 holds the small integer counts exactly and halves the
    memory (80 MB at 10,000 clusters x 2,000 resamples); the matrix is read-only.
    """
    key = (int(n_clusters), int(n_resamples), int(seed))
    hit = _COUNTS_CACHE.get(key)
    if hit is not None:
        _COUNTS_CACHE.move_to_end(key)
        return hit
    rng = np.random.default_rng([int(seed), 0x5EED, int(n_clusters)])
    counts = resample_counts(n_clusters, n_resamples, rng, dtype=np.float32)
    counts.setflags(write=False)
    _COUNTS_CACHE[key] = counts
    while len(_COUNTS_CACHE) > _COUNTS_CACHE_SIZE:
        _COUNTS_CACHE.popitem(last=False)
    return counts


_BLAS: Any = None


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """A context in which BLAS runs on one thread.

    Matrix-vector products over the (B, C) resample matrix are memory-bound: OpenBLAS's
    second thread buys nothing and, when the other core is busy (a shared CI runner), it
    waits for it — 0.45 ms became 3-8 ms per product on a loaded 2-core machine. Matrix-
    matrix products keep every thread. Needs ``threadpoolctl``; without it, a no-op.
    """
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except Exception:  # a speed-up only: never fail a summary over it
            _BLAS = False
    if _BLAS is False:
        return contextlib.nullcontext()
    return cast("contextlib.AbstractContextManager[Any]",
                _BLAS.limit(limits=1, user_api="blas"))


def bootstrap_ratio(counts: NDArray[np.float32], numerator: ArrayLike,
                    denominator: ArrayLike) -> NDArray[np.float64]:
    """``counts @ numerator / counts @ denominator`` for per-cluster totals (float32 BLAS)."""
    with one_blas_thread():
        num = counts @ np.asarray(numerator, dtype=np.float32)
        den = counts @ np.asarray(denominator, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num.astype(np.float64) / den.astype(np.float64))


def weighted_quantiles(
    values: ArrayLike, weights: NDArray[np.float64], q: float, *, chunk: int = 256
) -> NDArray[np.float64]:
    """Inverted-CDF quantile of ``values`` under each row of ``weights``.

    Args:
        values: the observations (e.g. trial latencies), length T.
        weights: (B, T) non-negative weights, one row per bootstrap resample.
        q: the quantile in [0, 1].
        chunk: rows processed at once (bounds memory to chunk·T floats).

    Returns:
        B quantiles. With unit weights this equals ``np.quantile(values, q,
        method="inverted_cdf")``.
    """
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    v_sorted = v[order]
    out = np.empty(weights.shape[0])
    for start in range(0, weights.shape[0], chunk):
        w = weights[start : start + chunk][:, order]
        cum = np.cumsum(w, axis=1)
        target = q * cum[:, -1:]
        # First index whose cumulative weight reaches the target (strictly positive mass).
        idx = np.argmax((cum >= target - 1e-12 * cum[:, -1:]) & (w > 0), axis=1)
        out[start : start + chunk] = v_sorted[idx]
    return out


# Above this many values the grid CDF is used: at 10,000 values it is 10x faster than the
# exact weighted quantiles and its percentile-interval ends agree within 0.1 % (tested).
_EXACT_QUANTILE_LIMIT = 2_000


def cluster_bootstrap_quantiles(
    values: ArrayLike,
    codes: NDArray[np.intp],
    counts: NDArray[np.int64] | NDArray[np.float64] | NDArray[np.float32],
    q: float,
    *,
    grid_size: int = 192,
) -> NDArray[np.float64]:
    """Quantile ``q`` of ``values`` under each cluster-bootstrap resample.

    ``counts`` is (B, C): how often each cluster is drawn in each resample; ``codes``
    maps each value to its cluster. Up to 2,000 values this is exact
    (:func:`weighted_quantiles`). Above that, each resample's weighted CDF is evaluated
    on a grid of ``grid_size`` pooled values with one dense product (B, C_in) @ (C_in, G)
    over the clusters with a value inside the grid's span (the others add a constant).
    The grid spans the band where bootstrap quantiles fall: ``q ± 8`` standard errors
    of the pooled CDF at the pooled quantile (its linearised cluster-bootstrap SE), at
    least ±64 values and at most ±0.15. Should any resample reach an edge of the band
    anyway (few, very unequal clusters), the band is widened fourfold and the step
    repeated, up to the whole of the data, so the result is the smallest grid value whose
    resampled CDF reaches ``q``: exact up to the grid's resolution, which at 100,000
    values is a few values per grid step.
    """
    v = np.asarray(values, dtype=float)
    if v.size <= _EXACT_QUANTILE_LIMIT:
        return weighted_quantiles(v, counts[:, codes].astype(float), q)
    n = v.size
    n_clusters = counts.shape[1]
    v_sorted = np.sort(v)
    codes64 = np.asarray(codes, dtype=np.int64)
    totals = np.bincount(codes64, minlength=n_clusters).astype(np.float64)
    x_q = v_sorted[min(n - 1, max(0, math.ceil(q * n) - 1))]
    below = np.bincount(codes64, weights=(v <= x_q).astype(float), minlength=n_clusters)
    resid = below - (below.sum() / n) * totals
    half = min(0.15, max(8.0 * math.sqrt(float(resid @ resid)) / n, 64.0 / n))
    w = np.asarray(counts, dtype=np.float32)
    with one_blas_thread():
        n_b = w @ totals.astype(np.float32)  # (B,)
    while True:
        lo_i = int(max(0, math.floor((q - half) * n)))
        hi_i = int(min(n - 1, math.ceil((q + half) * n)))
        grid = np.unique(v_sorted[np.linspace(lo_i, hi_i, grid_size).astype(np.intp)])
        # Per resample, the CDF at each grid point is the drawn clusters' counts of values
        # <= it. A cluster with no value inside the grid's span contributes a constant
        # (its values <= grid[0]) to every grid point: that part is one matrix-vector
        # product, and only the clusters with a value inside the span (typically a small
        # share) need the (B, C_in) @ (C_in, G) product.
        pos = np.searchsorted(grid, v, side="left")  # first grid point >= value
        base = np.bincount(codes64[pos == 0], minlength=n_clusters).astype(np.float32)
        inside = (pos > 0) & (pos < grid.size)
        active, act_codes = np.unique(codes64[inside], return_inverse=True)
        with one_blas_thread():
            cdf = np.repeat((w @ base)[:, None], grid.size, axis=1)
        if active.size:
            flat = act_codes * grid.size + pos[inside]
            hist = np.bincount(flat, minlength=active.size * grid.size).astype(np.float32)
            cum = np.cumsum(hist.reshape(active.size, grid.size), axis=1)  # (C_in, G)
            cdf += np.ascontiguousarray(w[:, active]) @ cum
        reached = cdf >= (q * n_b)[:, None] - 1e-6
        hit = reached.any(axis=1)
        at_low = bool((reached[:, 0] & (lo_i > 0)).any())
        at_high = bool((~hit).any() and hi_i < n - 1)
        if not (at_low or at_high):
            break
        half *= 4.0  # at most a few rounds: the last band is the whole of the data
    idx = np.where(hit, reached.argmax(axis=1), grid.size - 1)
    return grid[idx].astype(float)
