"""Dotted-path lookup, the equals check and the common options (negate, threshold)."""

from __future__ import annotations

import math
from collections import OrderedDict
from types import SimpleNamespace

import pytest

import evalkit.scorer._base as base
from evalkit.errors import ScorerError
from evalkit.scorer import Score, build_scorers
from evalkit.scorer._base import PathNotFound, walk


def test_resolve_follows_dicts_mappings_lists_and_attributes(make_view) -> None:
    output = {"a": {"b": [10, {"c": "x"}]}, "m": OrderedDict(k=1),
              "o": SimpleNamespace(v=2, _hidden=3)}
    view = make_view(output, expected={"answer": "42", "facts": ["f0", "f1"]})
    for _ in range(2):  # the second lookup takes the cached split
        assert view.resolve("output.a.b.1.c") == "x"
        assert view.resolve("output.a.b.-1") == {"c": "x"}
        assert view.resolve("output.m.k") == 1
        assert view.resolve("output.o.v") == 2
        assert view.resolve("expected.facts.0") == "f0"
        assert view.resolve("output") is output
        assert view.resolve("case.id") == "case-1"
        assert view.resolve("trial.index") == 0
    for path, at in (("output.a.z", "z"), ("output.a.b.5", "5"), ("output.o._hidden", "_hidden"),
                     ("output.a.b.c", "c"), ("nowhere.x", "nowhere"), ("output.m.q", "q")):
        with pytest.raises(PathNotFound) as info:
            view.resolve(path)
        assert info.value.at == at and info.value.path == path
    assert walk({"a": [1, 2]}, "a.1", "x.a.1") == 2


def test_path_cache_is_bounded(make_view, monkeypatch) -> None:
    monkeypatch.setattr(base, "_PATHS", {})
    monkeypatch.setattr(base, "_MAX_PATHS", 3)
    view = make_view({str(i): i for i in range(10)})
    assert [view.resolve(f"output.{i}") for i in range(10)] == list(range(10))
    assert len(base._PATHS) == 3


@pytest.mark.parametrize(("options", "actual", "passed"), [
    ({}, " Paris ", True),
    ({"strip": False}, " Paris ", False),
    ({}, "paris", False),
    ({"case_sensitive": False}, "PARIS ", True),
    ({"value": 3}, 3, True),
    ({"value": 3}, "3", False),
])
def test_equals_options(run_scorer, make_view, options, actual, passed) -> None:
    spec = {"type": "equals", "actual": "output.answer", **options}
    if "value" not in options:
        spec["expected"] = "expected.answer"
    row = run_scorer(spec, make_view({"answer": actual}, expected={"answer": "Paris"}))
    assert row.passed is passed and row.value == (1.0 if passed else 0.0)
    assert ("equals" in row.reason) is passed


def test_finish_applies_negate_threshold_and_range(make_view) -> None:
    (plain, negated, strict) = build_scorers([
        {"type": "equals", "value": 1},
        {"type": "equals", "value": 1, "negate": True, "weight": 2, "metric": "m"},
        {"type": "equals", "value": 1, "threshold": 0.5, "completion": False},
    ])
    row = plain.finish(Score(0.75, "r", details={"d": 1}))
    assert (row.value, row.passed, row.reason, row.details) == (0.75, False, "r", {"d": 1})
    assert plain.finish(Score(0.2, "r", passed=True)).passed is True  # the scorer's own pass
    row = negated.finish(Score(0.75, "r", passed=True))
    assert (row.value, row.passed, row.reason, row.weight, row.metric) == (
        0.25, False, "not: r", 2.0, "m")
    row = strict.finish(Score(0.5, "r"))
    assert row.passed is True and row.completion is False and row.status == "ok"
    for bad in (math.nan, 1.5, -0.1):
        with pytest.raises(ScorerError, match="outside"):
            plain.finish(Score(bad, "r"))
    fields = ("scorer", "metric", "value", "passed", "status", "reason", "weight", "completion",
              "details")
    row = plain.finish(Score(1.0, "r"))
    assert tuple(getattr(row, f) for f in fields) == plain._finish_fields(Score(1.0, "r"))
