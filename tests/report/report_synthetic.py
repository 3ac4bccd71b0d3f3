"""Synthetic run folders for report tests and ``benchmarks/bench_report.py``.

Writes ``manifest.json`` and the three Parquet tables with the documented columns, plus a
matching ``datasets/<name>/`` folder so the report can show case inputs. Vectorised with
numpy so 10,000 cases x 5 trials x 2 arms take a few seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TAGS = ("happy", "edge", "adversarial", "long-context")
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT_PAYLOAD = "</script><script>window.__xss=2</script>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots go here (git-ignored)."""
WORDS = (
    "the retrieval step returned three passages about asyncio event loops and the writer "
    "summarised them into an answer citing doc ids while the verifier checked each claim "
    "against the sources before approving the final response for the user request"
).split()


@dataclass
class SyntheticSpec:
    """What to generate."""

    n_cases: int = 200
    trials: int = 5
    arms: tuple[str, ...] = ("baseline", "candidate")
    seed: int = 7
    regress_tag: str | None = "long-context"
    """Candidate completion drops on cases carrying this tag."""
    regress_by: float = 0.35
    output_words: tuple[int, int] = (30, 220)
    huge_every: int = 997
    """Every n-th trial gets a 60,000-character output (tests truncation)."""
    error_every: int = 211
    """Every n-th trial ends in ``error`` / ``timeout``."""
    spans_per_trial: int = 3
    latency: bool = True
    """False leaves ``latency_s`` empty, which skips the (slow) latency bootstrap."""
    judge: bool = True
    gate: dict[str, Any] | None = field(default_factory=lambda: {
        "thresholds": {"completion_rate": {"min": 0.5}},
        "regression": {"completion_rate": {"margin": 0.05},
                       "tool_error_rate": {"margin": 0.05, "blocking": False}},
        "per_case": {"min_passes": 3, "of": 5},
    })
    case_input_override: dict[str, Any] = field(default_factory=dict)
    """case id -> input (plant payloads)."""
    output_override: dict[tuple[str, str, int], str] = field(default_factory=dict)
    """(arm, case id, trial) -> output text (plant payloads)."""
    dataset_name: str = "synth"
    suite_name: str = "synth_suite"


def _text(rng: np.random.Generator, n_words: int) -> str:
    idx = rng.integers(0, len(WORDS), n_words)
    return " ".join(WORDS[i] for i in idx)


