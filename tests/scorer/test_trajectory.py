import sys
import types

import pytest

from evalkit.errors import ConfigError
from evalkit.scorer import build_scorers
from evalkit.scorer._trajectory import lcs_length, max_matching

S = {"tool": "search_docs"}


def _calls(tool_span, *calls):
    """Span rows from (name, args) pairs, deliberately listed out of start order."""
    rows = [tool_span(name, args, start=float(i)) for i, (name, args) in enumerate(calls)]
    return list(reversed(rows))


@pytest.fixture
def swapped(make_view, tool_span):
    """Expected search, read a, read b; the agent read b before a."""
    spans = _calls(tool_span, ("search_docs", {"query": "with"}), ("read_doc", {"doc_id": "b"}),
                   ("read_doc", {"doc_id": "a"}))
    expected = ["search_docs", {"tool": "read_doc", "args": {"doc_id": "a"}},
                {"tool": "read_doc", "args": {"doc_id": "b"}}]
    return make_view("x", spans=spans, expected={"trajectory": expected})


def test_strict_names_first_mismatch_and_partial_credit(run_scorer, swapped):
    row = run_scorer({"type": "trajectory"}, swapped)
    assert not row.passed
    assert row.value == 0.0
    assert row.reason.startswith(
        'strict: call 2 (read_doc): argument \'doc_id\' is "b", expected "a"')
    assert row.details["lcs"] == 2
    assert row.details["lcs_score"] == pytest.approx(2 / 3)
    assert row.details["name_f1"] == 1.0
    assert row.details["actual"] == ["search_docs", "read_doc", "read_doc"]


@pytest.mark.parametrize(("mode", "passed"), [
    ("strict", False), ("unordered", True), ("subset", True), ("superset", True),
    ("in-order", False),
])
def test_modes_on_reordered_calls(run_scorer, swapped, mode, passed):
    assert run_scorer({"type": "trajectory", "mode": mode}, swapped).passed is passed


@pytest.fixture
def extra_calls(make_view, tool_span):
    """Expected search, read; the agent searched twice and called an extra tool."""
    spans = _calls(tool_span, ("search_docs", {"query": "a"}), ("search_docs", {"query": "b"}),
                   ("read_doc", {"doc_id": "x"}), ("summarize", {}))
    return make_view("x", spans=spans, expected={"trajectory": ["search_docs", "read_doc"]})


@pytest.mark.parametrize(("mode", "passed", "reason"), [
    ("strict", False, "strict: call 2 (read_doc): expected read_doc, got search_docs"),
    ("unordered", False, "unordered: call 2 search_docs"),
    ("subset", False, "subset: call 2 search_docs"),
    ("superset", True, "4 tool calls match the expected trajectory (superset)"),
    ("in-order", True, "4 tool calls match the expected trajectory (in-order)"),
])
def test_modes_with_extra_calls(run_scorer, extra_calls, mode, passed, reason):
    row = run_scorer({"type": "trajectory", "mode": mode}, extra_calls)
    assert row.passed is passed
    assert row.reason.startswith(reason), row.reason
    # LCS of [S, R] and [S, S, R, Z] is 2, over the longer list of 4.
    assert row.details["lcs_score"] == 0.5
    # names: expected {S:1, R:1}, actual {S:2, R:1, Z:1}: tp 2, P 2/4, R 2/2, F1 2/3
    assert row.details["name_precision"] == 0.5
    assert row.details["name_recall"] == 1.0
    assert row.details["name_f1"] == pytest.approx(2 / 3)


def test_subset_reports_unexpected_tool(run_scorer, make_view, tool_span):
    view = make_view("x", spans=_calls(tool_span, ("read_doc", None), ("delete_db", None)),
                     expected={"trajectory": ["search_docs", "read_doc"]})
    row = run_scorer({"type": "trajectory", "mode": "subset"}, view)
    assert row.reason.startswith("subset: call 2 delete_db is not in the expected trajectory")


def test_in_order_reports_missing_call(run_scorer, make_view, tool_span):
    view = make_view("x", spans=_calls(tool_span, ("read_doc", None), ("search_docs", None)),
                     expected={"trajectory": ["search_docs", "read_doc"]})
    row = run_scorer({"type": "trajectory", "mode": "in-order"}, view)
    assert row.reason.startswith("in-order: expected call 2 read_doc not found in order")


# -- argument modes ---------------------------------------------------------------------

EXPECTED_SEARCH = {"tool": "search_docs", "args": {"query": "with statement", "k": 5}}


