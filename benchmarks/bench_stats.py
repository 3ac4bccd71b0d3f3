"""Statistics at scale: summary + paired compare + 2,000-resample cluster bootstraps.

    python benchmarks/bench_stats.py [--cases 10000] [--trials 10] [--cluster-size 5]
                                     [--resamples 2000] [--repeats 5]

Builds synthetic ``trials`` / ``scores`` tables shaped like a stored run (two arms,
baseline and candidate, 10,000 cases x 10 trials each = 200,000 trials), with per-case
heterogeneity: case difficulty on the logit scale ~ N(1, 1.5²) plus a shared effect per
cluster of ``--cluster-size`` cases (default 5, so 2,000 clusters; 1 = no cluster field),
a candidate that is a little worse on average with a case-by-arm interaction, 2 % non-ok
trials, two scorers (a completion check and a judge score with 0.5 % judge errors), four
tags, tool calls / errors, lognormal latencies and costs.

Times (median of ``--repeats``, wall and CPU), with the default 2,000 bootstrap resamples:

- ``summarize_run`` of one arm (what ``evalkit run`` prints): rates with Wilson
  intervals, scores, tool errors, pass@k / pass^k and latency with cluster bootstraps;
- ``compare_runs`` of the two arms (what ``evalkit compare`` / ``gate`` do): both
  summaries again, every paired Δ, paired cluster bootstraps (tool-error rate, pass@k,
  latency quantiles), per-tag Δ, flips;
- ``compare_frames`` of two single-arm runs (``evalkit compare RUN_A RUN_B``);
- the bootstrap share: ``compare_runs`` at 2,000 resamples minus the same call at 2.

Target: summary + compare (bootstraps included) <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_wall_cpu, table

TAGS = (["happy"], ["edge"], ["adversarial"], ["happy", "past-failure"])


def synthetic_run(
    n_cases: int, k: int, cluster_size: int = 5, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A two-arm ``trials`` and ``scores`` table with realistic per-case heterogeneity.

    ``cluster_size`` cases share a cluster; 1 leaves the cluster field empty (every case
    is its own cluster, as with a dataset that declares no cluster field).
    """
    rng = np.random.default_rng(seed)
    case_logit = rng.normal(1.0, 1.5, n_cases)
    cluster = np.arange(n_cases) // cluster_size
    case_logit += rng.normal(0.0, 0.5, cluster.max() + 1)[cluster]
    interaction = rng.normal(0.0, 0.3, n_cases)
    case_latency = rng.lognormal(0.0, 0.5, n_cases)
    case_ids = np.array([f"case-{i:06d}" for i in range(n_cases)], dtype=object)
    clusters = np.array([f"topic-{c:05d}" if cluster_size > 1 else None for c in cluster],
                        dtype=object)
    tags = [TAGS[i % len(TAGS)] for i in range(n_cases)]

    trial_frames, score_frames = [], []
    for arm, shift in (("baseline", 0.0), ("candidate", -0.1)):
        n = n_cases * k
        ci = np.repeat(np.arange(n_cases), k)
        logit = case_logit[ci] + (shift + interaction[ci] if shift else 0.0)
        p = 1.0 / (1.0 + np.exp(-logit))
        u = rng.random(n)
        status = np.where(u < 0.98, "ok", np.where(u < 0.99, "error",
                          np.where(u < 0.995, "timeout", "infra_error"))).astype(object)
        ok = status == "ok"
        tool_calls = rng.poisson(3, n)
        tool_errors = rng.binomial(tool_calls, 0.05)
        in_tok = rng.integers(200, 2000, n)
        out_tok = rng.integers(20, 400, n)
        trial_frames.append(pd.DataFrame({
            "run_id": "synthetic",
            "arm": arm,
            "case_id": case_ids[ci],
            "trial": np.tile(np.arange(k), n_cases),
            "seed": rng.integers(0, 2**62, n),
            "status": status,
            "cluster": clusters[ci],
            "tags": [tags[i] for i in ci],
            "output": None,
            "error_type": np.where(ok, None, "RuntimeError"),
            "error_message": np.where(ok, None, "synthetic failure"),
            "latency_s": case_latency[ci] * rng.lognormal(0.0, 0.3, n),
            "started_at": 1.7e9 + np.arange(n) * 0.01,
            "attempts": 1,
            "input_tokens": in_tok,
            "output_tokens": out_tok,
            "cost_usd": in_tok * 1.5e-7 + out_tok * 6e-7,
            "llm_calls": 2,
            "tool_calls": tool_calls,
            "tool_errors": tool_errors,
            "outcome": None,
            "versions": None,
        }))
        # Scores exist for ok trials only: a completion check and a judge score.
        oi = np.flatnonzero(ok)
        passed = rng.random(oi.size) < p[oi]
        judge = np.clip(np.where(passed, rng.beta(8, 2, oi.size), rng.beta(2, 5, oi.size)), 0, 1)
        judge_error = rng.random(oi.size) < 0.005
        m = oi.size
        base = {"run_id": "synthetic", "arm": arm, "case_id": case_ids[ci[oi]],
                "trial": np.tile(np.arange(k), n_cases)[oi], "details": None, "weight": 1.0}
        score_frames.append(pd.DataFrame({
            **base, "scorer": "answer", "metric": "answer", "value": passed.astype(float),
            "passed": passed, "status": "ok", "reason": None, "completion": True,
        }))
        score_frames.append(pd.DataFrame({
            **base, "scorer": "judge", "metric": "quality",
            "value": np.where(judge_error, np.nan, judge),
            "passed": pd.array(np.where(judge_error, None, judge >= 0.5), dtype="boolean"),
            "status": np.where(judge_error, "judge_error", "ok").astype(object),
            "reason": np.where(judge_error, "unparseable verdict", None),
            "completion": np.zeros(m, dtype=bool),
        }))
    trials = pd.concat(trial_frames, ignore_index=True)
    scores = pd.concat(score_frames, ignore_index=True)
    return trials, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--cluster-size", type=int, default=5,
                        help="cases per cluster (1: no cluster field, a cluster per case)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    import scipy.stats  # noqa: F401 - imported by the stats package on first use

    from evalkit.stats import compare_frames, compare_runs, summarize_run

    import_s = time.perf_counter() - t0
    trials, scores = synthetic_run(args.cases, args.trials, args.cluster_size)
    base_t, base_s = trials[trials.arm == "baseline"], scores[scores.arm == "baseline"]
    cand_t, cand_s = trials[trials.arm == "candidate"], scores[scores.arm == "candidate"]
    b = args.resamples

    parts: list[tuple[str, Any]] = [
        ("summarize_run (1 arm)",
         lambda: summarize_run(base_t, base_s, n_resamples=b)),
        ("compare_runs (2 arms, incl. both summaries)",
         lambda: compare_runs(trials, scores, n_resamples=b)),
        ("compare_frames (2 single-arm runs)",
         lambda: compare_frames(base_t, base_s, cand_t, cand_s, n_resamples=b)),
        ("compare_runs, n_resamples=2 (no bootstrap)",
         lambda: compare_runs(trials, scores, n_resamples=2)),
    ]
    results: dict[str, tuple[float, float]] = {}
    rows = []
    for name, fn in parts:
        out = fn()  # warm-up (first-call imports, caches)
        wall, cpu, runs = median_wall_cpu(fn, args.repeats)
        results[name] = (wall, cpu)
        rows.append((name, f"{wall:.3f}", f"{cpu:.3f}", ", ".join(f"{t:.3f}" for t in runs)))
    check = compare_runs(trials, scores, n_resamples=b)
    s_wall, s_cpu = results[parts[0][0]]
    c_wall, c_cpu = results[parts[1][0]]
    n_wall, n_cpu = results[parts[3][0]]
    rows.append((f"of which {b}-resample cluster bootstraps (compare_runs)",
                 f"{c_wall - n_wall:.3f}", f"{c_cpu - n_cpu:.3f}", "difference of medians"))
    rows.append(("**total: summarize_run + compare_runs**", f"**{s_wall + c_wall:.3f}**",
                 f"**{s_cpu + c_cpu:.3f}**", "target <= 2 s"))
    load1 = os.getloadavg()[0]
    print(table(rows, ("part", "median wall s", "median CPU s", "runs (wall s)")))
    print()
    n_trials = len(trials)
    bootstrapped = [k for k, d in check.deltas.items() if "bootstrap" in d.method]
    print(f"{args.cases:,} cases x {args.trials} trials x 2 arms = {n_trials:,} trials, "
          f"{len(scores):,} score rows, "
          f"{check.baseline.metrics['pass@3'].method.split(', ')[-1].rstrip(')')}; "
          f"{b} resamples; bootstrapped deltas: {', '.join(bootstrapped)}; "
          f"completion Δ = {check.deltas['completion_rate'].estimate:+.4f} "
          f"[{check.deltas['completion_rate'].ci_low:+.4f}, "
          f"{check.deltas['completion_rate'].ci_high:+.4f}]")
    print(f"median of {args.repeats} runs after a warm-up; stats import {import_s:.2f}s "
          f"(not counted); load average {load0:.2f} before, {load1:.2f} after, "
          f"{os.cpu_count()} CPUs; {type(out).__name__} checked")


if __name__ == "__main__":
    main()