def write_dataset(root: Path, spec: SyntheticSpec) -> dict[str, Any]:
    """Write datasets/<name>/ and return its identity (hash computed by evalkit)."""
    from evalkit.dataset import load_dataset

    folder = root / "datasets" / spec.dataset_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(
        f"name: {spec.dataset_name}\nversion: 1.2.0\ntags: [{', '.join(TAGS)}]\n")
    with (folder / "cases.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(spec.n_cases):
            cid = case_id(i)
            inp = spec.case_input_override.get(cid, {"q": f"question {i}: how do I cancel a task?"})
            fh.write(json.dumps({
                "id": cid, "input": inp, "expected": {"answer": f"a{i}"},
                "tags": list(case_tags(i)), "cluster": f"topic-{i % 40}",
            }) + "\n")
    return load_dataset(folder).identity()


def case_id(i: int) -> str:
    """Stable id of case i."""
    return f"case-{i:05d}"


def case_tags(i: int) -> tuple[str, ...]:
    """Tags of case i: one or two of TAGS."""
    tags = [TAGS[i % 3]]
    if i % 7 == 0:
        tags.append("long-context")
    return tuple(tags)


def write_run(run_dir: Path, spec: SyntheticSpec, *, root: Path | None = None,
              arms: tuple[str, ...] | None = None, run_id: str | None = None,
              seed_offset: int = 0) -> Path:
    """Write a complete run folder; returns it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from evalkit.results._schema import arrow_schemas

    arms = arms or spec.arms
    root = root or run_dir.parent
    identity = write_dataset(root, spec)
    rng = np.random.default_rng(spec.seed + seed_offset)
    n, k = spec.n_cases, spec.trials
    run_id = run_id or f"20260101T000000-{spec.seed + seed_offset:06x}"
    base_p = rng.beta(8, 1, n)
    cluster = np.array([f"topic-{i % 40}" for i in range(n)], dtype=object)
    ids = np.array([case_id(i) for i in range(n)], dtype=object)
    tags = [list(case_tags(i)) for i in range(n)]
    regress = np.array([spec.regress_tag in t for t in tags]) if spec.regress_tag else \
        np.zeros(n, dtype=bool)

    trial_cols: dict[str, list[Any]] = {c: [] for c in arrow_schemas()["trials"].names}
    score_cols: dict[str, list[Any]] = {c: [] for c in arrow_schemas()["scores"].names}
    span_cols: dict[str, list[Any]] = {c: [] for c in arrow_schemas()["spans"].names}
    t0 = 1_767_225_600.0
    for arm in arms:
        p = base_p.copy()
        if arm == "candidate":
            p = np.where(regress, np.clip(p - spec.regress_by, 0.02, 1), p)
        for t in range(k):
            draws = rng.random(n)
            ok_answer = draws < p
            lengths = rng.integers(spec.output_words[0], spec.output_words[1], n)
            lat = rng.gamma(2.0, 0.6, n)
            tool_err = rng.random(n) < (0.08 if arm == "candidate" else 0.04)
            retry = rng.random(n) < 0.05
            for i in range(n):
                flat = (i * k + t) + (0 if arm == arms[0] else n * k)
                cid = ids[i]
                status = "ok"
                err_t = err_m = None
                if spec.error_every and flat % spec.error_every == spec.error_every - 1:
                    status = "error" if flat % 2 else "timeout"
                    err_t = "ValueError" if status == "error" else "TimeoutError"
                    err_m = (f"target raised in {cid}" if status == "error"
                             else "timed out after 60s")
                answer = f"a{i}" if ok_answer[i] else "wrong"
                body = _text(rng, int(lengths[i]))
                if spec.huge_every and flat % spec.huge_every == 0:
                    body = ("very long output " * 4000)[:60_000]
                output = json.dumps({"answer": answer, "text": body})
                output = spec.output_override.get((arm, cid, t), output)
                out_val = None if status != "ok" else output
                start = t0 + flat * 0.01
                trial_cols["run_id"].append(run_id)
                trial_cols["arm"].append(arm)
                trial_cols["case_id"].append(cid)
                trial_cols["trial"].append(t)
                trial_cols["seed"].append(int(flat * 7919 % 2**31))
                trial_cols["status"].append(status)
                trial_cols["cluster"].append(cluster[i])
                trial_cols["tags"].append(tags[i])
                trial_cols["output"].append(out_val)
                trial_cols["error_type"].append(err_t)
                trial_cols["error_message"].append(err_m)
                trial_cols["latency_s"].append(float(lat[i]) if spec.latency else None)
                trial_cols["started_at"].append(start)
                trial_cols["attempts"].append(2 if retry[i] else 1)
                trial_cols["input_tokens"].append(820)
                trial_cols["output_tokens"].append(int(lengths[i]) * 2)
                trial_cols["cost_usd"].append(0.0004)
                trial_cols["llm_calls"].append(1)
                n_tools = max(0, spec.spans_per_trial - 1)
                trial_cols["tool_calls"].append(n_tools)
                trial_cols["tool_errors"].append(int(tool_err[i]) if n_tools else 0)
                trial_cols["outcome"].append(None)
                trial_cols["versions"].append(json.dumps(
                    {"writer": {"version": "v2" if arm == "candidate" else "v1",
                                "hash": "sha256:ab12" if arm == "candidate" else "sha256:cd34"}}))
                if status == "ok":
                    passed = bool(ok_answer[i])
                    _score(score_cols, run_id, arm, cid, t, "equals", "equals",
                           1.0 if passed else 0.0, passed,
                           f"output.answer equals 'a{i}'" if passed else
                           f"output.answer is 'wrong', expected 'a{i}'", None)
                    if spec.judge:
                        good = passed or rng.random() < 0.2
                        details = {
                            "judge": "helpfulness", "spec_hash": "sha256:judge0123456789",
                            "model": "local", "verdict": "pass" if good else "fail",
                            "score": 1.0 if good else 0.0, "samples": ["pass" if good else "fail"],
                            "reasoning": ("The answer addresses the question and cites sources."
                                          if good else "The answer ignores the cited passage "
                                          "and invents an API that does not exist."),
                        }
                        _score(score_cols, run_id, arm, cid, t, "llm-rubric", "helpfulness",
                               1.0 if good else 0.0, good, f"judge verdict {details['verdict']}",
                               json.dumps(details), completion=False)
                _spans(span_cols, run_id, arm, cid, t, start, float(lat[i]),
                       spec.spans_per_trial, bool(tool_err[i]), bool(retry[i]), flat)
    run_dir.mkdir(parents=True, exist_ok=True)
    schemas = arrow_schemas()
    for name, cols in (("trials", trial_cols), ("scores", score_cols), ("spans", span_cols)):
        pq.write_table(pa.table(cols, schema=schemas[name]), run_dir / f"{name}.parquet")
    manifest = {
        "schema_version": 1, "run_id": run_id, "status": "complete",
        "suite_name": spec.suite_name, "suite_hash": "sha256:5u1te" + "0" * 59,
        "suite": {"name": spec.suite_name, "scorers": [
            {"type": "equals", "actual": "output.answer", "expected": "expected.answer"},
            {"type": "llm-rubric", "judge": "judges/helpfulness.yaml", "completion": False},
        ], "gate": spec.gate, "params": {}},
        "kind": "workflow", "dataset": identity, "target": "synth:agent", "model": "local",
        "judge_model": "local", "params": {},
        "arms": {a: ({"prompt_version": "v2"} if a == "candidate" else
                     {"prompt_version": "v1"} if a == "baseline" else {}) for a in arms},
        "trials": k, "seed": spec.seed, "n_cases": n, "evalkit_version": "0.1.0",
        "git": {"sha": "0123456789abcdef0123456789abcdef01234567", "dirty": True},
        "started_at": "2026-01-01T00:00:00Z", "duration_s": 123.4,
        "counts": {}, "versions": {"writer": {"v1": {"trials": n * k, "hash": "sha256:cd34"}}},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run_dir


def _score(cols: dict[str, list[Any]], run_id: str, arm: str, cid: str, t: int, scorer: str,
           metric: str, value: float, passed: bool, reason: str, details: str | None,
           completion: bool = True) -> None:
    for key, val in (("run_id", run_id), ("arm", arm), ("case_id", cid), ("trial", t),
                     ("scorer", scorer), ("metric", metric), ("value", value),
                     ("passed", passed), ("status", "ok"), ("reason", reason), ("weight", 1.0),
                     ("completion", completion), ("details", details)):
        cols[key].append(val)


def _spans(cols: dict[str, list[Any]], run_id: str, arm: str, cid: str, t: int, start: float,
           latency: float, n_spans: int, tool_err: bool, retry: bool, flat: int) -> None:
    trace = f"{flat:032x}"
    step = latency / max(1, n_spans)
    for j in range(n_spans):
        is_llm = j == n_spans - 1
        s0 = start + j * step
        err = tool_err and j == 0 and not is_llm
        events = None
        if retry and is_llm:
            events = json.dumps([{"name": "retry", "time": s0 + step / 3,
                                  "attributes": {"attempt": 1, "error": "RateLimited"}}])
        row = {
            "run_id": run_id, "arm": arm, "case_id": cid, "trial": t, "trace_id": trace,
            "span_id": f"{flat:012x}{j:04x}", "parent_span_id": None,
            "name": "chat local" if is_llm else f"execute_tool {('search', 'fetch')[j % 2]}",
            "operation": "chat" if is_llm else "execute_tool",
            "tool_name": None if is_llm else ("search", "fetch")[j % 2],
            "model": "local" if is_llm else None, "start_time": s0,
            "end_time": s0 + step * 0.9, "duration_s": step * 0.9,
            "status": "ERROR" if err else "UNSET", "error_type": "Unavailable" if err else None,
            "input_tokens": 820 if is_llm else 0, "output_tokens": 140 if is_llm else 0,
            "cost_usd": 0.0004 if is_llm else 0.0, "cache_hit": False if is_llm else None,
            "attributes": json.dumps({"gen_ai.operation.name": "chat" if is_llm else
                                      "execute_tool"}),
            "events": events,
        }
        for key, val in row.items():
            cols[key].append(val)
