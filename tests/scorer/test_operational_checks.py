import math

import pytest

from evalkit.errors import ConfigError
from evalkit.scorer import build_scorers

# -- latency, cost, tokens, steps, tool-errors ----------------------------------------


def test_latency(run_scorer, make_view):
    assert run_scorer({"type": "latency", "max": 2}, make_view("x", latency_s=1.5)).passed
    row = run_scorer({"type": "latency", "max": 2}, make_view("x", latency_s=2.25))
    assert not row.passed
    assert row.reason == "latency 2.25 s > 2 s"
    row = run_scorer({"type": "latency", "max": 2}, make_view("x", latency_s=math.nan))
    assert not row.passed
    assert "not recorded" in row.reason


def test_cost_from_usage_and_spans(run_scorer, make_view, llm_span):
    spec = {"type": "cost", "max": 0.01}
    assert run_scorer(spec, make_view("x", usage={"cost_usd": 0.004})).passed
    spans = [llm_span(cost_usd=0.008), llm_span(cost_usd=0.004)]
    row = run_scorer(spec, make_view("x", spans=spans, usage={"cost_usd": 0.0}))
    assert not row.passed
    assert row.details["value"] == pytest.approx(0.012)
    row = run_scorer({**spec, "source": "usage"}, make_view("x", spans=spans,
                                                          usage={"cost_usd": 0.0}))
    assert row.passed
    row = run_scorer(spec, make_view("x"))
    assert not row.passed
    assert row.reason == "usage.cost_usd was not recorded for this trial"


def test_tokens(run_scorer, make_view, llm_span):
    spans = [llm_span(input_tokens=100, output_tokens=20), llm_span(input_tokens=50,
                                                                     output_tokens=30)]
    view = make_view("x", spans=spans)
    assert run_scorer({"type": "tokens", "max": 200}, view).details["value"] == 200
    assert run_scorer({"type": "tokens", "max": 200}, view).passed
    assert not run_scorer({"type": "tokens", "max": 49, "count": "output"}, view).passed
    usage_view = make_view("x", usage={"input_tokens": 10, "output_tokens": 5})
    row = run_scorer({"type": "tokens", "max": 14}, usage_view)
    assert row.reason == "tokens 15 > 14"
    assert "not recorded" in run_scorer({"type": "tokens", "max": 1}, make_view("x")).reason


def test_steps(run_scorer, make_view, llm_span, tool_span):
    spans = [llm_span(), tool_span("search_docs"), llm_span(), tool_span("read_doc")]
    view = make_view("x", spans=spans)
    assert run_scorer({"type": "steps", "max": 4}, view).passed
    row = run_scorer({"type": "steps", "max": 1, "operations": ["execute_tool"]}, view)
    assert row.reason == "steps 2 > 1"
    usage_view = make_view("x", usage={"llm_calls": 3, "tool_calls": 2})
    assert run_scorer({"type": "steps", "max": 5}, usage_view).passed
    row = run_scorer({"type": "steps", "max": 5, "operations": ["invoke_agent"]}, usage_view)
    assert not row.passed
    assert "use source: spans" in row.reason
    with pytest.raises(ConfigError, match=r"scorers\[0\]\.max"):
        build_scorers([{"type": "steps"}])


def test_tool_errors(run_scorer, make_view, tool_span):
    spans = [tool_span("search_docs"),
             tool_span("read_doc", status="ERROR", error_type="TimeoutError"),
             tool_span("read_doc", status="ERROR", error_type="ContractError")]
    view = make_view("x", spans=spans)
    row = run_scorer({"type": "tool-errors"}, view)
    assert not row.passed
    assert row.reason == ("tool errors 2 > 0: read_doc (TimeoutError), "
                          "read_doc (ContractError)")
    assert run_scorer({"type": "tool-errors", "max": 2}, view).passed
    assert run_scorer({"type": "tool-errors", "tools": ["search_docs"]}, view).passed
    assert run_scorer({"type": "tool-errors"}, make_view("x", spans=spans[:1])).passed
    assert run_scorer({"type": "tool-errors"}, make_view("x", usage={"tool_errors": 0})).passed
    assert not run_scorer({"type": "tool-errors"}, make_view("x", usage={"tool_errors": 1})).passed


# -- citations-subset -----------------------------------------------------------------


def test_citations_from_spans(run_scorer, make_view, tool_span):
    spans = [
        tool_span("search_docs", {"query": "with"},
                  result=[{"doc_id": "compound", "score": 3.2}, {"doc_id": "with"}]),
        tool_span("read_doc", {"doc_id": "context-managers"}, result={"text": "..."}),
        tool_span("read_doc", {"doc_id": "failed-doc"}, status="ERROR"),
    ]
    spec = {"type": "citations-subset"}
    ok = make_view({"citations": ["with", "context-managers"]}, spans=spans)
    assert run_scorer(spec, ok).passed
    bad = make_view({"citations": ["with", "failed-doc", "invented"]}, spans=spans)
    row = run_scorer(spec, bad)
    assert row.value == pytest.approx(1 / 3)
    assert row.reason.startswith("2 of 3 cited ids were never retrieved "
                                 "(by read_doc/search_docs calls): 'failed-doc', 'invented'")


def test_citations_forms_and_paths(run_scorer, make_view, tool_span):
    spans = [tool_span("search_docs", {"query": "q"},
                       result='{"hits": [{"doc_id": "a"}, {"doc_id": "b"}, {"doc_id": "tru')]
    # truncated JSON result: ids are still found by pattern
    view = make_view({"citations": [{"doc_id": "a"}, {"doc_id": "b"}]}, spans=spans)
    assert run_scorer({"type": "citations-subset"}, view).passed
    text_view = make_view({"answer": "See [a] and [zz]."}, spans=spans)
    row = run_scorer({"type": "citations-subset", "cited": "output.answer",
                      "pattern": r"\[(\w+)\]"}, text_view)
    assert row.value == 0.5
    assert "'zz'" in row.reason
    view = make_view({"citations": ["x"], "retrieved": [{"id": "x"}]})
    assert run_scorer({"type": "citations-subset", "retrieved": "output.retrieved"}, view).passed


def test_citations_edge_cases(run_scorer, make_view):
    row = run_scorer({"type": "citations-subset"}, make_view({"citations": []}))
    assert not row.passed
    assert row.reason == "output.citations cites nothing"
    row = run_scorer({"type": "citations-subset", "require_citations": False},
                     make_view({"citations": []}))
    assert row.passed
    row = run_scorer({"type": "citations-subset"}, make_view("plain text"))
    assert not row.passed
    assert "output.citations is missing" in row.reason
    row = run_scorer({"type": "citations-subset"}, make_view({"citations": ["ü-doc"]}))
    assert not row.passed
    assert "'ü-doc'" in row.reason
    with pytest.raises(ConfigError, match="invalid pattern"):
        build_scorers([{"type": "citations-subset", "pattern": "(("}])
