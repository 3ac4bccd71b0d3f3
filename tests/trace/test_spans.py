from __future__ import annotations

import json

import pytest

from evalkit.trace import TrialTracer, count_tool_calls


def test_spans_follow_genai_conventions_and_nest() -> None:
    t = TrialTracer(case_id="c1", trial=2, arm="main")
    with t.agent("researcher"):
        with t.tool("search_docs", arguments={"query": "with statement"}) as s:
            s.set_result({"ids": ["with"]})
        with t.llm("smollm2") as s:
            s.record_usage(input_tokens=12, output_tokens=7, cost_usd=0.0)
    rows = t.close()
    by_name = {r["name"]: r for r in rows}
    agent = by_name["invoke_agent researcher"]
    tool = by_name["execute_tool search_docs"]
    llm = by_name["chat smollm2"]
    assert tool["parent_span_id"] == agent["span_id"] == llm["parent_span_id"]
    assert {r["trace_id"] for r in rows} == {t.trace_id}
    assert tool["operation"] == "execute_tool" and tool["tool_name"] == "search_docs"
    assert llm["operation"] == "chat" and llm["model"] == "smollm2"
    assert (llm["input_tokens"], llm["output_tokens"]) == (12, 7)
    attrs = json.loads(tool["attributes"])
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"query": "with statement"}
    assert attrs["evalkit.case_id"] == "c1" and attrs["evalkit.trial"] == 2


def test_exception_marks_span_error_and_propagates() -> None:
    t = TrialTracer()
    with pytest.raises(TimeoutError), t.tool("read_doc"):
        raise TimeoutError("slow")
    with t.tool("read_doc") as s:
        s.set_error("CircuitOpen", "breaker open")
    with t.tool("read_doc") as s:
        s.add_event("retry", attempt=1, delay_s=0.2)
    rows = t.close()
    assert [r["status"] for r in rows] == ["ERROR", "ERROR", "UNSET"]
    assert [r["error_type"] for r in rows] == ["TimeoutError", "CircuitOpen", None]
    assert json.loads(rows[2]["events"])[0]["name"] == "retry"
    assert count_tool_calls(rows) == (3, 2)


def test_trials_do_not_share_spans() -> None:
    a, b = TrialTracer(), TrialTracer()
    with a.tool("x"), b.tool("y"):
        pass
    ra, rb = a.close(), b.close()
    assert [r["tool_name"] for r in ra] == ["x"] and [r["tool_name"] for r in rb] == ["y"]
    assert a.trace_id != b.trace_id
    # after close, spans are no longer routed to the trial
    with a.tool("late"):
        pass
    assert len(ra) == 1


def test_a_tracer_with_no_spans_costs_nothing() -> None:
    t = TrialTracer(case_id="c", trial=0)
    assert t.trace_id is None and t.close() == []
