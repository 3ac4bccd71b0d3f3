"""Synthetic run tables and vectorised simulations shared by the stats and gate tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def make_run(
    rates: Sequence[float] | np.ndarray,
    k: int | Sequence[int],
    *,
    rng: np.random.Generator | None = None,
    arm: str = "main",
    run_id: str = "run",
    outcomes: np.ndarray | None = None,
    status: np.ndarray | None = None,
    clusters: Sequence[str | None] | None = None,
    tags: Sequence[Sequence[str]] | None = None,
    scorers: Sequence[tuple[str, str, bool]] = (("exact", "exact", True),),
    tool_calls: int = 4,
    tool_error_p: float = 0.05,
    case_prefix: str = "c",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials and scores tables for one arm.

    Each case i runs k (or k[i]) trials that pass with probability rates[i] (or use the
    given ``outcomes`` matrix / list of arrays). Every scorer reports the same pass/fail.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(rates)
    ks = [k] * n if isinstance(k, int) else list(k)
    t_rows, s_rows = [], []
    for i in range(n):
        cid = f"{case_prefix}{i:04d}"
        for j in range(ks[i]):
            ok = bool(outcomes[i][j]) if outcomes is not None else bool(rng.random() < rates[i])
            st = "ok" if status is None else str(status[i][j])
            calls = tool_calls
            errs = int(rng.binomial(calls, tool_error_p)) if calls else 0
            t_rows.append({
                "run_id": run_id, "arm": arm, "case_id": cid, "trial": j, "seed": 1000 * i + j,
                "status": st, "cluster": None if clusters is None else clusters[i],
                "tags": list(tags[i]) if tags is not None else [],
                "latency_s": float(rng.gamma(2.0, 0.5)), "cost_usd": 0.001 * (1 + i % 3),
                "input_tokens": 100, "output_tokens": 20, "llm_calls": 1, "tool_calls": calls,
                "tool_errors": errs, "output": "{}", "error_type": None,
                "error_message": None, "attempts": 1, "outcome": None,
            })
            if st != "ok":
                continue
            for name, metric, completion in scorers:
                s_rows.append({
                    "run_id": run_id, "arm": arm, "case_id": cid, "trial": j, "scorer": name,
                    "metric": metric, "value": float(ok), "passed": ok, "status": "ok",
                    "reason": "", "weight": 1.0, "completion": completion,
                })
    scores = pd.DataFrame(s_rows, columns=[
        "run_id", "arm", "case_id", "trial", "scorer", "metric", "value", "passed", "status",
        "reason", "weight", "completion"])
    return pd.DataFrame(t_rows), scores


def make_two_arm(
    rates_a: Sequence[float], rates_b: Sequence[float], k: int, *, seed: int = 0, **kw
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials/scores of a two-arm run (arms ``baseline`` and ``candidate``)."""
    rng = np.random.default_rng(seed)
    ta, sa = make_run(rates_a, k, rng=rng, arm="baseline", **kw)
    tb, sb = make_run(rates_b, k, rng=rng, arm="candidate", **kw)
    return pd.concat([ta, tb], ignore_index=True), pd.concat([sa, sb], ignore_index=True)


def beta_rates(rng: np.random.Generator, n: int, mean: float, concentration: float) -> np.ndarray:
    """Heterogeneous per-case rates ~ Beta(mean·c, (1−mean)·c)."""
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=n)


def case_values(outcomes: np.ndarray, clusters: Sequence[str] | None = None):
    """CaseValues from an (n, K) 0/1 matrix without going through run tables (fast)."""
    from evalkit.stats import CaseValues

    n, k = outcomes.shape
    mean = outcomes.mean(axis=1)
    var = outcomes.var(axis=1, ddof=1) if k > 1 else np.full(n, np.nan)
    ids = np.array([f"c{i:04d}" for i in range(n)], dtype=object)
    cl = ids.copy() if clusters is None else np.asarray(clusters, dtype=object)
    return CaseValues(ids, cl, mean, np.full(n, k, dtype=np.int64), outcomes.sum(axis=1),
                      var, 0)


def light_comparison(out_a: np.ndarray, out_b: np.ndarray, *, seed: int = 0):
    """A Comparison carrying only the completion Δ, built straight from outcome matrices.

    Uses the library's own paired test (``paired_delta``) and a real RunSummary shell, so
    ``evaluate_gate`` runs unchanged; only the pandas reduction is skipped.
    """
    from evalkit.stats import Comparison, RunSummary, paired_delta

    cv_a, cv_b = case_values(out_a), case_values(out_b)
    delta = paired_delta("completion_rate", cv_a, cv_b, binary=True, seed=seed)
    n, k = out_b.shape
    shell = RunSummary("candidate", n, n * k, float(k), (k, k), "fail", 0.95, {})
    return Comparison("baseline", "candidate", shell, shell, n, (), (), {"completion_rate": delta},
                      {}, (), (), 0.5, 0.95)


def write_run_folder(path, trials: pd.DataFrame, scores: pd.DataFrame, *,
                     gate: dict | None = None, dataset_hash: str = "sha256:" + "ab" * 32,
                     seed: int = 0):
    """A run folder in the documented layout: manifest.json + trials/scores/spans.parquet."""
    import json
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arms = sorted(trials["arm"].unique())
    manifest = {
        "run_id": path.name, "status": "complete", "seed": seed,
        "dataset": {"name": "synthetic", "version": "1.0.0", "hash": dataset_hash},
        "arms": {a: {} for a in arms},
        "suite": {"name": "synthetic", "dataset": "synthetic", "target": "x:y", "trials": 1,
                  "gate": gate or {}},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    trials.drop(columns=["run_id"], errors="ignore").to_parquet(path / "trials.parquet")
    scores.drop(columns=["run_id"], errors="ignore").to_parquet(path / "scores.parquet")
    pd.DataFrame({"arm": pd.Series([], dtype=str), "case_id": pd.Series([], dtype=str)}).to_parquet(
        path / "spans.parquet")
    return path
