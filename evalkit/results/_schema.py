"""Column layout of the three run tables (``trials``, ``scores``, ``spans``).

Rows travel as tuples in this column order: through the journal, in memory and
into Parquet. Tuples, not dicts, keep a million-trial run small in memory.
"""

from __future__ import annotations

from typing import Any

TRIAL_COLUMNS: tuple[str, ...] = (
    "arm",
    "case_id",
    "trial",
    "seed",
    "status",
    "cluster",
    "tags",
    "output",
    "error_type",
    "error_message",
    "latency_s",
    "started_at",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "llm_calls",
    "tool_calls",
    "tool_errors",
    "outcome",
    "versions",
)
SCORE_COLUMNS: tuple[str, ...] = (
    "arm",
    "case_id",
    "trial",
    "scorer",
    "metric",
    "value",
    "passed",
    "status",
    "reason",
    "weight",
    "completion",
    "details",
)
SPAN_COLUMNS: tuple[str, ...] = (
    "arm",
    "case_id",
    "trial",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "operation",
    "tool_name",
    "model",
    "start_time",
    "end_time",
    "duration_s",
    "status",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cache_hit",
    "attributes",
    "events",
)
SPAN_ROW_KEYS = SPAN_COLUMNS[3:]

TRIAL_STATUSES = ("ok", "error", "timeout", "infra_error")
SCORE_STATUSES = ("ok", "scorer_error", "judge_error")


def arrow_schemas() -> dict[str, Any]:
    """Pyarrow schemas for the three tables (imported lazily: pyarrow is heavy)."""
    import pyarrow as pa

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    return {
        "trials": pa.schema(
            [
                ("run_id", s),
                ("arm", s),
                ("case_id", s),
                ("trial", i),
                ("seed", i),
                ("status", s),
                ("cluster", s),
                ("tags", pa.list_(s)),
                ("output", s),
                ("error_type", s),
                ("error_message", s),
                ("latency_s", f),
                ("started_at", f),
                ("attempts", i),
                ("input_tokens", i),
                ("output_tokens", i),
                ("cost_usd", f),
                ("llm_calls", i),
                ("tool_calls", i),
                ("tool_errors", i),
                ("outcome", s),
                ("versions", s),
            ]
        ),
        "scores": pa.schema(
            [
                ("run_id", s),
                ("arm", s),
                ("case_id", s),
                ("trial", i),
                ("scorer", s),
                ("metric", s),
                ("value", f),
                ("passed", b),
                ("status", s),
                ("reason", s),
                ("weight", f),
                ("completion", b),
                ("details", s),
            ]
        ),
        "spans": pa.schema(
            [
                ("run_id", s),
                ("arm", s),
                ("case_id", s),
                ("trial", i),
                ("trace_id", s),
                ("span_id", s),
                ("parent_span_id", s),
                ("name", s),
                ("operation", s),
                ("tool_name", s),
                ("model", s),
                ("start_time", f),
                ("end_time", f),
                ("duration_s", f),
                ("status", s),
                ("error_type", s),
                ("input_tokens", i),
                ("output_tokens", i),
                ("cost_usd", f),
                ("cache_hit", b),
                ("attributes", s),
                ("events", s),
            ]
        ),
    }