@pytest.mark.parametrize(("args_mode", "actual_args", "passed", "why"), [
    ("exact", {"query": "with statement", "k": 5}, True, None),
    ("exact", {"query": "with statement", "k": 5.0}, True, None),
    ("exact", {"query": "with statement", "k": 5, "request_id": "r1"}, False,
     "argument 'request_id' is not expected"),
    ("exact", {"query": "with statement"}, False, "argument 'k' is missing"),
    ("exact", {"query": "With statement", "k": 5}, False,
     'argument \'query\' is "With statement", expected "with statement"'),
    ("superset", {"query": "with statement", "k": 5, "request_id": "r1"}, True, None),
    ("superset", {"query": "with statement"}, False, "argument 'k' is missing"),
    ("subset", {"query": "with statement"}, True, None),
    ("subset", {"query": "with statement", "k": 5, "request_id": "r1"}, False,
     "argument 'request_id' is not expected"),
    ("subset", {"query": "other"}, False, "argument 'query' is \"other\""),
    ("ignore", {"anything": True}, True, None),
    ("exact", "not json", False, 'arguments are "not json"'),
])
def test_argument_modes(run_scorer, make_view, tool_span, args_mode, actual_args, passed, why):
    span = tool_span("search_docs", actual_args)
    view = make_view("x", spans=[span], expected={"trajectory": [EXPECTED_SEARCH]})
    row = run_scorer({"type": "trajectory", "args": args_mode}, view)
    assert row.passed is passed, row.reason
    if why:
        assert why in row.reason


def test_nested_arguments_and_globs(run_scorer, make_view, tool_span):
    expected = {"tool": "search_docs",
                "args": {"filter": {"lang": "en", "version": "3.11"}, "query": "q"}}
    actual = {"filter": {"lang": "en", "version": "3.12", "trace_id": "t"}, "query": "q",
              "request_id": "r", "session_id": "s"}
    view = make_view("x", spans=[tool_span("search_docs", actual)],
                     expected={"trajectory": [expected]})
    row = run_scorer({"type": "trajectory", "ignore_keys": ["*_id"]}, view)
    assert "argument 'filter.version' is \"3.12\", expected \"3.11\"" in row.reason
    ok = {**actual, "filter": {"lang": "en", "version": "3.11", "trace_id": "t"}}
    view = make_view("x", spans=[tool_span("search_docs", ok)], expected={"trajectory": [expected]})
    assert run_scorer({"type": "trajectory", "ignore_keys": ["*_id"]}, view).passed
    assert not run_scorer({"type": "trajectory"}, view).passed
    assert run_scorer({"type": "trajectory", "ignore_keys": ["request_id", "session_id",
                                                             "trace_id"]}, view).passed


def lower_query_matches(actual, expected):
    return actual["query"].lower() == expected["query"].lower()


@pytest.fixture
def matcher_module(monkeypatch):
    module = types.ModuleType("trajectory_matchers")
    module.lower_query = lower_query_matches  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trajectory_matchers", module)


def test_per_tool_overrides(run_scorer, make_view, tool_span, matcher_module):
    spans = _calls(tool_span, ("search_docs", {"query": "WITH", "k": 3}),
                   ("read_doc", {"doc_id": "with", "max_chars": 999}))
    expected = [{"tool": "search_docs", "args": {"query": "with", "k": 5}},
                {"tool": "read_doc", "args": {"doc_id": "with", "max_chars": 2000}}]
    view = make_view("x", spans=spans, expected={"trajectory": expected})
    assert not run_scorer({"type": "trajectory"}, view).passed
    row = run_scorer({"type": "trajectory", "overrides": {
        "search_docs": "trajectory_matchers:lower_query", "read_doc": ["doc_id"]}}, view)
    assert row.passed, row.reason
    row = run_scorer({"type": "trajectory", "overrides": {"search_docs": "ignore",
                                                          "read_doc": ["max_chars"]}}, view)
    assert row.reason.startswith("strict: call 2 (read_doc): argument 'max_chars' is 999, "
                                 "expected 2000")
    row = run_scorer({"type": "trajectory", "overrides": {"search_docs": "subset"},
                      "args": "ignore"}, view)
    assert "argument 'query' is \"WITH\"" in row.reason


def test_override_config_errors():
    with pytest.raises(ConfigError, match="override for 'x' must be one of"):
        build_scorers([{"type": "trajectory", "overrides": {"x": "fuzzy"}}])
    with pytest.raises(ConfigError, match="cannot import argument matcher"):
        build_scorers([{"type": "trajectory", "overrides": {"x": "nope_mod_xyz:f"}}])
    with pytest.raises(ConfigError, match=r"scorers\[0\]\.args"):
        build_scorers([{"type": "trajectory", "args": "loose"}])
    with pytest.raises(ConfigError, match="only one of"):
        build_scorers([{"type": "trajectory", "value": [], "expected": "expected.t"}])


# -- sources, literal lists, edge cases -------------------------------------------------


