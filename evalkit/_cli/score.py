"""``evalkit score``: re-score a stored run without re-running its target.

Reads the ``ok`` trials (outputs, usage, spans) of a run folder, scores them with the
suite's scorers — from ``--suite`` (to iterate on checks and judge prompts) or from the
suite recorded in the manifest — and replaces ``scores.parquet`` atomically. The target
is never called. The cases come from the dataset the run used: a dataset whose content
changed since is refused rather than silently scored against new ground truth.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from evalkit._cli._common import emit_json, format_option, handle_errors


@click.command(name="score")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Score with this suite's scorers (default: the suite in the manifest).")
@click.option("--judge-model", help="Judge model for LLM-judge scorers (overrides the suite).")
@click.option("--cache", "cache_mode", type=click.Choice(["off", "read-write", "read-only"]),
              help="Judge response cache (default: the suite's cache setting).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials scored at once (matters for judge calls).")
@format_option
@handle_errors
def score(run_dir: Path, suite_path: Path | None, judge_model: str | None,
          cache_mode: str | None, concurrency: int, output_format: str) -> None:
    """Re-score the ok trials of RUN_DIR and print per-scorer pass rates."""
    from evalkit.results import SCORE_COLUMNS, open_run, write_manifest, write_scores

    start = time.perf_counter()
    run = open_run(run_dir)
    suite = _load_suite(run.manifest, suite_path, judge_model)
    dataset = _dataset_for(suite, run.manifest, run_dir)
    scorers = _build(suite, cache_mode)
    if not scorers:
        from evalkit.errors import ConfigError

        raise ConfigError("the suite has no scorers", path=suite.path, key="scorers")
    views = _views(run, dataset)
    rows = asyncio.run(_score_all(scorers, views, concurrency))
    previous = _passes(run.scores)
    n = write_scores(run_dir, rows)
    manifest = dict(run.manifest)
    manifest["rescored"] = [*list(manifest.get("rescored") or []), {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "suite_hash": suite.hash, "suite_path": str(suite.path) if suite.path else None,
        "scorers": [s.name for s in scorers], "rows": n,
    }]
    write_manifest(run_dir, manifest)
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    result = _report(run, frame, previous, time.perf_counter() - start)
    if output_format == "json":
        emit_json(result)
    else:
        _echo(result, run_dir)


def _load_suite(manifest: Mapping[str, Any], suite_path: Path | None,
                judge_model: str | None) -> Any:
    from evalkit.errors import RunFolderError
    from evalkit.suite import load_suite, suite_from_dict

    overrides = {"judge_model": judge_model}
    if suite_path is not None:
        return load_suite(suite_path, overrides=overrides)
    raw = manifest.get("suite")
    if not isinstance(raw, dict):
        raise RunFolderError("manifest.json records no suite; pass --suite")
    recorded = manifest.get("suite_path")
    path = Path(recorded) if recorded and Path(recorded).is_file() else None
    return suite_from_dict(raw, path=path, overrides=overrides)


def _dataset_for(suite: Any, manifest: Mapping[str, Any], run_dir: Path) -> Any:
    """The dataset content the run used (by hash), refusing anything else."""
    from evalkit.dataset import resolve_pin
    from evalkit.errors import DatasetError, RunFolderError

    used = manifest.get("dataset") or {}
    name, digest = used.get("name"), used.get("hash")
    if not name or not digest:
        return suite.load_dataset()
    try:
        return resolve_pin(f"{name}@{digest}", suite.datasets_root())
    except DatasetError as exc:
        raise RunFolderError(f"cannot find the dataset content this run used ({name}@"
                             f"{str(digest)[:19]}…): {exc}", path=run_dir) from None


def _build(suite: Any, cache_mode: str | None) -> list[Any]:
    from evalkit.scorer import ScorerEnv, build_scorers

    spec = suite.spec
    mode = cache_mode or spec.cache
    env = ScorerEnv(judge_model=spec.judge_model, model_under_test=spec.model,
                    cache_dir=".evalkit-cache" if mode != "off" else None, cache_mode=mode,
                    extra={"suite_dir": str(suite.path.parent)} if suite.path else {})
    scorers: list[Any] = build_scorers(spec.scorers, env=env,
                                       path=str(suite.path) if suite.path else None)
    return scorers


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _views(run: Any, dataset: Any) -> list[Any]:
    from evalkit.errors import RunFolderError
    from evalkit.results import SPAN_COLUMNS
    from evalkit.scorer import TrialView
    from evalkit.scorer._toolcalls import agent_spans

    trials = run.trials
    ok = trials[trials["status"] == "ok"]
    spans: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    span_keys = [c for c in SPAN_COLUMNS[3:] if c in run.spans.columns]
    for rec in run.spans.to_dict("records"):
        key = (str(rec["arm"]), str(rec["case_id"]), int(rec["trial"]))
        spans.setdefault(key, []).append({k: _clean(rec[k]) for k in span_keys})
    views = []
    usage_keys = ("input_tokens", "output_tokens", "cost_usd", "llm_calls", "tool_calls",
                  "tool_errors")
    for rec in ok.to_dict("records"):
        arm, case_id, trial = str(rec["arm"]), str(rec["case_id"]), int(rec["trial"])
        try:
            case = dataset.case(case_id)
        except KeyError:
            raise RunFolderError(f"case {case_id!r} of the run is not in dataset "
                                 f"{dataset.name}", path=run.path) from None
        raw = rec.get("output")
        output = json.loads(raw) if isinstance(raw, str) else None
        usage = {k: float(rec[k]) for k in usage_keys if k in rec and _clean(rec[k]) is not None}
        views.append(TrialView(
            case=case, output=output, trial=trial, seed=int(rec.get("seed") or 0),
            status="ok", latency_s=float(rec.get("latency_s") or 0.0),
            spans=agent_spans(sorted(spans.get((arm, case_id, trial), []),
                                     key=lambda r: r.get("start_time") or 0.0)),
            usage=usage, arm=arm))
    return views


async def _score_all(scorers: Sequence[Any], views: Sequence[Any],
                     concurrency: int) -> list[tuple[Any, ...]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(view: Any) -> list[tuple[Any, ...]]:
        async with gate:
            out = []
            for scorer in scorers:
                sr = scorer.score_sync(view)
                if sr is None:
                    sr = await scorer.score(view)
                details = json.dumps(sr.details, default=str, ensure_ascii=False) \
                    if sr.details else None
                out.append((view.arm, view.case.id, view.trial, sr.scorer, sr.metric, sr.value,
                            sr.passed, sr.status, sr.reason, sr.weight, sr.completion, details))
            return out

    results = await asyncio.gather(*(one(v) for v in views))
    return [row for rows in results for row in rows]


def _passes(scores: Any) -> dict[tuple[str, str, int, str], bool | None]:
    if scores is None or len(scores) == 0:
        return {}
    return {(str(r["arm"]), str(r["case_id"]), int(r["trial"]), str(r["scorer"])):
            (None if r["passed"] is None or r["status"] != "ok" else bool(r["passed"]))
            for r in scores.to_dict("records")}


def _report(run: Any, frame: Any, previous: Mapping[tuple[str, str, int, str], bool | None],
            elapsed: float) -> dict[str, Any]:
    from evalkit.stats import summarize_run

    seed = int(run.manifest.get("seed", 0))
    metrics: dict[str, Any] = {}
    arms: dict[str, Any] = {}
    for arm in sorted(set(frame["arm"])) or ["main"]:
        summary = summarize_run(run.trials, frame, arm=arm, seed=seed).to_dict()
        arms[arm] = summary
        prefix = "" if len(set(frame["arm"])) <= 1 else f"{arm}:"
        for name, m in summary["metrics"].items():
            if name.startswith(("pass_rate", "completion_rate", "score")):
                metrics[prefix + name] = {k: m.get(k) for k in
                                          ("estimate", "ci_low", "ci_high", "n_cases",
                                           "n_trials")}
    scorers: dict[str, Any] = {}
    for name, group in frame.groupby("scorer", sort=False):
        ok = group[group["status"] == "ok"]
        flips = 0
        for r in group.to_dict("records"):
            before = previous.get((str(r["arm"]), str(r["case_id"]), int(r["trial"]), str(name)))
            now = None if r["status"] != "ok" else bool(r["passed"])
            flips += int(before is not None and now is not None and before != now)
        scorers[str(name)] = {
            "scored": len(ok), "passed": int(ok["passed"].sum()),
            "pass_rate": float(ok["passed"].mean()) if len(ok) else None,
            "scorer_errors": int((group["status"] == "scorer_error").sum()),
            "judge_errors": int((group["status"] == "judge_error").sum()),
            "changed": flips, "previously_scored": bool(previous),
        }
    return {"path": str(run.path), "trials_scored": int(frame[["arm", "case_id", "trial"]]
                                                        .drop_duplicates().shape[0]),
            "elapsed_s": round(elapsed, 3), "metrics": metrics, "scorers": scorers,
            "arms": arms}


def _echo(result: Mapping[str, Any], run_dir: Path) -> None:
    from evalkit._cli._render import echo_table, metric_rows

    click.secho(f"re-scored {result['trials_scored']} ok trials of {run_dir} "
                f"in {result['elapsed_s']:.2f} s (target not re-run)", bold=True)
    rows = []
    for name, s in result["scorers"].items():
        rate = "n/a" if s["pass_rate"] is None else f"{s['pass_rate']:.3f}"
        errors = f"{s['scorer_errors']}/{s['judge_errors']}"
        rows.append((name, f"{s['passed']}/{s['scored']}", rate, errors, str(s["changed"])))
    echo_table(rows, ("scorer", "passed", "pass rate (trials)", "errors scorer/judge",
                      "changed"))
    click.echo("")
    echo_table(metric_rows(result["metrics"]), ("metric", "estimate  [95% CI]", "cases",
                                                 "trials"))
    click.echo("scores.parquet replaced")