def test_literal_expected_and_output_path(run_scorer, make_view):
    view = make_view({"tool_calls": [{"name": "search_docs", "arguments": '{"query": "x"}'},
                                     {"tool": "read_doc", "args": {"doc_id": "d"}}]})
    spec = {"type": "trajectory", "actual": "output.tool_calls",
            "value": [{"tool": "search_docs", "args": {"query": "x"}}, "read_doc"]}
    assert run_scorer(spec, view).passed
    row = run_scorer({**spec, "actual": "output.calls"}, view)
    assert not row.passed
    assert "output.calls is missing" in row.reason
    row = run_scorer(spec, make_view({"tool_calls": "search_docs"}))
    assert not row.passed
    assert "expected a list of tool calls" in row.reason


def test_no_calls_and_empty_expected(run_scorer, make_view, tool_span):
    view = make_view("x", expected={"trajectory": ["search_docs", "read_doc"]})
    row = run_scorer({"type": "trajectory", "mode": "superset"}, view)
    assert row.reason.startswith("superset: no tool calls recorded (expected 2: search_docs, "
                                 "read_doc)")
    assert row.details["lcs_score"] == 0.0
    assert row.details["name_f1"] == 0.0
    empty = make_view("x", expected={"trajectory": []})
    row = run_scorer({"type": "trajectory"}, empty)
    assert row.passed
    assert row.reason.startswith("no tool calls, as expected")
    assert row.details["lcs_score"] == 1.0
    assert run_scorer({"type": "trajectory", "mode": "subset"}, view).passed
    with_call = make_view("x", spans=[tool_span("search_docs")], expected={"trajectory": []})
    row = run_scorer({"type": "trajectory"}, with_call)
    assert row.reason.startswith("strict: call 1: unexpected search_docs (expected only 0 calls)")


def test_missing_and_malformed_expected(run_scorer, make_view):
    row = run_scorer({"type": "trajectory"}, make_view("x"))
    assert row.status == "ok"
    assert not row.passed
    assert "expected.trajectory is missing" in row.reason
    row = run_scorer({"type": "trajectory"}, make_view("x", expected={"trajectory": [42]}))
    assert row.status == "scorer_error"
    assert "expected.trajectory[0] is 42" in row.reason


def test_errored_calls_can_be_excluded(run_scorer, make_view, tool_span):
    spans = [tool_span("search_docs", start=0.0, status="ERROR"),
             tool_span("search_docs", start=1.0)]
    view = make_view("x", spans=spans, expected={"trajectory": ["search_docs"]})
    assert not run_scorer({"type": "trajectory"}, view).passed
    assert run_scorer({"type": "trajectory", "include_errors": False}, view).passed


def test_score_choice_lcs_and_f1(run_scorer, extra_calls):
    row = run_scorer({"type": "trajectory", "score": "lcs", "threshold": 0.5}, extra_calls)
    assert row.value == 0.5
    assert row.passed
    assert row.details["match"] is False
    row = run_scorer({"type": "trajectory", "score": "f1"}, extra_calls)
    assert row.value == pytest.approx(2 / 3)
    assert not row.passed


def test_unicode_tool_names_and_arguments(run_scorer, make_view, tool_span):
    view = make_view("x", spans=[tool_span("recherche", {"requête": "café"})],
                     expected={"trajectory": [{"tool": "recherche", "args": {"requête": "cafe"}}]})
    row = run_scorer({"type": "trajectory"}, view)
    assert "argument 'requête' is \"café\", expected \"cafe\"" in row.reason


def test_lcs_and_matching_helpers():
    assert lcs_length("ABCBDAB", "BDCABA", lambda a, b: a == b) == 4
    assert lcs_length([], [1], lambda a, b: a == b) == 0
    # greedy would pair 0-0 and leave 1 unmatched; augmenting paths find 0-1, 1-0
    edges = {(0, 0), (0, 1), (1, 0)}
    assert max_matching(2, 2, lambda i, j: (i, j) in edges) == [1, 0]


def test_superset_uses_maximum_matching(run_scorer, make_view, tool_span):
    # expected A (doc a, any other args) and B (doc a, fmt md); actual: one call matches
    # both, the other only A. Greedy order would fail; a maximum matching passes.
    spans = _calls(tool_span, ("read_doc", {"doc_id": "a", "fmt": "md"}),
                   ("read_doc", {"doc_id": "a", "fmt": "txt"}))
    expected = [{"tool": "read_doc", "args": {"doc_id": "a"}},
                {"tool": "read_doc", "args": {"doc_id": "a", "fmt": "md"}}]
    view = make_view("x", spans=spans, expected={"trajectory": expected})
    assert run_scorer({"type": "trajectory", "mode": "superset", "args": "superset"}, view).passed
